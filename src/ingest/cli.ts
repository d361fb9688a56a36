import type { Command } from 'commander';

/** The ingest's subcommands of `coffre`. */
export function registerIngestCommands(_program: Command): void {}
