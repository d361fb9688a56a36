import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BodyStore, type ReceiveResult } from '../../src/gateway/store/body.ts';
import { tempDir } from '../helpers/tmp.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A real HTTP server whose only handler is store.receive into `path` at `start`. */
async function receiver(store: BodyStore, path: string, start: number, limit: number) {
  const results: Array<{ result?: ReceiveResult; error?: Error; digest?: string; flushed: number[] }> = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const hash = store.createDigest('sha256');
    const flushed: number[] = [];
    try {
      const result = await store.receive(req, path, start, limit, [hash], (n) => flushed.push(n));
      results.push({ result, digest: (await hash.digest()).toString('hex'), flushed });
    } catch (error) {
      hash.drop();
      results.push({ error: error as Error, flushed });
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, results, close: () => new Promise((r) => server.close(r)) };
}

for (const thread of [true, false]) {
  const mode = thread ? 'with a body thread' : 'event loop only';
  const make = () => new BodyStore({ thread, bufferBytes: 256 * 1024 });

  test(`${mode}: a body lands in order at the offset, flushed grows to its end, digest of every byte`, async () => {
    const store = make();
    const dir = tempDir();
    try {
      const path = join(dir.path, 'a.bin');
      writeFileSync(path, 'HEAD:');
      const data = randomBytes(3 * 1024 * 1024 + 123);
      const r = await receiver(store, path, 5, data.length);
      await new Promise<void>((resolve, reject) => {
        const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': data.length } }, (res) => res.resume().on('end', resolve));
        req.on('error', reject);
        for (let at = 0; at < data.length; at += 100_000) req.write(data.subarray(at, at + 100_000));
        req.end();
      });
      await r.close();
      const { result, digest, flushed } = r.results[0];
      assert.deepEqual(result, { received: data.length, aborted: false, overflow: false, lane: 'event loop' });
      assert.equal(digest, sha(data));
      assert.equal(flushed.at(-1), data.length);
      assert.ok(flushed.every((n, i) => i === 0 || n > flushed[i - 1]), 'flushed only grows');
      assert.ok(readFileSync(path).equals(Buffer.concat([Buffer.from('HEAD:'), data])));
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  test(`${mode}: a slow client's bytes reach the file before the body ends; a drop keeps them`, async () => {
    const store = make();
    const dir = tempDir();
    try {
      const path = join(dir.path, 'b.bin');
      writeFileSync(path, '');
      const r = await receiver(store, path, 0, 1_000_000);
      const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': 1_000_000 } });
      req.on('error', () => {});
      const part = randomBytes(10_000);
      req.write(part);
      for (let i = 0; i < 200 && readFileSync(path).length < part.length; i++) await sleep(10);
      assert.equal(readFileSync(path).length, part.length, 'written while the request is still open');
      req.destroy();
      for (let i = 0; i < 200 && r.results.length === 0; i++) await sleep(10);
      await r.close();
      assert.equal(r.results[0].result!.aborted, true);
      assert.equal(r.results[0].result!.received, part.length);
      assert.equal(r.results[0].digest, sha(part));
      assert.ok(readFileSync(path).equals(part));
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  test(`${mode}: bytes past the limit are not written and overflow is reported`, async () => {
    const store = make();
    const dir = tempDir();
    try {
      const path = join(dir.path, 'c.bin');
      writeFileSync(path, '');
      const r = await receiver(store, path, 0, 5000);
      await new Promise<void>((resolve) => {
        const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': 8000 } }, (res) => res.resume().on('end', resolve));
        req.on('error', () => resolve());
        req.end(Buffer.alloc(8000, 7));
      });
      for (let i = 0; i < 200 && r.results.length === 0; i++) await sleep(10);
      await r.close();
      assert.equal(r.results[0].result!.overflow, true);
      assert.equal(r.results[0].result!.received, 5000);
      assert.equal(r.results[0].digest, sha(Buffer.alloc(5000, 7)));
      assert.ok(readFileSync(path).equals(Buffer.alloc(5000, 7)));
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  test(`${mode}: a file that cannot be written fails the body, and the store keeps working`, async () => {
    const store = make();
    const dir = tempDir();
    try {
      const r = await receiver(store, join(dir.path, 'missing', 'd.bin'), 0, 1000);
      await new Promise<void>((resolve) => {
        const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': 1000 } }, (res) => res.resume().on('end', resolve));
        req.on('error', () => resolve());
        req.end(Buffer.alloc(1000, 1));
      });
      await r.close();
      assert.match(String(r.results[0].error?.message), /ENOENT/);
      const d = store.createDigest('sha256');
      const path = join(dir.path, 'e.bin');
      writeFileSync(path, 'still fine');
      await d.extendTo(path, 10);
      assert.equal((await d.digest()).toString('hex'), sha('still fine'));
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  test(`${mode}: digests read back from files, copies and drops agree with node's hashes`, async () => {
    const store = make();
    const dir = tempDir();
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const path = join(dir.path, 'data.bin');
      writeFileSync(path, data);
      for (const algorithm of ['sha256', 'sha1', 'sha512', 'md5']) {
        const d = store.createDigest(algorithm);
        for (let end = 0; end < data.length; end += 1 + ((end * 7919) % 700_000)) await d.extendTo(path, end);
        await d.extendTo(path, data.length);
        assert.deepEqual(await d.digest(), createHash(algorithm).update(data).digest(), algorithm);
      }
      // A copy is independent: the roll-back of a discarded chunk (file cut back, then rewritten).
      const rollback = join(dir.path, 'rollback.bin');
      writeFileSync(rollback, 'hello ');
      const a = store.createDigest('sha256');
      await a.extendTo(rollback, 6);
      const base = a.copy();
      appendFileSync(rollback, 'WORLD');
      await a.extendTo(rollback, 11);
      a.drop();
      truncateSync(rollback, 6);
      appendFileSync(rollback, 'world');
      await base.extendTo(rollback, 11);
      assert.equal((await base.digest()).toString('hex'), sha('hello world'));
      // A digest asked to cover bytes the file does not have fails instead of lying.
      const short = store.createDigest('sha256');
      await short.extendTo(rollback, 20);
      await assert.rejects(short.digest(), /covers/);
      // Many digests at once.
      const many = Array.from({ length: 50 }, () => store.createDigest('sha256'));
      await Promise.all(many.map((m) => m.extendTo(path, 4096)));
      for (const m of many) assert.equal((await m.digest()).toString('hex'), sha(data.subarray(0, 4096)));
      assert.throws(() => store.createDigest('nope'));
    } finally {
      await store.close();
      dir.cleanup();
    }
  });
}

test('with a body thread: concurrent bodies: one on the event loop, the others in the thread, all right', async () => {
  const store = new BodyStore({ thread: true, bufferBytes: 64 * 1024 });
  const dir = tempDir();
  try {
    const servers = [];
    const bodies = Array.from({ length: 4 }, () => randomBytes(2 * 1024 * 1024 + 1));
    for (let i = 0; i < bodies.length; i++) {
      const path = join(dir.path, `${i}.bin`);
      writeFileSync(path, '');
      servers.push({ path, r: await receiver(store, path, 0, bodies[i].length) });
    }
    await Promise.all(
      servers.map(({ r }, i) => new Promise<void>((resolve, reject) => {
        const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': bodies[i].length } }, (res) => res.resume().on('end', resolve));
        req.on('error', reject);
        for (let at = 0; at < bodies[i].length; at += 50_000) req.write(bodies[i].subarray(at, at + 50_000));
        req.end();
      })),
    );
    const lanes = new Set<string>();
    for (const [i, { path, r }] of servers.entries()) {
      await r.close();
      const { result, digest } = r.results[0];
      lanes.add(result!.lane);
      assert.equal(result!.received, bodies[i].length);
      assert.equal(digest, sha(bodies[i]));
      assert.ok(readFileSync(path).equals(bodies[i]));
    }
    assert.deepEqual([...lanes].sort(), ['body thread', 'event loop']);
    // A digest rebuilt from a file prefix is read in the thread; later bodies of it follow it.
    const d = store.createDigest('sha256');
    await d.extendTo(servers[0].path, bodies[0].length);
    assert.equal((await d.digest()).toString('hex'), sha(bodies[0]));
  } finally {
    await store.close();
    dir.cleanup();
  }
});
