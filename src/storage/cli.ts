import type { Command } from 'commander';

/** The storage's subcommands of `coffre`. */
export function registerStorageCommands(_program: Command): void {}
