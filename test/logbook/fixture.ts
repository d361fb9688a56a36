import { openAndMigrate, type CoffreDb } from '../../src/db/index.ts';
import { openLogbook, type SqlLogbook } from '../../src/logbook/index.ts';
import type { CoffreConfig, CoffreConfigInput } from '../../src/config/index.ts';
import { testConfig, type TestDatabase } from '../helpers/db.ts';
import { openStorage, type Engine } from '../../src/storage/index.ts';
import { loadOrCreateInstanceKey } from '../../src/auth/index.ts';

export interface Fixture {
  config: CoffreConfig;
  cdb: CoffreDb;
  logbook: SqlLogbook;
  storage: Engine;
  keys: { privateKey: import('node:crypto').KeyObject; publicKey: import('node:crypto').KeyObject };
  close(): Promise<void>;
}

export async function fixture(database: TestDatabase['name'], overrides: Partial<CoffreConfigInput> = {}): Promise<Fixture> {
  const { config, cleanup } = await testConfig(database, overrides);
  const cdb = await openAndMigrate(config);
  // The real storage engine on its embedded default: two filesystem offers in the data folder.
  const storage = await openStorage({ config, cdb });
  const logbook = openLogbook(cdb, config, { storage, agentId: 'test-agent' });
  const keys = loadOrCreateInstanceKey(config.dataDir);
  return {
    config,
    cdb,
    logbook,
    storage,
    keys,
    close: async () => {
      await logbook.close();
      await storage.close();
      await cdb.close();
      await cleanup();
    },
  };
}

/** An ingest-like operation: steps, actions, lifecycles, one committed step and one rolled back. */
export async function sampleIngest(logbook: SqlLogbook, opts: { units?: number; outcome?: 'OK' | 'KO' } = {}): Promise<string> {
  const op = await logbook.startOperation({ type: 'INGEST', evType: 'PROCESS_SIP_UNITARY', requestId: 'req-1', application: 'alice' });
  const [step] = await logbook.appendOperation(op, [{ evType: 'STP_INGEST_CONTROL_SIP', outcome: 'STARTED' }]);
  await logbook.appendOperation(op, [
    { evType: 'CHECK_DIGEST', outcome: 'OK', evParentId: step.evId },
    { evType: 'CHECK_DIGEST.CALC_CHECK', outcome: 'OK', evParentId: step.evId, messageParams: { objectId: 'obj-1' } } as any,
    { evType: 'STP_INGEST_CONTROL_SIP', outcome: 'OK' },
  ]);
  for (let u = 0; u < (opts.units ?? 3); u++) {
    await logbook.appendLifecycle('objectgroup', `og-${op}-${u}`, op, 'STP_OG_CHECK_AND_TRANSFORME', [
      { evType: 'LFC.CHECK_DIGEST', outcome: 'OK', outDetail: 'LFC.CHECK_DIGEST..OK' },
      { evType: 'LFC.CHECK_DIGEST.CALC_CHECK', outcome: 'OK', evDetData: { objectId: `obj-${u}` } },
    ]);
  }
  await logbook.commitStep(op, 'STP_OG_CHECK_AND_TRANSFORME');
  await logbook.appendLifecycle('unit', `unit-${op}-0`, op, 'STP_UNIT_METADATA', [{ evType: 'LFC.UNIT_METADATA_INDEXATION', outcome: 'KO' }]);
  await logbook.rollbackStep(op, 'STP_UNIT_METADATA', 'indexing failed');
  await logbook.endOperation(op, opts.outcome ?? 'OK', { evType: 'PROCESS_SIP_UNITARY' });
  return op;
}
