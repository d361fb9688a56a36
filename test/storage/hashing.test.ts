import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createDigester } from '../../src/storage/hashing.ts';

describe('engine digest (inline or in the hashing thread)', () => {
  test('the thread digest equals a plain hash, with chunks larger than its ring and odd sizes', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const d = createDigester('sha512', data.length, { threadMinBytes: 0, ringBytes: 256 * 1024 });
    // Chunks of 1 MiB (4× the ring), then odd slices: pieces wrap around the ring.
    for (const [from, to] of [[0, 1 << 20], [1 << 20, (1 << 20) + 7], [(1 << 20) + 7, data.length]]) {
      const wait = d.update(data.subarray(from, to));
      if (wait) await wait;
    }
    assert.equal(await d.digest(), createHash('sha512').update(data).digest('hex'));
  });

  test('several thread jobs at once keep their digests apart; an aborted job leaves the others alone', async () => {
    const inputs = [randomBytes(500_000), randomBytes(700_001), randomBytes(64)];
    const ds = inputs.map((_, i) => createDigester(i === 2 ? 'md5' : 'sha256', 1, { threadMinBytes: 0, ringBytes: 64 * 1024 }));
    const aborted = createDigester('sha512', 1, { threadMinBytes: 0 });
    aborted.update(randomBytes(1000));
    aborted.abort();
    await Promise.all(inputs.map(async (buf, i) => {
      for (let off = 0; off < buf.length; off += 40_000) await ds[i].update(buf.subarray(off, off + 40_000));
    }));
    const digests = await Promise.all(ds.map((d) => d.digest()));
    assert.deepEqual(digests, inputs.map((b, i) => createHash(i === 2 ? 'md5' : 'sha256').update(b).digest('hex')));
  });

  test('below the threshold the digest is computed inline (never waits)', async () => {
    const d = createDigester('sha1', 10, { threadMinBytes: 1024 });
    assert.equal(d.update(Buffer.from('0123456789')), undefined);
    assert.equal(await d.digest(), createHash('sha1').update('0123456789').digest('hex'));
  });
});
