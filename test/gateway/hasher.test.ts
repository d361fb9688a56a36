import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { inlineHasher, workerHasher } from '../../src/gateway/store/hasher.ts';

for (const [name, make] of [['inline', inlineHasher], ['worker', workerHasher]] as const) {
  test(`${name} hasher: digests, copies and drops agree with node's hashes`, async () => {
    const hasher = make();
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      for (const algorithm of ['sha256', 'sha1', 'sha512', 'md5']) {
        const d = hasher.create(algorithm);
        // Chunks of uneven sizes, some larger than a worker slot, honouring back-pressure.
        for (let at = 0; at < data.length; ) {
          const n = Math.min(data.length - at, 1 + ((at * 7919) % 200_000));
          d.update(data.subarray(at, at + n));
          at += n;
          if (d.congested) await d.whenDrained();
        }
        assert.deepEqual(await d.digest(), createHash(algorithm).update(data).digest(), algorithm);
      }
      // A copy is independent: the roll-back of a discarded chunk.
      const a = hasher.create('sha256');
      a.update(Buffer.from('hello '));
      const base = a.copy();
      a.update(Buffer.from('WORLD'));
      a.drop();
      base.update(Buffer.from('world'));
      assert.equal((await base.digest()).toString('hex'), createHash('sha256').update('hello world').digest('hex'));
      // Many digests at once, more than the worker has slots for.
      const many = Array.from({ length: 100 }, () => hasher.create('sha256'));
      const chunk = randomBytes(64 * 1024);
      for (let i = 0; i < 4; i++) for (const d of many) d.update(chunk);
      await Promise.all(many.map((d) => d.whenDrained()));
      const expected = createHash('sha256').update(chunk).update(chunk).update(chunk).update(chunk).digest();
      for (const d of many) assert.deepEqual(await d.digest(), expected);
      assert.throws(() => hasher.create('nope'));
    } finally {
      await hasher.close();
    }
  });
}
