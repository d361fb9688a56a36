import type { Command } from 'commander';
import { loadConfig, type CoffreConfig } from '../config/index.ts';
import { parseDuration } from '../config/index.ts';

/** A failure to report as one line on stderr (exit code `exitCode`), never a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, public readonly exitCode = 1) {
    super(message);
  }
}

/** Adds the options every command that reads the configuration shares. */
export function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'configuration file (YAML or JSON)')
    .option('--data-dir <dir>', 'data folder of the embedded default (default ./data)');
}

/** Loads the configuration with the command's flags on top of file and environment. */
export function configFrom(opts: { config?: string; dataDir?: string; host?: string; port?: string | number }, extra: Record<string, unknown> = {}): CoffreConfig {
  const server: Record<string, unknown> = {};
  if (opts.host) server.host = opts.host;
  if (opts.port !== undefined) {
    const port = Number(opts.port);
    if (!Number.isInteger(port)) throw new CliError(`--port must be a number, got ${opts.port}`);
    server.port = port;
  }
  return loadConfig({
    file: opts.config,
    overrides: { ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), ...(Object.keys(server).length ? { server } : {}), ...extra },
  });
}

export function durationSeconds(text: string, flag: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new CliError(`${flag} must be a duration like 30m, 1h or 7d (got ${text})`);
  return Math.floor(ms / 1000);
}
