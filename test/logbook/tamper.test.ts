import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { sealJournals, verifyJournals, rebuildFromOffers, showOperation, type VerifyReport } from '../../src/logbook/index.ts';
import { openAndMigrate } from '../../src/db/index.ts';
import { openStorage } from '../../src/storage/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';
import { fixture, sampleIngest, type Fixture } from './fixture.ts';

const run = promisify(execFile);

async function verify(f: Fixture): Promise<VerifyReport> {
  return verifyJournals(f.cdb, { storage: f.storage, strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 50 });
}

/** Two sealed ingests and a third, unsealed one: the journals every tamper test starts from. */
async function sealedJournals(f: Fixture): Promise<string[]> {
  const a = await sampleIngest(f.logbook);
  const b = await sampleIngest(f.logbook, { outcome: 'KO' });
  const seal = await sealJournals(f.logbook, f.keys);
  assert.ok(seal);
  assert.equal(seal.n, 1);
  const c = await sampleIngest(f.logbook);
  const r = await verify(f);
  assert.deepEqual(r.problems, [], 'untouched journals verify');
  assert.equal(r.proofsChecked, 1);
  return [a, b, c];
}

/** The rows of an operation's chain, in order. */
async function chain(f: Fixture, op: string) {
  return f.cdb.db.selectFrom('logbook_op_event').selectAll().where('operation_id', '=', op).orderBy('idx').execute();
}

for (const database of TEST_DATABASES) {
  describe(`tampering on ${database.name}`, { skip: database.skip }, () => {
    test('an edited field is named, by the chain and by the seal (and the CLI exits 1)', async () => {
      const f = await fixture(database.name);
      try {
        const [a] = await sealedJournals(f);
        const victim = (await chain(f, a))[2];
        await sql`update logbook_op_event set outcome = 'OK', out_messg = 'all fine' where seq = ${victim.seq}`.execute(f.cdb.db);
        let r = await verify(f);
        assert.equal(r.ok, false);
        assert.equal(r.first?.kind, 'edited');
        assert.equal(r.first?.evId, victim.ev_id);
        assert.match(r.first!.message, new RegExp(`event ${victim.ev_id} .* was edited`));
        assert.equal(r.problems.length, 1, 'the seal still holds: the stored hash was left as it was');

        // The real command, as an operator runs it.
        const env = { ...process.env, ...(f.cdb.dialect === 'postgres' ? { COFFRE_DATABASE_URL: f.config.database.url } : {}) };
        const child = await run(process.execPath, ['bin/coffre.js', 'logbook', 'verify', '--data-dir', f.config.dataDir], { env }).then(
          () => ({ code: 0, stdout: '', stderr: '' }),
          (err) => ({ code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string }),
        );
        assert.equal(child.code, 1, child.stderr);
        assert.match(child.stderr, new RegExp(`journals broken: first at event ${victim.ev_id}`));
        assert.match(child.stdout, /edited/);

        // A forger who also recomputes the hashes of the edited event and of every later event of
        // its chain leaves a consistent chain: the seal (its proof in the offers) still names the event.
        const { rowHash } = await import('../../src/logbook/rows.ts');
        const rows = await chain(f, a);
        let prev: Buffer | null = null;
        for (const row of rows) {
          const fixed: Record<string, unknown> = { ...row, prev_hash: prev };
          fixed.hash = rowHash('op', fixed);
          await sql`update logbook_op_event set prev_hash = ${fixed.prev_hash as Buffer | null}, hash = ${fixed.hash as Buffer} where seq = ${row.seq}`.execute(f.cdb.db);
          prev = fixed.hash as Buffer;
        }
        r = await verify(f);
        assert.equal(r.first?.evId, victim.ev_id, JSON.stringify(r.problems, null, 1));
        assert.equal(r.first?.seal, 1);
        assert.ok(r.problems.some((p) => p.kind === 'seal' && /Merkle root/.test(p.message)), JSON.stringify(r.problems, null, 1));
        assert.ok(!r.problems.some((p) => p.kind !== 'seal' && !p.seal), 'the rewritten chain itself is consistent');
      } finally {
        await f.close();
      }
    });

    test('a deleted event is named (chain link and seal proof)', async () => {
      const f = await fixture(database.name);
      try {
        const [a, , c] = await sealedJournals(f);
        const victim = (await chain(f, a))[3];
        await sql`delete from logbook_op_event where seq = ${victim.seq}`.execute(f.cdb.db);
        let r = await verify(f);
        assert.equal(r.ok, false);
        assert.equal(r.first?.kind, 'deleted');
        assert.ok(r.problems.some((p) => p.kind === 'deleted' && p.evId === victim.ev_id && p.seal === 1), 'the seal proof names the deleted event');
        assert.ok(r.problems.some((p) => p.kind === 'deleted' && /an event is missing before event/.test(p.message)), JSON.stringify(r.problems, null, 1));

        // A deletion in the unsealed operation: the chain alone names where.
        const rows = await chain(f, c);
        await sql`delete from logbook_op_event where seq = ${rows[1].seq}`.execute(f.cdb.db);
        r = await verify(f);
        assert.ok(r.problems.some((p) => p.kind === 'deleted' && p.evId === rows[2].ev_id && p.chain === c), JSON.stringify(r.problems, null, 1));
        // Deleting the closing event of a finished operation is seen too.
        await sql`delete from logbook_op_event where seq = ${rows[rows.length - 1].seq}`.execute(f.cdb.db);
        r = await verify(f);
        assert.ok(r.problems.some((p) => p.kind === 'deleted' && /its closing event was deleted/.test(p.message)), JSON.stringify(r.problems, null, 1));
      } finally {
        await f.close();
      }
    });

    test('an inserted event is named', async () => {
      const f = await fixture(database.name);
      try {
        const [a] = await sealedJournals(f);
        const rows = await chain(f, a);
        // Make room at position 2 (shift the later positions), then slip a forged event in with a
        // hash that is right for its own content and links to the event before it.
        for (const r of [...rows].reverse().filter((r) => r.idx >= 2)) await sql`update logbook_op_event set idx = ${r.idx + 1} where seq = ${r.seq}`.execute(f.cdb.db);
        const { rowHash } = await import('../../src/logbook/rows.ts');
        const forged: Record<string, unknown> = { ...rows[1], seq: undefined, idx: 2, ev_id: 'forged-event', ev_type: 'CHECK_DIGEST', outcome: 'OK', prev_hash: rows[1].hash };
        delete forged.seq;
        forged.hash = rowHash('op', forged);
        await f.cdb.db.insertInto('logbook_op_event').values(forged as any).execute();
        const r = await verify(f);
        assert.equal(r.ok, false);
        assert.ok(r.problems.some((p) => p.kind === 'inserted' && p.evId === 'forged-event'), JSON.stringify(r.problems, null, 1), JSON.stringify(r.problems, null, 1));
      } finally {
        await f.close();
      }
    });

    test('two swapped events are named', async () => {
      const f = await fixture(database.name);
      try {
        const [a] = await sealedJournals(f);
        const rows = await chain(f, a);
        const [x, y] = [rows[2], rows[3]];
        await sql`update logbook_op_event set idx = -1 where seq = ${x.seq}`.execute(f.cdb.db);
        await sql`update logbook_op_event set idx = ${x.idx} where seq = ${y.seq}`.execute(f.cdb.db);
        await sql`update logbook_op_event set idx = ${y.idx} where seq = ${x.seq}`.execute(f.cdb.db);
        const r = await verify(f);
        assert.equal(r.ok, false);
        const p = r.problems.find((p) => p.kind === 'reordered');
        assert.ok(p, JSON.stringify(r.problems, null, 1));
        assert.match(p.message, new RegExp(`events ${y.ev_id} and ${x.ev_id} .* were swapped`));
      } finally {
        await f.close();
      }
    });

    test('a lifecycle event edited in a sealed range and a forged seal are both caught', async () => {
      const f = await fixture(database.name);
      try {
        const [a] = await sealedJournals(f);
        const lfc = await f.cdb.db.selectFrom('logbook_lfc_event').selectAll().where('operation_id', '=', a).orderBy('seq').execute();
        await sql`update logbook_lfc_event set outcome = 'KO' where seq = ${lfc[1].seq}`.execute(f.cdb.db);
        let r = await verify(f);
        assert.equal(r.first?.evId, lfc[1].ev_id);
        await sql`update logbook_lfc_event set outcome = ${lfc[1].outcome} where seq = ${lfc[1].seq}`.execute(f.cdb.db);
        assert.deepEqual((await verify(f)).problems, []);
        await sql`update logbook_seal set merkle_root = ${'0'.repeat(128)} where n = 1`.execute(f.cdb.db);
        r = await verify(f);
        assert.ok(r.problems.some((p) => p.kind === 'seal' && /Merkle root|seal root/.test(p.message)), JSON.stringify(r.problems, null, 1));
      } finally {
        await f.close();
      }
    });

    test('rebuild fills an empty database from the offers alone, and it verifies', async () => {
      const f = await fixture(database.name);
      const empty = await testConfig(database.name, { dataDir: f.config.dataDir } as any);
      try {
        const [a] = await sealedJournals(f);
        await sealJournals(f.logbook, f.keys);
        // The seal is an operation too: its journal goes to the offers behind its end.
        await f.logbook.flushExports();
        const before = await showOperation(f.cdb, a);
        const counts = async (cdb: typeof f.cdb) =>
          Promise.all(['logbook_operation', 'logbook_op_event', 'logbook_lfc_event', 'logbook_step', 'logbook_seal'].map(async (t) => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(t)}`.execute(cdb.db)).rows[0].n)));
        const want = await counts(f.cdb);
        // A fresh database next to the same offers (SQLite: another file; PostgreSQL: another database).
        const config = { ...f.config, database: database.name === 'postgres' ? empty.config.database : { ...f.config.database, url: `sqlite:${f.config.dataDir}/rebuilt.db` } };
        const cdb = await openAndMigrate(config);
        const storage = await openStorage({ config, cdb });
        try {
          const r = await rebuildFromOffers(cdb, storage, { strategyId: 'default', batchSize: 100 });
          assert.equal(r.seals, 2);
          assert.deepEqual(await counts(cdb), want);
          const report = await verifyJournals(cdb, { storage, strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 50 });
          assert.deepEqual(report.problems, []);
          assert.equal(report.proofsChecked, 2);
          assert.deepEqual(await showOperation(cdb, a), before);
          await assert.rejects(rebuildFromOffers(cdb, storage, { strategyId: 'default', batchSize: 100 }), /not empty/);
        } finally {
          await storage.close();
          await cdb.close();
        }
      } finally {
        await f.close();
        await empty.cleanup().catch(() => {});
      }
    });
  });
}
