import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inlineHasher, workerHasher, type Hasher, type RunningDigest } from '../../src/gateway/store/hasher.ts';
import { tempDir } from '../helpers/tmp.ts';

/** Appends bytes to the file and tells the digest, the way the gateway does. */
function appender(hasher: Hasher, path: string) {
  let size = 0;
  writeFileSync(path, '');
  return (d: RunningDigest, chunk: Buffer) => {
    appendFileSync(path, chunk);
    size += chunk.length;
    d.update(chunk);
    d.extendTo(path, size);
  };
}

for (const [name, make] of [['inline', inlineHasher], ['worker', workerHasher]] as const) {
  test(`${name} hasher: digests, copies and drops agree with node's hashes`, async () => {
    const hasher = make();
    const dir = tempDir();
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      for (const algorithm of ['sha256', 'sha1', 'sha512', 'md5']) {
        const d = hasher.create(algorithm);
        const append = appender(hasher, join(dir.path, `${algorithm}.bin`));
        for (let at = 0; at < data.length; ) {
          const n = Math.min(data.length - at, 1 + ((at * 7919) % 200_000));
          append(d, data.subarray(at, at + n));
          at += n;
          if (at % 3 === 0) await new Promise((r) => setImmediate(r));
        }
        assert.deepEqual(await d.digest(), createHash(algorithm).update(data).digest(), algorithm);
      }
      // A copy is independent: the roll-back of a discarded chunk (file cut back, then rewritten).
      const path = join(dir.path, 'rollback.bin');
      const append = appender(hasher, path);
      const a = hasher.create('sha256');
      append(a, Buffer.from('hello '));
      const base = a.copy();
      append(a, Buffer.from('WORLD'));
      a.drop();
      truncateSync(path, 6);
      appendFileSync(path, 'world');
      base.update(Buffer.from('world'));
      base.extendTo(path, 11);
      assert.equal((await base.digest()).toString('hex'), createHash('sha256').update('hello world').digest('hex'));
      // Many digests at once.
      const chunk = randomBytes(64 * 1024);
      const many = Array.from({ length: 50 }, (_, i) => ({ d: hasher.create('sha256'), append: appender(hasher, join(dir.path, `m${i}.bin`)) }));
      for (let i = 0; i < 4; i++) for (const m of many) m.append(m.d, chunk);
      const expected = createHash('sha256').update(chunk).update(chunk).update(chunk).update(chunk).digest();
      for (const m of many) assert.deepEqual(await m.d.digest(), expected);
      assert.throws(() => hasher.create('nope'));
    } finally {
      await hasher.close();
      dir.cleanup();
    }
  });
}
