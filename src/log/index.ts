import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout (or stderr for CLI commands whose stdout is their answer). */
export function createLogger(level: string, options: { name?: string; stderr?: boolean } = {}): Logger {
  return pino({ level, name: options.name ?? 'coffre', base: { pid: process.pid } }, pino.destination(options.stderr ? 2 : 1));
}
