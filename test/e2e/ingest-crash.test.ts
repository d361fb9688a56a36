import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { makeSedaPackage } from '../fixtures/packages.ts';
import { loadConfig } from '../../src/config/index.ts';
import { openAndMigrate } from '../../src/db/index.ts';
import { loadOrCreateInstanceKey, signInstanceToken } from '../../src/auth/index.ts';
import { openStorage, type StorageEngineAdmin } from '../../src/storage/index.ts';
import { submitPackage, fetchOperation } from '../../src/ingest/client.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

function serve(dataDir: string, port: number): ChildProcess {
  return spawn(process.execPath, ['bin/coffre.js', 'serve', '--data-dir', dataDir, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, COFFRE_LOG_LEVEL: 'warn', COFFRE_INGEST_LEASE_TTL: '2s', COFFRE_INGEST_WORKERS: '2', COFFRE_INGEST_ITEM_CONCURRENCY: '2' },
  });
}

async function waitHealthy(url: string) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not start');
}

describe('kill -9 of `coffre serve` mid-ingest', () => {
  const dir = tempDir();
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    dir.cleanup();
  });

  test('the restart carries the operation to OK, with no copy missing or doubled', { timeout: 300_000 }, async () => {
    const dataDir = join(dir.path, 'data');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const objects = 1500;
    const pkg = await makeSedaPackage(join(dir.path, 'big.zip'), { objects, size: 4096 });

    let server = serve(dataDir, port);
    children.push(server);
    await waitHealthy(base);
    const token = await signInstanceToken(loadOrCreateInstanceKey(dataDir), loadConfig({ overrides: { dataDir } }).auth, { space: 'acme', ttlSeconds: 3600 });
    const id = await submitPackage({ base, token, file: pkg });

    // Kill it while objects are being stored.
    let storing = false;
    for (let i = 0; i < 3000 && !storing; i++) {
      const op = await fetchOperation(base, token, id);
      assert.equal(op.state, 'RUNNING', 'the operation ended before we could kill the server');
      storing = op.steps.find((s) => s.name === 'STP_OBJ_STORING')?.status === 'STARTED';
      if (!storing) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(storing);
    await new Promise((r) => setTimeout(r, 300));
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));

    server = serve(dataDir, port);
    children.push(server);
    await waitHealthy(base);
    let final;
    for (let i = 0; i < 2400; i++) {
      final = await fetchOperation(base, token, id);
      if (final.state === 'DONE') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The fixture's objects are random bytes declared as fmt/1: format identification warns
    // (STP_OG_CHECK_AND_TRANSFORME WARNING), every other step must be OK.
    assert.ok(final?.status === 'OK' || final?.status === 'WARNING', JSON.stringify(final?.steps));
    for (const s of final!.steps) {
      if (s.name !== 'STP_OG_CHECK_AND_TRANSFORME') assert.equal(s.status, 'OK', `${s.name}: ${JSON.stringify(final?.steps)}`);
    }
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));

    // Every object is on both offers exactly once; its copies are recorded once per offer.
    const config = loadConfig({ overrides: { dataDir, log: { level: 'silent' } } });
    const cdb = await openAndMigrate(config);
    const engine = (await openStorage({ config, cdb })) as unknown as StorageEngineAdmin;
    try {
      const rows = await cdb.db.selectFrom('archive_object').select('id').where('operation_id', '=', id).execute();
      assert.equal(rows.length, objects);
      const copies = await cdb.db.selectFrom('object_copy').select(['object_id', 'offer_id']).where('object_id', 'in', rows.map((r) => r.id).slice(0, 1)).execute();
      assert.equal(copies.length, 2);
      const copyCount = await cdb.db.selectFrom('object_copy').innerJoin('archive_object', 'archive_object.id', 'object_copy.object_id')
        .select((eb) => eb.fn.countAll<number>().as('n')).where('archive_object.operation_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(Number(copyCount.n), 2 * objects);
      for (const offer of (await engine.offersStatus()).map((o) => o.id)) {
        const ids: string[] = [];
        for await (const e of engine.list('default', 'objects', { offerId: offer })) ids.push(e.id);
        const mine = ids.filter((x) => x.startsWith(`${id}-o`));
        assert.equal(mine.length, objects, `offer ${offer} holds every object`);
        assert.equal(new Set(mine).size, objects, `offer ${offer} holds no object twice`);
      }
      const journal = await cdb.db.selectFrom('logbook_op_event').select(['ev_type', 'outcome']).where('operation_id', '=', id).execute();
      assert.equal(journal.filter((e) => e.ev_type === 'STP_OBJ_STORING' && e.outcome === 'OK').length, 1);
      assert.equal(journal.filter((e) => e.ev_type === 'PROCESS_SIP_UNITARY' && e.outcome !== 'STARTED').length, 1, 'the operation is closed once');
      assert.equal(journal.filter((e) => e.ev_type === 'PROCESS_SIP_UNITARY' && e.outcome === final!.status).length, 1);
    } finally {
      await engine.close();
      await cdb.close();
    }
  });
});
