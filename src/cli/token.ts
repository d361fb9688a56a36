import type { Command } from 'commander';
import { loadOrCreateInstanceKey, signInstanceToken } from '../auth/index.ts';
import { CliError, configFrom, durationSeconds, withConfigOptions } from './common.ts';

export function registerTokenCommand(program: Command): void {
  withConfigOptions(program.command('token'))
    .description('print a JWT signed with the instance key (last line of output)')
    .option('--space <name>', 'the depositor space the token writes into')
    .option('--admin', 'grant admin rights (all uploads, operations, journals)')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 1h, 7d', '1h')
    .action(async (opts) => {
      if (!opts.space && !opts.admin) throw new CliError('give --space NAME, --admin, or both');
      const config = configFrom(opts);
      const key = loadOrCreateInstanceKey(config.dataDir);
      const token = await signInstanceToken(key, config.auth, {
        space: opts.space,
        admin: Boolean(opts.admin),
        ttlSeconds: durationSeconds(opts.ttl, '--ttl'),
      });
      process.stdout.write(token + '\n');
    });
}
