import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { receiveBody, type ReceiveResult } from '../../src/gateway/store/receive.ts';
import { inlineHasher } from '../../src/gateway/store/hasher.ts';
import { tempDir } from '../helpers/tmp.ts';

/** A real HTTP server whose only handler is receiveBody into `path` at `start`. */
async function receiver(path: string, start: number, limit: number, slabBytes: number) {
  const results: Array<{ result: ReceiveResult; digest: string; flushed: number[] }> = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const hash = inlineHasher().create('sha256');
    const flushed: number[] = [];
    const result = await receiveBody(req, path, start, limit, [hash], (n) => flushed.push(n), { slabBytes, idleFlushMs: 2 });
    results.push({ result, digest: (await hash.digest()).toString('hex'), flushed });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, results, close: () => new Promise((r) => server.close(r)) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('receiveBody: chunks larger and smaller than a slab land in order at the offset, all flushed', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, 'a.bin');
    writeFileSync(path, 'HEAD:');
    const data = randomBytes(3 * 1024 * 1024 + 123);
    // A slab smaller than a socket chunk forces the spill path on every chunk.
    const r = await receiver(path, 5, data.length, 1000);
    await new Promise<void>((resolve, reject) => {
      const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': data.length } }, (res) => res.resume().on('end', resolve));
      req.on('error', reject);
      for (let at = 0; at < data.length; at += 100_000) req.write(data.subarray(at, at + 100_000));
      req.end();
    });
    await r.close();
    const { result, digest, flushed } = r.results[0];
    assert.deepEqual(result, { received: data.length, aborted: false, overflow: false });
    assert.equal(digest, sha(data));
    assert.equal(flushed.at(-1), data.length);
    assert.ok(flushed.every((n, i) => i === 0 || n > flushed[i - 1]), 'flushed only grows');
    assert.ok(readFileSync(path).equals(Buffer.concat([Buffer.from('HEAD:'), data])));
  } finally {
    dir.cleanup();
  }
});

test('receiveBody: a slow client\'s bytes reach the file before the body ends; a drop keeps them', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, 'b.bin');
    writeFileSync(path, '');
    const r = await receiver(path, 0, 1_000_000, 128 * 1024);
    const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': 1_000_000 } });
    req.on('error', () => {});
    const part = randomBytes(10_000);
    req.write(part);
    // Far less than a slab, yet written soon (idle flush) while the request is still open.
    for (let i = 0; i < 200 && readFileSync(path).length < part.length; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(readFileSync(path).length, part.length);
    req.destroy();
    for (let i = 0; i < 200 && r.results.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await r.close();
    assert.equal(r.results[0].result.aborted, true);
    assert.equal(r.results[0].result.received, part.length);
    assert.ok(readFileSync(path).equals(part));
  } finally {
    dir.cleanup();
  }
});

test('receiveBody: bytes past the limit are not written and overflow is reported', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, 'c.bin');
    writeFileSync(path, '');
    const r = await receiver(path, 0, 5000, 4096);
    await new Promise<void>((resolve) => {
      const req = request({ port: r.port, method: 'PATCH', headers: { 'content-length': 8000 } }, (res) => res.resume().on('end', resolve));
      req.on('error', () => resolve());
      req.end(Buffer.alloc(8000, 7));
    });
    for (let i = 0; i < 200 && r.results.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await r.close();
    assert.equal(r.results[0].result.overflow, true);
    assert.equal(r.results[0].result.received, 5000);
    assert.ok(readFileSync(path).equals(Buffer.alloc(5000, 7)));
  } finally {
    dir.cleanup();
  }
});
