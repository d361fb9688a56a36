import type { CoffreConfig } from '../config/index.ts';
import type { CoffreDb } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { SqlLogbook } from './logbook.ts';

/** The journals over an open database (CLI commands, tests, benchmarks). */
export function openLogbook(
  cdb: CoffreDb,
  config: Pick<CoffreConfig, 'logbook'>,
  options: { storage?: StorageEngine | (() => StorageEngine | undefined); log?: Logger; agentId?: string } = {},
): SqlLogbook {
  const s = options.storage;
  return new SqlLogbook(cdb, {
    config: config.logbook,
    storage: typeof s === 'function' ? s : () => s,
    log: options.log,
    agentId: options.agentId,
  });
}
