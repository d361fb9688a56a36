import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const MiB = 2 ** 20;

/** Deterministic pseudo-random bytes generated on the fly (never held whole in memory). */
function generated(size: number, seed = 1): { stream: () => Readable; sha256: () => string } {
  const block = (i: number) => {
    const b = Buffer.alloc(MiB);
    for (let o = 0; o < MiB; o += 64) createHash('sha512').update(`${seed}:${i}:${o}`).digest().copy(b, o);
    return b;
  };
  // 16 distinct blocks rotated, each stamped with its index: cheap, and no two MiB are equal.
  const blocks = Array.from({ length: 16 }, (_, i) => block(i));
  const chunk = (i: number) => {
    const b = Buffer.from(blocks[i % 16]);
    b.writeUInt32BE(i, 0);
    return b;
  };
  return {
    stream: () => {
      let i = 0;
      let left = size;
      return new Readable({
        read() {
          if (left <= 0) return this.push(null);
          const c = chunk(i++);
          const n = Math.min(c.length, left);
          left -= n;
          this.push(n === c.length ? c : c.subarray(0, n));
        },
      });
    },
    sha256: () => {
      const h = createHash('sha256');
      let left = size;
      for (let i = 0; left > 0; i++) {
        const c = chunk(i);
        const n = Math.min(c.length, left);
        h.update(n === c.length ? c : c.subarray(0, n));
        left -= n;
      }
      return h.digest('hex');
    },
  };
}

const sha256File = async (path: string) => {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
};

function run(input: unknown, options: tus.UploadOptions): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u: tus.Upload = new tus.Upload(input as any, { retryDelays: [], ...options, onError: reject, onSuccess: () => resolve(u) });
    u.start();
  });
}

describe('tus-js-client against the running platform', () => {
  let p: TestPlatform;
  let token: string;
  let endpoint: string;
  const idOf = (u: tus.Upload) => u.url!.split('/').pop()!;
  const infoOf = (dir: string, id: string) => JSON.parse(readFileSync(join(p.ctx.config.dataDir, 'staging', dir, `${id}.info`), 'utf8'));

  before(async () => {
    p = await startTestPlatform('sqlite');
    token = await p.token({ space: 'alice' });
    endpoint = `${p.url}/files/`;
  });
  after(() => p.close());

  const opts = (extra: Partial<tus.UploadOptions> = {}): tus.UploadOptions => ({ endpoint, headers: { Authorization: `Bearer ${token}` }, ...extra });

  test('an empty file', async () => {
    const u = await run(Buffer.alloc(0), opts({ metadata: { filename: 'empty' } }));
    const info = infoOf('public', idOf(u));
    assert.equal(info.size, 0);
    assert.equal(info.status, 'complete');
    assert.equal(info.digest.value, createHash('sha256').digest('hex'));
  });

  test('a small private file lands in the space with its digest', async () => {
    const body = Buffer.from('hello coffre\n');
    const u = await run(body, opts({ metadata: { filename: 'hello.txt', private: 'true' } }));
    const id = idOf(u);
    assert.deepEqual(readFileSync(join(p.ctx.config.dataDir, 'staging', 'alice', `${id}.bin`)), body);
    const info = infoOf('alice', id);
    assert.equal(info.digest.value, createHash('sha256').update(body).digest('hex'));
    assert.deepEqual(info.metadata, { filename: 'hello.txt', private: 'true' });
  });

  test('1 GiB streamed, generated on the fly: stored bytes and digest equal the source', async () => {
    const size = 1024 * MiB;
    const source = generated(size, 7);
    const u = await run(source.stream(), opts({ uploadSize: size, chunkSize: 256 * MiB, metadata: { filename: 'big.bin' } }));
    const id = idOf(u);
    const expected = source.sha256();
    const bin = join(p.ctx.config.dataDir, 'staging', 'public', `${id}.bin`);
    assert.equal(statSync(bin).size, size);
    assert.equal(infoOf('public', id).digest.value, expected);
    assert.equal(await sha256File(bin), expected);
  });

  test('deferred length', async () => {
    const size = 3 * MiB + 17;
    const source = generated(size, 3);
    const u = await run(source.stream(), opts({ uploadLengthDeferred: true, chunkSize: MiB, metadata: { filename: 'deferred.bin' } }));
    const info = infoOf('public', idOf(u));
    assert.equal(info.size, size);
    assert.equal(info.sizeIsDeferred, false);
    assert.equal(info.digest.value, source.sha256());
  });

  test('parallel parts concatenated into one final upload', async () => {
    const size = 5 * MiB + 3;
    const source = generated(size, 5);
    const chunks: Buffer[] = [];
    for await (const c of source.stream()) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const u = await run(body, opts({ parallelUploads: 3, metadata: { filename: 'parallel.bin' } }));
    const id = idOf(u);
    const info = infoOf('public', id);
    assert.equal(info.isFinal, true);
    assert.equal(info.partialUploads.length, 3);
    assert.equal(info.digest.value, source.sha256());
    assert.equal(await sha256File(join(p.ctx.config.dataDir, 'staging', 'public', `${id}.bin`)), source.sha256());
  });

  test('resumed after an abort: only the rest is sent, and the result is whole', async () => {
    const size = 8 * MiB;
    const source = generated(size, 11);
    const chunks: Buffer[] = [];
    for await (const c of source.stream()) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const first = await new Promise<tus.Upload>((resolve, reject) => {
      const u: tus.Upload = new tus.Upload(body, {
        ...opts({ chunkSize: MiB }),
        retryDelays: [],
        onError: reject,
        onChunkComplete: (_c, accepted) => {
          if (accepted >= 3 * MiB) void u.abort().then(() => resolve(u));
        },
        onSuccess: () => reject(new Error('should have been aborted')),
      });
      u.start();
    });
    const head = await fetch(first.url!, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } });
    const offset = Number(head.headers.get('upload-offset'));
    assert.ok(offset >= 3 * MiB && offset < size, `offset ${offset} after abort`);
    let firstOffsetSent = -1;
    const resumed = await run(body, {
      ...opts({ uploadUrl: first.url!, chunkSize: MiB }),
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'PATCH' && firstOffsetSent < 0) firstOffsetSent = Number(req.getHeader('Upload-Offset'));
      },
    });
    assert.equal(resumed.url, first.url);
    assert.equal(firstOffsetSent, offset, 'the client resumed at the server offset');
    assert.equal(infoOf('public', idOf(resumed)).digest.value, source.sha256());
  });

  test('a completed upload stays complete: resuming it sends nothing', async () => {
    const body = Buffer.from('already here');
    const u = await run(body, opts());
    let patches = 0;
    await run(body, { ...opts({ uploadUrl: u.url! }), onBeforeRequest: (req) => void (req.getMethod() === 'PATCH' && patches++) });
    assert.equal(patches, 0);
  });
});
