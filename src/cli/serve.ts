import type { Command } from 'commander';
import { startPlatform } from '../platform/index.ts';
import { signInstanceToken } from '../auth/index.ts';
import { configFrom, withConfigOptions } from './common.ts';

export function registerServeCommand(program: Command): void {
  withConfigOptions(program.command('serve'))
    .description('run the whole platform on one port: tus gateway, workers, access API')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default 8700)')
    .action(async (opts) => {
      const config = configFrom(opts);
      const platform = await startPlatform(config);
      const { ctx, url } = platform;
      const token = await signInstanceToken(ctx.instanceKey, config.auth, { space: 'demo', ttlSeconds: 24 * 3600 });
      const lines = [
        `Coffre is running at ${url}`,
        `  tus uploads   ${url}/files/`,
        `  health        ${url}/health`,
        `  metrics       ${url}/metrics`,
        `  data folder   ${config.dataDir}${ctx.instanceKey.created ? ' (new instance key created)' : ''}`,
        `  database      ${ctx.cdb.dialect === 'sqlite' ? ctx.cdb.sqlitePath : 'PostgreSQL'}`,
        ``,
        `Try a deposit (token for space "demo", valid 24h):`,
        `  npx coffre upload README.md --url ${url}/files/ --token ${token}`,
      ];
      process.stderr.write(lines.join('\n') + '\n');
      const shutdown = async (signal: string) => {
        ctx.log.info({ signal }, 'shutting down');
        await platform.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
    });
}
