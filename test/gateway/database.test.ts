/**
 * The gateway on both databases: deposit.completed in the outbox with the completion, and one
 * lock per upload, also between two gateway nodes sharing a staging area and a database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request, type ClientRequest } from 'node:http';
import { startPlatform, type RunningPlatform } from '../../src/platform/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { signInstanceToken } from '../../src/auth/index.ts';
import { gatewayComponent } from '../../src/gateway/component.ts';
import type { DepositCompleted } from '../../src/gateway/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A PATCH whose body is sent in pieces, under the test's control. */
function openPatch(url: string, headers: Record<string, string>, offset: number, length: number) {
  let req!: ClientRequest;
  const response = new Promise<{ status: number; offset?: string }>((resolve, reject) => {
    req = request(url, {
      method: 'PATCH',
      headers: { ...headers, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), 'Content-Length': String(length) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode!, offset: res.headers['upload-offset'] as string | undefined });
    });
    req.on('error', reject);
  });
  return { req, response };
}

for (const database of TEST_DATABASES) {
  describe(`gateway on ${database.name}`, { skip: database.skip }, () => {
    let a: RunningPlatform;
    let b: RunningPlatform;
    let cleanup: () => Promise<void>;
    let h: Record<string, string>;

    before(async () => {
      const t = await testConfig(database.name, { gateway: { checkpointBytes: 1024, lockWait: 300 } } as any);
      cleanup = t.cleanup;
      // Two gateway nodes over one database and one staging area.
      // Node a writes and hashes on its event loop, node b in its body thread (the default):
      // both must agree on every digest.
      a = await startPlatform(parseConfig({ ...t.config, gateway: { ...t.config.gateway, hashWorker: false } }), { components: [gatewayComponent] });
      b = await startPlatform(parseConfig({ ...t.config, gateway: { ...t.config.gateway, nodeId: 'node-b' } }), { components: [gatewayComponent] });
      h = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${await signInstanceToken(a.ctx.instanceKey, t.config.auth, { space: 'alice', ttlSeconds: 600 })}` };
    });
    after(async () => {
      await b.stop();
      await a.stop();
      await cleanup();
    });

    const create = async (base: string, length: number, extra: Record<string, string> = {}) => {
      const r = await fetch(`${base}/files/`, { method: 'POST', headers: { ...h, 'Upload-Length': String(length), ...extra } });
      assert.equal(r.status, 201);
      return r.headers.get('location')!;
    };

    test('completion writes deposit.completed in the outbox with the row, and subscribers get it', async () => {
      const seen: DepositCompleted[] = [];
      a.ctx.bus.subscribe({ name: 'test-deposits', topics: ['deposit.completed'], handler: async (m) => void seen.push(m.payload as DepositCompleted) });
      const url = await create(a.url, 11, { 'Upload-Metadata': `filename ${b64('hw.txt')},private ${b64('true')}` });
      const id = url.split('/').pop()!;
      const r = await fetch(url, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: 'hello world' });
      assert.equal(r.status, 204);
      const row = await a.ctx.cdb.db.selectFrom('gateway_upload').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'complete');
      const messages = await a.ctx.cdb.db.selectFrom('outbox').selectAll().where('topic', '=', 'deposit.completed').execute();
      const mine = messages.map((m) => JSON.parse(m.payload) as DepositCompleted).filter((m) => m.id === id);
      assert.equal(mine.length, 1);
      const sha = createHash('sha256').update('hello world').digest('hex');
      assert.equal(mine[0].space, 'alice');
      assert.equal(mine[0].private, true);
      assert.equal(mine[0].size, 11);
      assert.deepEqual(mine[0].metadata, { filename: 'hw.txt', private: 'true' });
      assert.deepEqual(mine[0].digests, { sha256: sha });
      assert.match(mine[0].paths.bin, new RegExp(`/staging/alice/${id}\\.bin$`));
      assert.match(mine[0].paths.stagingInfo, new RegExp(`/staging/tusd/${id}\\.info$`));
      for (let i = 0; i < 200 && !seen.some((m) => m.id === id); i++) await new Promise((res) => setTimeout(res, 20));
      assert.ok(seen.some((m) => m.id === id && m.digests.sha256 === sha), 'the subscriber received it');
    });

    test('partial uploads announce nothing; their final upload announces once', async () => {
      const p1 = await create(a.url, 3, { 'Upload-Concat': 'partial' });
      const p2 = await create(b.url, 3, { 'Upload-Concat': 'partial' });
      for (const [u, body] of [[p1, 'abc'], [p2, 'def']]) {
        await fetch(u, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body });
      }
      const r = await fetch(`${a.url}/files/`, { method: 'POST', headers: { ...h, 'Upload-Concat': `final;${p1} ${p2}` } });
      const id = r.headers.get('location')!.split('/').pop()!;
      const payloads = (await a.ctx.cdb.db.selectFrom('outbox').select('payload').where('topic', '=', 'deposit.completed').execute()).map((m) => JSON.parse(m.payload));
      const ids = new Set(payloads.map((m) => m.id));
      assert.ok(!ids.has(p1.split('/').pop()) && !ids.has(p2.split('/').pop()));
      assert.equal(payloads.filter((m) => m.id === id).length, 1);
      assert.equal(payloads.find((m) => m.id === id).digests.sha256, createHash('sha256').update('abcdef').digest('hex'));
    });

    test('one lock per upload across nodes: HEAD answers during a PATCH, a second PATCH waits then gets 423', async () => {
      const url = await create(a.url, 200_000);
      const onB = url.replace(a.url, b.url);
      const first = openPatch(url, h, 0, 200_000);
      first.req.write(Buffer.alloc(100_000, 1));
      // HEAD on the other node answers at once with the last durable offset (checkpoints).
      let offset = 0;
      for (let i = 0; i < 200 && offset === 0; i++) {
        const head = await fetch(onB, { method: 'HEAD', headers: h });
        assert.equal(head.status, 200);
        offset = Number(head.headers.get('upload-offset'));
        if (offset === 0) await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(offset > 0 && offset <= 100_000, `durable offset ${offset}`);
      // Same offset, other node: the lease in the database keeps it out.
      const second = await fetch(onB, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, body: 'x' });
      assert.equal(second.status, 423);
      // Same node: the in-process lock does too.
      const third = await fetch(url, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, body: 'x' });
      assert.equal(third.status, 423);
      first.req.end(Buffer.alloc(100_000, 2));
      const done = await first.response;
      assert.equal(done.status, 204);
      assert.equal(done.offset, '200000');
      const id = url.split('/').pop()!;
      const row = await b.ctx.cdb.db.selectFrom('gateway_upload').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const expected = createHash('sha256').update(Buffer.alloc(100_000, 1)).update(Buffer.alloc(100_000, 2)).digest('hex');
      assert.equal(row.digest, expected, 'the two PATCHes never interleaved');
      const leases = await a.ctx.cdb.db.selectFrom('coffre_lock').selectAll().where('name', '=', `gateway.upload:${id}`).execute();
      assert.equal(leases.length, 0, 'the lease is released');
    });

    test('a client dropping mid-PATCH keeps every byte received; the upload resumes on the other node', async () => {
      const url = await create(a.url, 300_000);
      const first = openPatch(url, h, 0, 300_000);
      first.response.catch(() => {});
      first.req.write(Buffer.alloc(120_000, 7));
      let offset = 0;
      for (let i = 0; i < 200 && offset === 0; i++) {
        offset = Number((await fetch(url, { method: 'HEAD', headers: h })).headers.get('upload-offset'));
        if (offset === 0) await new Promise((res) => setTimeout(res, 20));
      }
      first.req.destroy();
      // Once the server has seen the drop, the offset is every byte it received.
      let final = 0;
      for (let i = 0; i < 200 && final !== 120_000; i++) {
        final = Number((await fetch(url, { method: 'HEAD', headers: h })).headers.get('upload-offset'));
        if (final !== 120_000) await new Promise((res) => setTimeout(res, 20));
      }
      assert.equal(final, 120_000);
      const onB = url.replace(a.url, b.url);
      const r = await fetch(onB, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '120000' }, body: Buffer.alloc(180_000, 8) });
      assert.equal(r.status, 204);
      const id = url.split('/').pop()!;
      const row = await a.ctx.cdb.db.selectFrom('gateway_upload').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const expected = createHash('sha256').update(Buffer.alloc(120_000, 7)).update(Buffer.alloc(180_000, 8)).digest('hex');
      assert.equal(row.digest, expected, 'node b rebuilt the digest state from the durable prefix');
    });
  });
}
