import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openAndMigrate, type CoffreDb } from '../../src/db/index.ts';
import type { CoffreConfig, CoffreConfigInput } from '../../src/config/index.ts';
import { openStorage } from '../../src/storage/open.ts';
import type { Engine } from '../../src/storage/engine.ts';
import { driver as fsDriver } from '../../src/storage/drivers/fs/index.ts';
import { createFaultyDriver, type FaultyDriver } from '../../src/storage/drivers/faulty/index.ts';
import type { ObjectSource } from '../../src/storage/engine-api.ts';
import { testConfig, type TestDatabase } from '../helpers/db.ts';
import { tempDir } from '../helpers/tmp.ts';

export interface TestStorage {
  engine: Engine;
  config: CoffreConfig;
  cdb: CoffreDb;
  faulty: FaultyDriver;
  offerPath(id: string): string;
  close(): Promise<void>;
}

/**
 * A storage engine over a fresh data folder and database: strategy `default` over `offer-1`
 * (fs) and `offer-2` (the fault wrapper over fs), plus `single` over offer-1 alone.
 */
export async function openTestStorage(db: TestDatabase['name'], overrides: Partial<CoffreConfigInput> = {}): Promise<TestStorage> {
  const limits = { maxAttempts: 3, timeout: '5s', checkTimeout: '2s' };
  const { storage: _storage, ...rest } = overrides; // storage overrides are merged below, not replaced
  const dir = tempDir('coffre-offers-');
  const { config, cleanup } = await testConfig(db, {
    storage: {
      offers: [
        { id: 'offer-1', driver: 'fs', parameters: { path: join(dir.path, 'offer-1') }, limits },
        { id: 'offer-2', driver: 'faulty', parameters: { path: join(dir.path, 'offer-2') }, limits },
      ],
      strategies: [
        { id: 'default', offers: [{ id: 'offer-1', rank: 1, referent: true }, { id: 'offer-2', rank: 2 }] },
        { id: 'single', offers: [{ id: 'offer-1', rank: 1 }] },
      ],
      checkCacheTtl: 0,
      retryBaseDelay: 5,
      ...(overrides.storage ?? {}),
    },
    ...rest,
  } as Partial<CoffreConfigInput>);
  const cdb = await openAndMigrate(config);
  const faulty = createFaultyDriver(fsDriver);
  const engine = await openStorage({ config, cdb, drivers: [faulty] });
  return {
    engine,
    config,
    cdb,
    faulty,
    offerPath: (id) => join(dir.path, id),
    close: async () => {
      await engine.close();
      await cdb.close();
      await cleanup();
      dir.cleanup();
    },
  };
}

export const bufferSource = (data: Buffer, chunk = 64 * 1024): ObjectSource => ({
  size: data.length,
  open: () =>
    Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
      })(),
    ),
});

export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
