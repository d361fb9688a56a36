import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FlushBehind } from '../../../src/storage/drivers/fs/flush-behind.ts';

describe('fs driver: flush behind the writing', () => {
  test('flushes while the file is written and leaves its content whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffre-flush-'));
    try {
      const path = join(dir, 'f');
      const fd = openSync(path, 'w');
      const flush = new FlushBehind(fd, 64 * 1024);
      const chunks = Array.from({ length: 10 }, () => randomBytes(48 * 1024));
      for (const c of chunks) {
        writeSync(fd, c);
        flush.wrote(c.length);
        // Let a flush in flight end now and then, so that several of them run.
        await new Promise((r) => setImmediate(r));
      }
      await flush.settle();
      closeSync(fd);
      assert.deepEqual(readFileSync(path), Buffer.concat(chunks));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failed background flush is not lost: settle() rethrows it', async () => {
    const fd = openSync('/dev/null', 'r');
    closeSync(fd); // fdatasync of a closed fd fails with EBADF
    const flush = new FlushBehind(fd, 1);
    flush.wrote(1);
    await assert.rejects(flush.settle(), { code: 'EBADF' });
  });
});
