import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PackageFiles } from '../../src/workspace/package-files.ts';
import { tempDir } from '../helpers/tmp.ts';

/** The descriptors this process holds on `path`. */
function openOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Waits until this process holds no descriptor on `path` (a close runs on the thread pool). */
async function closedOn(path: string): Promise<number> {
  for (let i = 0; i < 200 && openOn(path) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return openOn(path);
}

test('package files: ranges anywhere in the package, across its cached blocks, equal the file bytes', async () => {
  const dir = tempDir('coffre-pkgfiles-');
  try {
    const path = join(dir.path, 'package.zip');
    const bytes = randomBytes(3 * 256 * 1024 + 12_345);
    writeFileSync(path, bytes);
    const files = new PackageFiles();
    // Small reads in parallel (as the storage step's items do), one straddling a block boundary,
    // a large one (past the cached-read bound), and one running past the end.
    const ranges: [number, number][] = [
      [0, 4096],
      [256 * 1024 - 100, 4096],
      [100_000, 64 * 1024],
      [300_000, 200_000],
      [bytes.length - 10, 4096],
      ...Array.from({ length: 40 }, (_, i): [number, number] => [i * 17_000, 4000 + i]),
    ];
    const got = await Promise.all(ranges.map(([pos, len]) => files.read(path, pos, len)));
    ranges.forEach(([pos, len], i) => assert.deepEqual(got[i], bytes.subarray(pos, Math.min(pos + len, bytes.length)), `range ${pos}+${len}`));
    assert.equal(openOn(path), 1, 'one descriptor serves every read');
    // The bytes are the caller's: changing them changes no later read.
    got[0].fill(0);
    assert.deepEqual(await files.read(path, 0, 4096), bytes.subarray(0, 4096));
    files.forget(path);
    assert.equal(await closedOn(path), 0, 'forget closes the package');
    // A read after forget opens it again.
    assert.deepEqual(await files.read(path, 5, 10), bytes.subarray(5, 15));
    files.forget(path);
  } finally {
    dir.cleanup();
  }
});

test('package files: a missing package fails the read, and the next read of it tries again', async () => {
  const dir = tempDir('coffre-pkgfiles-');
  try {
    const path = join(dir.path, 'late.zip');
    const files = new PackageFiles();
    await assert.rejects(files.read(path, 0, 10), /ENOENT/);
    writeFileSync(path, Buffer.from('0123456789abcdef'));
    assert.equal((await files.read(path, 10, 6)).toString(), 'abcdef');
    files.forget(path);
  } finally {
    dir.cleanup();
  }
});
