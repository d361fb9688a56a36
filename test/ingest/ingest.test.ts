import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleSeda, sampleBag, writePackage } from '../fixtures/packages.ts';
import type { StorageEngine } from '../../src/storage/index.ts';
import { showLifecycle } from '../../src/logbook/index.ts';
import { submit, waitForOperation, journalTrail } from './helpers.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DEFAULT_INGEST_WORKFLOW_FILE } from '../../src/ingest/workflow/definition.ts';

describe('default ingest workflow (real storage, journals, SIP)', () => {
  let platform: TestPlatform;
  const dir = tempDir();
  before(async () => {
    platform = await startTestPlatform('sqlite');
  });
  after(async () => {
    await platform?.close();
    dir.cleanup();
  });

  test('a SEDA 2.1 package is ingested OK: seed 000 journal order, copies on every offer, metadata indexed, ATR kept', async () => {
    const pkg = await writePackage(join(dir.path, 'ok.zip'), sampleSeda('2.1'));
    const id = await submit(platform, pkg);
    const op = await waitForOperation(platform.ctx.cdb, id);
    const trail = await journalTrail(platform.ctx.cdb, id);
    assert.equal(op.outcome, 'OK', `${trail.join('\n')}\n${op.steps}`);
    const i = trail.indexOf('STP_STORAGE_AVAILABILITY_CHECK:STARTED');
    assert.deepEqual(trail.slice(i, i + 4), [
      'STP_STORAGE_AVAILABILITY_CHECK:STARTED', 'STORAGE_AVAILABILITY_CHECK:STARTED', 'STORAGE_AVAILABILITY_CHECK:OK', 'STP_STORAGE_AVAILABILITY_CHECK:OK',
    ]);
    const s = trail.indexOf('STP_OBJ_STORING:STARTED');
    assert.equal(trail[s + 1], 'OBJ_STORAGE:STARTED');
    assert.equal(trail[s + 2], 'OBJ_STORAGE:STARTED', 'seed 000 step 6: the group storing STARTED');
    assert.equal(trail.at(-1), 'PROCESS_SIP_UNITARY:OK');
    const objects = await platform.ctx.cdb.db.selectFrom('archive_object').selectAll().where('operation_id', '=', id).execute();
    const binaries = objects.filter((o) => !o.physical);
    assert.ok(binaries.length >= 1);
    const storage = platform.ctx.services.get('storage') as StorageEngine;
    for (const o of binaries) {
      const where = await storage.exists('default', 'objects', o.id);
      assert.ok(Object.values(where).length >= 2 && Object.values(where).every(Boolean), `${o.id} on every offer: ${JSON.stringify(where)}`);
      const copies = await platform.ctx.cdb.db.selectFrom('object_copy').selectAll().where('object_id', '=', o.id).execute();
      assert.equal(copies.length, Object.keys(where).length);
      // Seed 000 steps 7 and 12 in the group's lifecycle.
      const lfc = (await showLifecycle(platform.ctx.cdb, o.group_id)).flatMap((l) => l.events).filter((e) => e.evType === 'LFC.OBJ_STORAGE' && e.obId === o.id);
      assert.deepEqual(lfc.map((e) => e.outcome), ['STARTED', 'OK']);
    }
    const units = await platform.ctx.cdb.db.selectFrom('archive_unit').selectAll().where('operation_id', '=', id).execute();
    assert.ok(units.length >= 1);
    const report = JSON.parse(op.report!);
    assert.equal(report.status, 'OK');
    assert.match(op.reply_xml!, /<ReplyCode>OK<\/ReplyCode>/);
  });

  test('the workspace is removed once an operation ends (unless ingest.keepWorkspace)', async () => {
    const pkg = await writePackage(join(dir.path, 'ok2.zip'), sampleSeda('2.1'));
    const id = await submit(platform, pkg);
    await waitForOperation(platform.ctx.cdb, id);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(existsSync(join(platform.ctx.config.dataDir, 'workspace', id)), false);
  });
});

describe('BagIt ingest', () => {
  let platform: TestPlatform;
  const dir = tempDir();
  before(async () => {
    platform = await startTestPlatform('sqlite');
  });
  after(async () => {
    await platform?.close();
    dir.cleanup();
  });

  test('a BagIt bag as tar: one unit with bag-info as metadata, one group per payload file, JSON report only', async () => {
    const pkg = await writePackage(join(dir.path, 'bag.tar'), sampleBag(), 'tar');
    const id = await submit(platform, pkg);
    const op = await waitForOperation(platform.ctx.cdb, id);
    assert.ok(['OK', 'WARNING'].includes(op.outcome), op.steps);
    const units = await platform.ctx.cdb.db.selectFrom('archive_unit').selectAll().where('operation_id', '=', id).execute();
    assert.equal(units.length, 1);
    assert.match(units[0].metadata, /Jeanne Martin/);
    const groups = await platform.ctx.cdb.db.selectFrom('object_group').selectAll().where('operation_id', '=', id).execute();
    assert.equal(groups.length, 3);
    assert.equal(op.reply_xml, null);
    assert.equal(JSON.parse(op.report!).package.kind, 'bagit');
  });
});

describe('idempotent batches', () => {
  let platform: TestPlatform;
  const dir = tempDir();
  before(async () => {
    // The default workflow with the storing step run twice: the second run is what a replayed
    // batch meets after a crash (copies in place, its records maybe not).
    const wf = JSON.parse(readFileSync(DEFAULT_INGEST_WORKFLOW_FILE, 'utf8'));
    const i = wf.steps.findIndex((s: any) => s.name === 'STP_OBJ_STORING');
    wf.steps.splice(i + 1, 0, { ...wf.steps[i], name: 'STP_OBJ_STORING_REPLAY' });
    writeFileSync(join(dir.path, 'replay.json'), JSON.stringify(wf));
    platform = await startTestPlatform('sqlite', { ingest: { workflowFile: join(dir.path, 'replay.json') } });
  });
  after(async () => {
    await platform?.close();
    dir.cleanup();
  });

  test('a replayed storing batch finds its objects stored and says ALREADY_EXECUTED; copies are not doubled', async () => {
    const pkg = await writePackage(join(dir.path, 'ok.zip'), sampleSeda('2.1'));
    const id = await submit(platform, pkg);
    const op = await waitForOperation(platform.ctx.cdb, id);
    assert.equal(op.outcome, 'OK', op.steps);
    const replay = JSON.parse(op.steps).find((s: any) => s.name === 'STP_OBJ_STORING_REPLAY');
    // The two groups with binary objects say ALREADY_EXECUTED; the physical-only group has nothing
    // to store (OK), and the aggregate keeps the worst (OK ranks above ALREADY_EXECUTED).
    assert.deepEqual(replay.actions.OBJ_STORAGE.counts, { ALREADY_EXECUTED: 2, OK: 1 });
    assert.equal(replay.actions.OBJ_STORAGE.status, 'OK');
    const trail = await journalTrail(platform.ctx.cdb, id);
    assert.ok(trail.includes('OBJ_STORAGE:ALREADY_EXECUTED'));
    const storage = platform.ctx.services.get('storage') as StorageEngine;
    const objects = await platform.ctx.cdb.db.selectFrom('archive_object').select(['id', 'group_id']).where('operation_id', '=', id).where('physical', '=', 0).execute();
    for (const o of objects) {
      assert.ok(Object.values(await storage.exists('default', 'objects', o.id)).every(Boolean));
      const copies = await platform.ctx.cdb.db.selectFrom('object_copy').select('offer_id').where('object_id', '=', o.id).execute();
      assert.equal(copies.length, 2);
      const lfc = (await showLifecycle(platform.ctx.cdb, o.group_id)).flatMap((l) => l.events).filter((e) => e.obId === o.id && e.evType === 'LFC.OBJ_STORAGE');
      assert.deepEqual(lfc.map((e) => e.outcome), ['STARTED', 'OK', 'STARTED', 'ALREADY_EXECUTED']);
    }
  });

});
