import type { Command } from 'commander';

/** The logbook's subcommands of `coffre`. */
export function registerLogbookCommands(_program: Command): void {}
