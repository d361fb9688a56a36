import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startPlatform, type RunningPlatform } from '../../src/platform/index.ts';
import { components } from '../../src/platform/components.ts';
import type { Component } from '../../src/platform/context.ts';
import { openStorage, createFaultyDriver, type FaultyDriver, type StorageEngine } from '../../src/storage/index.ts';
import { driver as fsDriver } from '../../src/storage/drivers/fs/index.ts';
import { showLifecycle } from '../../src/logbook/index.ts';
import { testConfig } from '../helpers/db.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleSeda, writePackage } from '../fixtures/packages.ts';
import { waitForOperation, journalTrail } from '../ingest/helpers.ts';
import { createOperation } from '../../src/ingest/workflow/coordinator.ts';

/** The platform with offer-2 behind the fault-injecting driver wrapper (the storage helper's). */
describe('an offer failing during an ingest', () => {
  let platform: RunningPlatform;
  let cleanup: () => Promise<void>;
  const faulty: FaultyDriver = createFaultyDriver(fsDriver);
  const dir = tempDir();
  before(async () => {
    const limits = { maxAttempts: 2, timeout: '5s', checkTimeout: '2s' };
    const t = await testConfig('sqlite', {
      storage: {
        offers: [
          { id: 'offer-1', driver: 'fs', parameters: { path: join(dir.path, 'offer-1') }, limits },
          { id: 'offer-2', driver: 'faulty', parameters: { path: join(dir.path, 'offer-2') }, limits },
        ],
        strategies: [{ id: 'default', offers: [{ id: 'offer-1', rank: 1, referent: true }, { id: 'offer-2', rank: 2 }] }],
        checkCacheTtl: 0,
        retryBaseDelay: 5,
      },
    } as any);
    cleanup = t.cleanup;
    let engine: StorageEngine | undefined;
    const storage: Component = {
      name: 'storage',
      async start(ctx) {
        engine = await openStorage({ config: ctx.config, cdb: ctx.cdb, drivers: [faulty] });
        ctx.services.set('storage', engine);
      },
      async stop() {
        await engine?.close();
      },
    };
    platform = await startPlatform(t.config, { components: [storage, ...components.filter((c) => c.name !== 'storage')] });
  });
  after(async () => {
    await platform?.stop();
    await cleanup?.();
    dir.cleanup();
  });

  const submit = async (name: string) => {
    const pkg = await writePackage(join(dir.path, name), sampleSeda('2.1'));
    const { id } = await createOperation(platform.ctx.cdb.db, { workflowId: 'PROCESS_SIP_UNITARY', space: 'demo', params: { packagePath: pkg, strategy: 'default' } });
    return id;
  };

  test('writes failing on one offer → KO; the copies already written are removed from the other offer and the journals say so', async () => {
    faulty.faults('offer-2').failAfterBytes = 10;
    const id = await submit('a.zip');
    const op = await waitForOperation(platform.ctx.cdb, id);
    faulty.reset();
    assert.equal(op.outcome, 'KO');
    const trail = await journalTrail(platform.ctx.cdb, id);
    assert.ok(trail.includes('STP_STORAGE_AVAILABILITY_CHECK:OK'), 'the offer was available at the check');
    assert.ok(trail.includes('OBJ_STORAGE:KO'));
    assert.ok(trail.includes('STP_OBJ_STORING:KO'));
    assert.ok(!trail.includes('STP_UNIT_METADATA:STARTED'));
    assert.ok(trail.includes('ROLL_BACK:OK'));
    assert.equal(trail.at(-1), 'PROCESS_SIP_UNITARY:KO');
    const storage = platform.ctx.services.get('storage') as StorageEngine;
    const items = await platform.ctx.cdb.db.selectFrom('ingest_item').select(['item_id', 'data']).where('operation_id', '=', id).where('kind', '=', 'objectgroup').execute();
    const binaries = items.flatMap((i) => JSON.parse(i.data).objects.filter((o: any) => o.kind === 'binary').map((o: any) => ({ group: i.item_id, id: o.id })));
    assert.equal(binaries.length, 3);
    let rolledBack = 0;
    for (const b of binaries) {
      const where = await storage.exists('default', 'objects', b.id);
      assert.deepEqual(where, { 'offer-1': false, 'offer-2': false }, `${b.id} is on no offer`);
      const lfc = (await showLifecycle(platform.ctx.cdb, b.group)).flatMap((l) => l.events);
      if (lfc.some((e) => e.evType === 'LFC.ROLL_BACK' && e.obId === b.id && e.outcome === 'OK')) rolledBack++;
      assert.ok(lfc.some((e) => e.evType === 'LFC.OBJ_STORAGE' && e.outcome === 'KO' && e.obId === b.id));
    }
    assert.ok(rolledBack >= 1, 'the lifecycle says which copies were removed');
    const rollback = (await platform.ctx.cdb.db.selectFrom('logbook_op_event').select(['ev_det_data']).where('operation_id', '=', id).where('ev_type', '=', 'ROLL_BACK').where('outcome', '=', 'OK').executeTakeFirstOrThrow());
    assert.ok(JSON.parse(rollback.ev_det_data!).detail.removedCopies >= 1);
    assert.equal((await platform.ctx.cdb.db.selectFrom('archive_object').select('id').where('operation_id', '=', id).execute()).length, 0);
  });

  test('an offer unavailable at the storage check → KO at STP_STORAGE_AVAILABILITY_CHECK, nothing written', async () => {
    faulty.faults('offer-2').unavailable = true;
    const id = await submit('b.zip');
    const op = await waitForOperation(platform.ctx.cdb, id);
    faulty.reset();
    assert.equal(op.outcome, 'KO');
    const trail = await journalTrail(platform.ctx.cdb, id);
    const i = trail.indexOf('STP_STORAGE_AVAILABILITY_CHECK:STARTED');
    assert.deepEqual(trail.slice(i, i + 4), ['STP_STORAGE_AVAILABILITY_CHECK:STARTED', 'STORAGE_AVAILABILITY_CHECK:STARTED', 'STORAGE_AVAILABILITY_CHECK:KO', 'STP_STORAGE_AVAILABILITY_CHECK:KO']);
    assert.ok(!trail.includes('STP_OBJ_STORING:STARTED'));
    const report = JSON.parse(op.report!);
    assert.match(JSON.stringify(report), /offer-2/);
  });
});
