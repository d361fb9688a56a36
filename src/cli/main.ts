import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.ts';
import { AuthError } from '../auth/index.ts';
import { CliError } from './common.ts';
import { registerServeCommand } from './serve.ts';
import { registerTokenCommand } from './token.ts';
import { registerGatewayCommands } from '../gateway/cli.ts';
import { registerStorageCommands } from '../storage/cli.ts';
import { registerLogbookCommands } from '../logbook/cli.ts';
import { registerIngestCommands } from '../ingest/cli.ts';

/** The `coffre` command. Each component registers its own subcommands. */
export function buildProgram(): Command {
  const program = new Command('coffre')
    .description('Coffre: archive ingest and preservation storage')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program);
  registerTokenCommand(program);
  registerGatewayCommands(program);
  registerStorageCommands(program);
  registerLogbookCommands(program);
  registerIngestCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const debug = argv.includes('--debug');
    const known = err instanceof CliError || err instanceof ConfigError || err instanceof AuthError;
    if (debug) console.error(err);
    else process.stderr.write(`coffre: ${known ? (err as Error).message : String((err as Error)?.message ?? err)}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 1);
  }
}
