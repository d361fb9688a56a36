import type { Command } from 'commander';

/** The gateway's subcommands of `coffre`. */
export function registerGatewayCommands(_program: Command): void {}
