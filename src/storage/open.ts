import type { CoffreConfig } from '../config/index.ts';
import type { CoffreDb } from '../db/index.ts';
import type { Driver } from './contract.ts';
import { resolveReferential } from './config.ts';
import { DriverRegistry } from './registry.ts';
import { Engine, engineSettings } from './engine.ts';

export interface OpenStorageOptions {
  config: CoffreConfig;
  cdb: CoffreDb;
  /** Drivers handed in by code (tests: the fault-injecting wrapper), besides the configured ones. */
  drivers?: Driver[];
  /** Folder relative external driver paths are taken from (default: the working folder). */
  baseDir?: string;
}

/**
 * Builds the storage engine from the configuration: checks the referential, loads every driver
 * its offers need (refusing to start, with the module and the reason, when one cannot be used).
 * Works from a PlatformContext (which has `config` and `cdb`) or from a CLI command.
 */
export async function openStorage(options: OpenStorageOptions): Promise<Engine> {
  const { config, cdb } = options;
  const referential = resolveReferential(config.storage, config.dataDir);
  const registry = new DriverRegistry(config.storage.drivers, options.baseDir, options.drivers ?? []);
  await registry.load([...referential.offers.values()].map((o) => o.driver));
  return new Engine(referential, registry, cdb, engineSettings(config.storage));
}
