import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { openAndMigrate, type CoffreDb } from '../../src/db/index.ts';
import { openStorage } from '../../src/storage/open.ts';
import { auditStorage } from '../../src/storage/audit.ts';
import { objectPaths } from '../../src/storage/drivers/fs/layout.ts';
import type { CoffreConfig } from '../../src/config/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';
import { bufferSource } from './helpers.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/coffre.js', import.meta.url).pathname;

/** Runs the real `coffre` CLI; resolves with its exit code and output. */
async function coffre(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 2 ** 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

for (const database of TEST_DATABASES) {
  describe(`audit on ${database.name} (embedded default offers)`, { skip: database.skip }, () => {
    let config: CoffreConfig;
    let cleanup: () => Promise<void>;
    let env: Record<string, string>;
    const objects = ['keep', 'deleted', 'rotten'];

    before(async () => {
      ({ config, cleanup } = await testConfig(database.name));
      env = config.database.url ? { COFFRE_DATABASE_URL: config.database.url } : {};
      const cdb: CoffreDb = await openAndMigrate(config);
      const engine = await openStorage({ config, cdb });
      for (const id of objects) {
        const r = await engine.write({ container: 'objects', id, source: bufferSource(randomBytes(20_000)) });
        assert.equal(r.status, 'OK');
      }
      await engine.close();
      await cdb.close();
    });
    after(async () => cleanup?.());

    test('a clean store audits clean (exit 0)', async () => {
      const r = await coffre(['audit', '--data-dir', config.dataDir], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /audit: 3 objects, 6 copies checked, 0 discrepancies/);
    });

    test('audit finds a deleted and a corrupted copy, recomputing digests (the CLI exits 1)', async () => {
      const offers = join(config.dataDir, 'offers');
      unlinkSync(objectPaths(join(offers, 'offer-2'), 'objects', 'deleted').file);
      // Same size, one byte flipped, sidecar left as it was: only a recomputed digest sees it.
      const rotten = objectPaths(join(offers, 'offer-1'), 'objects', 'rotten').file;
      writeFileSync(rotten, randomBytes(20_000));

      const text = await coffre(['audit', '--data-dir', config.dataDir], env);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /MISSING objects\/deleted: missing on offer offer-2/);
      assert.match(text.stdout, /CORRUPTED objects\/rotten: corrupted on offer offer-1/);
      assert.match(text.stdout, /2 discrepancies/);

      const json = await coffre(['audit', '--data-dir', config.dataDir, '--json'], env);
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout);
      assert.deepEqual(
        report.discrepancies.map((d: { id: string; offerId: string; problem: string }) => [d.id, d.offerId, d.problem]).sort(),
        [['deleted', 'offer-2', 'MISSING'], ['rotten', 'offer-1', 'CORRUPTED']],
      );

      const only2 = await coffre(['audit', '--data-dir', config.dataDir, '--offer', 'offer-2', '--json'], env);
      assert.equal(only2.code, 1);
      assert.deepEqual(JSON.parse(only2.stdout).discrepancies.map((d: { id: string }) => d.id), ['deleted']);

      const unknown = await coffre(['audit', '--data-dir', config.dataDir, '--offer', 'nope'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /unknown offer "nope"/);
    });

    test('in process: auditStorage reports the same discrepancies', async () => {
      const cdb = await openAndMigrate(config);
      const engine = await openStorage({ config, cdb });
      try {
        const report = await auditStorage(engine, { pageSize: 2 });
        assert.equal(report.objects, 3);
        assert.equal(report.discrepancies.length, 2);
      } finally {
        await engine.close();
        await cdb.close();
      }
    });
  });
}

describe('store and offers commands (real CLI)', () => {
  test('store put, store get, offers status --json', async () => {
    const { config, cleanup } = await testConfig('sqlite');
    try {
      const file = join(config.dataDir, 'in.bin');
      const data = randomBytes(300_000);
      writeFileSync(file, data);
      const put = await coffre(['store', 'put', file, '--data-dir', config.dataDir, '--json']);
      assert.equal(put.code, 0, put.stderr);
      const result = JSON.parse(put.stdout);
      assert.equal(result.status, 'OK');
      assert.equal(result.copies.length, 2);
      const out = join(config.dataDir, 'out.bin');
      const get = await coffre(['store', 'get', result.id, '--data-dir', config.dataDir, '--out', out]);
      assert.equal(get.code, 0, get.stderr);
      const { readFileSync } = await import('node:fs');
      assert.ok(readFileSync(out).equals(data));
      const status = await coffre(['offers', 'status', '--data-dir', config.dataDir, '--json']);
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout);
      assert.deepEqual(s.offers.map((o: { id: string; driver: string; available: boolean; objects: number }) => [o.id, o.driver, o.available, o.objects]), [
        ['offer-1', 'fs', true, 1],
        ['offer-2', 'fs', true, 1],
      ]);
      assert.ok(s.offers.every((o: { usableBytes: number; totalBytes: number }) => o.usableBytes > 0 && o.totalBytes >= o.usableBytes));
      assert.deepEqual(s.strategies.map((x: { id: string }) => x.id), ['default']);
      const missing = await coffre(['store', 'put', join(config.dataDir, 'nope'), '--data-dir', config.dataDir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^coffre: cannot read .*nope/);
      const notThere = await coffre(['store', 'get', 'nothing-here', '--data-dir', config.dataDir]);
      assert.equal(notThere.code, 1);
      assert.match(notThere.stderr, /could not be read from any offer/);
    } finally {
      await cleanup();
    }
  });
});
