import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import * as tus from 'tus-js-client';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleSeda, writePackage, edit } from '../fixtures/packages.ts';
import type { StorageEngineAdmin } from '../../src/storage/index.ts';
import { showLifecycle, showOperation } from '../../src/logbook/index.ts';
import { publish } from '../../src/bus/index.ts';
import { waitForOperation, journalTrail } from '../ingest/helpers.ts';

function tusUpload(url: string, token: string, file: string, metadata: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(file), {
      endpoint: `${url}/files/`,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: file.split('/').pop()!, private: 'true', ...metadata },
      uploadSize: statSync(file).size,
      chunkSize: 64 * 1024,
      retryDelays: [],
      onError: reject,
      onSuccess: () => resolve(upload.url!),
    });
    upload.start();
  });
}

async function operationOfUpload(p: TestPlatform, uploadUrl: string, token: string): Promise<string> {
  const uploadId = uploadUrl.split('/').pop()!;
  for (let i = 0; i < 400; i++) {
    const res = await fetch(`${p.url}/api/v1/deposits/${uploadId}/operation`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 200) return ((await res.json()) as { operationId: string }).operationId;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no operation for the upload');
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/coffre.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('ingest from a tus upload (real gateway, storage, journals)', () => {
  let platform: TestPlatform;
  const dir = tempDir();
  before(async () => {
    platform = await startTestPlatform('sqlite');
  });
  after(async () => {
    await platform?.close();
    dir.cleanup();
  });

  test('tus-js-client upload with ingest=true → OK, objects on both offers with verified digests, journals complete', async () => {
    const token = await platform.token({ space: 'acme' });
    const pkg = await writePackage(join(dir.path, 'sip.zip'), sampleSeda('2.2'));
    const uploadUrl = await tusUpload(platform.url, token, pkg, { ingest: 'true' });
    const id = await operationOfUpload(platform, uploadUrl, token);
    const op = await waitForOperation(platform.ctx.cdb, id);
    assert.equal(op.outcome, 'OK', op.steps);

    // Both offers hold every binary object, and each copy's bytes hash to the manifest's digest.
    const storage = platform.ctx.services.get('storage') as StorageEngineAdmin;
    const offers = (await storage.offersStatus()).map((o) => o.id);
    assert.ok(offers.length >= 2);
    const objects = await platform.ctx.cdb.db.selectFrom('archive_object').selectAll().where('operation_id', '=', id).where('physical', '=', 0).execute();
    assert.equal(objects.length, 3);
    for (const o of objects) {
      const copies = await platform.ctx.cdb.db.selectFrom('object_copy').selectAll().where('object_id', '=', o.id).execute();
      assert.deepEqual(copies.map((c) => c.offer_id).sort(), [...offers].sort());
      const { body } = await storage.read({ container: 'objects', id: o.id, verifyDigest: true });
      // The algorithm the copy was stored with (the manifest's SHA-512 when declared, else the engine's).
      const h = createHash(o.digest_algorithm ?? 'sha512');
      for await (const c of body) h.update(c as Buffer);
      assert.equal(h.digest('hex'), o.digest);
      assert.ok(copies.every((c) => c.digest === o.digest), 'each offer reported the same digest');
      const diff = await storage.diff(offers[0], offers[1], 'objects');
      assert.deepEqual([diff.onlyInA, diff.onlyInB, diff.different], [[], [], []]);
    }

    // Operation journal: every step STARTED then its status, closed OK; lifecycles committed.
    const detail = await showOperation(platform.ctx.cdb, id);
    assert.equal(detail?.status, 'OK');
    const trail = await journalTrail(platform.ctx.cdb, id);
    for (const step of ['STP_SANITY_CHECK_SIP', 'STP_INGEST_CONTROL_SIP', 'STP_OG_CHECK_AND_TRANSFORME', 'STP_STORAGE_AVAILABILITY_CHECK', 'STP_OBJ_STORING', 'STP_UNIT_METADATA', 'STP_OG_METADATA', 'STP_INGEST_FINALISATION']) {
      const a = trail.indexOf(`${step}:STARTED`);
      const b = trail.indexOf(`${step}:OK`);
      assert.ok(a >= 0 && b > a, `${step} STARTED then OK in ${trail.join(', ')}`);
    }
    const groups = await platform.ctx.cdb.db.selectFrom('object_group').select('id').where('operation_id', '=', id).execute();
    for (const g of groups) {
      const events = (await showLifecycle(platform.ctx.cdb, g.id)).flatMap((l) => l.events);
      const types = events.map((e) => e.outDetail);
      assert.ok(types.includes('LFC.CHECK_DIGEST..OK'), types.join(', '));
      assert.ok(types.includes('LFC.CHECK_DIGEST.CALC_CHECK.OK'));
      assert.ok(events.every((e) => e.state === 'COMMITTED'));
    }
    const units = await platform.ctx.cdb.db.selectFrom('archive_unit').select('id').where('operation_id', '=', id).execute();
    for (const u of units) {
      const events = (await showLifecycle(platform.ctx.cdb, u.id)).flatMap((l) => l.events);
      assert.ok(events.some((e) => e.evType === 'LFC.UNIT_METADATA_INDEXATION' && e.outcome === 'OK'));
    }

    // The operation API: to the submitting space and admins; 404 to others.
    const get = async (t: string) => fetch(`${platform.url}/api/v1/operations/${id}`, { headers: { authorization: `Bearer ${t}` } });
    const mine = await get(token);
    assert.equal(mine.status, 200);
    const view = (await mine.json()) as any;
    assert.equal(view.status, 'OK');
    assert.equal(view.steps.length, 8);
    assert.equal(view.report.status, 'OK');
    assert.match(view.replyXml, /ArchiveTransferReply/);
    assert.equal((await get(await platform.token({ admin: true }))).status, 200);
    const other = await get(await platform.token({ space: 'someone-else' }));
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as any).code, 'OPERATION_NOT_FOUND');
    assert.equal((await fetch(`${platform.url}/api/v1/operations/${id}`)).status, 401);

    // A redelivered deposit.completed does not make a second operation.
    const deposit = await platform.ctx.cdb.db.selectFrom('ingest_operation').select(['deposit_id', 'params']).where('id', '=', id).executeTakeFirstOrThrow();
    await platform.ctx.cdb.db.transaction().execute((trx) => publish(trx, 'deposit.completed', { id: deposit.deposit_id, space: 'acme', private: true, metadata: { ingest: 'true' }, size: 1, digests: {}, paths: { bin: JSON.parse(deposit.params).packagePath } }).then(() => {}));
    platform.ctx.bus.wake();
    await new Promise((r) => setTimeout(r, 300));
    const count = await platform.ctx.cdb.db.selectFrom('ingest_operation').select((eb) => eb.fn.countAll<number>().as('n')).where('deposit_id', '=', deposit.deposit_id).executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 1);
  });

  test('an upload without ingest=true stays a deposit', async () => {
    const token = await platform.token({ space: 'acme' });
    const pkg = await writePackage(join(dir.path, 'plain.zip'), sampleSeda('2.1'));
    const url = await tusUpload(platform.url, token, pkg, {});
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(`${platform.url}/api/v1/deposits/${url.split('/').pop()}/operation`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 404);
  });

  test('coffre ingest --wait --json: exit 0 and the operation summary for a good package, exit 1 for a refused one', async () => {
    const token = await platform.token({ space: 'acme' });
    const good = await writePackage(join(dir.path, 'good.zip'), sampleSeda('2.3'));
    const r = await runCli(['ingest', good, '--url', platform.url, '--token', token, '--wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim());
    assert.equal(out.status, 'OK');
    assert.match(out.operationId, /^op/);
    assert.equal(out.steps.length, 8);
    assert.ok(out.steps.every((s: any) => s.status === 'OK'));

    const bad = await writePackage(join(dir.path, 'bad.zip'), edit.withoutFile(sampleSeda('2.1'), 'Content/rapport.pdf'));
    const k = await runCli(['ingest', bad, '--url', platform.url, '--token', token, '--wait']);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /STP_INGEST_CONTROL_SIP\s+KO/);
    assert.match(k.stdout, / KO\n/);

    // Without --wait: as soon as the operation exists.
    const n = await runCli(['ingest', good, '--url', platform.url, '--token', token, '--json']);
    assert.equal(n.code, 0, n.stderr);
    const quick = JSON.parse(n.stdout.trim());
    assert.ok(quick.operationId && quick.status && Array.isArray(quick.steps));

    const noToken = await runCli(['ingest', good, '--url', platform.url]);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /--token is required/);
  });
});
