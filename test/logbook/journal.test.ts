import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listOperations, showLifecycle, showOperation, verifyJournals, parseProperties, MessageCatalogues, worstStatus } from '../../src/logbook/index.ts';
import { openLogbook } from '../../src/logbook/index.ts';
import { TEST_DATABASES } from '../helpers/db.ts';
import { fixture, sampleIngest } from './fixture.ts';

describe('message catalogues', () => {
  test('properties are parsed with escapes, continuations and both separators', () => {
    const c = parseProperties('# c\n! c\nA.OK=Succès {0}\nB.KO : fin \\\n  suite\nC=\\u00e9t\\u00e9\n');
    assert.equal(c.get('A.OK'), 'Succès {0}');
    assert.equal(c.get('B.KO'), 'fin suite');
    assert.equal(c.get('C'), 'été');
  });

  test('default catalogue first, then the plugin catalogue; placeholders filled; LFC codes fall back', () => {
    const cats = new MessageCatalogues([parseProperties('CHECK_DIGEST.OK=Empreinte {objectId} vérifiée ({0})')]);
    const plugin = new Map([['MY_ACTION.OK', 'Mon action {n}'], ['CHECK_DIGEST.OK', 'never used']]);
    assert.equal(cats.message('CHECK_DIGEST.OK', { objectId: 'o1', 0: 'sha512' }, plugin), 'Empreinte o1 vérifiée (sha512)');
    assert.equal(cats.message('MY_ACTION.OK', { n: 3 }, plugin), 'Mon action 3');
    assert.equal(cats.message('LFC.CHECK_DIGEST.OK', { objectId: 'o2' }), 'Empreinte o2 vérifiée ({0})');
    assert.equal(cats.message('UNKNOWN.OK'), 'UNKNOWN.OK');
  });

  test('status order keeps the worst', () => {
    assert.equal(worstStatus('OK', 'WARNING'), 'WARNING');
    assert.equal(worstStatus('FATAL', 'KO'), 'FATAL');
  });
});

for (const database of TEST_DATABASES) {
  describe(`journals on ${database.name}`, { skip: database.skip }, () => {
    test('an operation journal and its lifecycles are written, chained and read back', async () => {
      const f = await fixture(database.name);
      try {
        const op = await sampleIngest(f.logbook);
        const detail = await showOperation(f.cdb, op);
        assert.ok(detail);
        assert.equal(detail.type, 'INGEST');
        assert.equal(detail.status, 'OK');
        assert.equal(detail.eventCount, 6);
        const step = detail.events.find((e) => e.evType === 'STP_INGEST_CONTROL_SIP' && e.outcome === 'STARTED')!;
        assert.deepEqual(step.events.map((e) => e.evType), ['CHECK_DIGEST', 'CHECK_DIGEST.CALC_CHECK']);
        assert.equal(step.outMessg, "Début de l'étape « Processus du contrôle du bordereau du SIP »");
        assert.equal(step.events[1].outMessg, "Succès de l'étape « Calcul et comparaison de l'empreinte de l'objet obj-1 »");
        assert.equal(step.evIdReqst, 'req-1');
        assert.equal(step.agIdApp, 'alice');

        const lfc = await showLifecycle(f.cdb, `og-${op}-1`);
        assert.equal(lfc.length, 1);
        assert.equal(lfc[0].kind, 'objectgroup');
        assert.deepEqual(lfc[0].events.map((e) => [e.evType, e.outDetail, e.state]), [
          ['LFC.CHECK_DIGEST', 'LFC.CHECK_DIGEST..OK', 'COMMITTED'],
          ['LFC.CHECK_DIGEST.CALC_CHECK', 'LFC.CHECK_DIGEST.CALC_CHECK.OK', 'COMMITTED'],
        ]);
        assert.equal(lfc[0].events[0].outMessg, "Succès de l'étape « Vérification de l'intégrité des objets »", 'LFC.CHECK_DIGEST..OK reads as LFC.CHECK_DIGEST.OK');
        const unit = await showLifecycle(f.cdb, `unit-${op}-0`);
        assert.equal(unit[0].events[0].state, 'ROLLED_BACK', 'a rolled-back step keeps its events, marked undone');
        assert.equal(unit[0].events[0].rollbackReason, 'indexing failed');

        const list = await listOperations(f.cdb, { status: 'OK', type: 'INGEST' });
        assert.deepEqual(list.map((o) => o.id), [op]);
        assert.equal((await listOperations(f.cdb, { status: 'KO' })).length, 0);

        const report = await verifyJournals(f.cdb, { strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 1000 });
        assert.deepEqual(report.problems, []);
        assert.equal(report.events, 6 + 7 + 2);
      } finally {
        await f.close();
      }
    });

    test('concurrent writers share batches and keep every chain whole; a closed journal refuses events', async () => {
      const f = await fixture(database.name, { logbook: { batchSize: 7 } });
      try {
        const op = await f.logbook.startOperation({ id: 'op-concurrent', type: 'INGEST', evType: 'PROCESS_SIP_UNITARY' });
        assert.equal(await f.logbook.startOperation({ id: 'op-concurrent', type: 'INGEST', evType: 'PROCESS_SIP_UNITARY' }), op, 'a replayed start is a no-op');
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            f.logbook.appendLifecycle(i % 2 ? 'unit' : 'objectgroup', `lfc-${i % 5}`, op, 'STEP', [
              { evType: 'LFC.CHECK_DIGEST', outcome: 'OK' },
              { evType: 'LFC.CHECK_DIGEST.CALC_CHECK', outcome: 'OK' },
            ]),
          ),
        );
        await Promise.all(Array.from({ length: 10 }, (_, i) => f.logbook.appendOperation(op, [{ evType: `ACTION_${i}`, outcome: 'OK' }])));
        await f.logbook.endOperation(op, 'WARNING', { evType: 'PROCESS_SIP_UNITARY' });
        await assert.rejects(f.logbook.appendOperation(op, [{ evType: 'LATE', outcome: 'OK' }]), /has ended/);
        await assert.rejects(f.logbook.appendOperation('nope', [{ evType: 'X', outcome: 'OK' }]), /no operation nope/);
        const report = await verifyJournals(f.cdb, { strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 13 });
        assert.deepEqual(report.problems, []);
        assert.equal(report.events, 12 + 80);
        const detail = await showOperation(f.cdb, op);
        assert.equal(detail?.status, 'WARNING');
      } finally {
        await f.close();
      }
    });

    test('full batches from two writers of the same chains (one with stale heads) verify whole', async () => {
      // Batches as big as ingest's (what the append fast path remembers from one event to the
      // next: operation, lifecycle, agent, time, codes), written by two logbooks on one database:
      // the second appends to chains the first cached, so the first's heads go stale and its
      // next batch retries through the database's heads.
      const f = await fixture(database.name);
      const other = openLogbook(f.cdb, f.config, { agentId: 'other-agent' });
      try {
        const op = await f.logbook.startOperation({ type: 'INGEST', evType: 'PROCESS_SIP_UNITARY' });
        const round = (lb: typeof f.logbook, r: number) =>
          Promise.all(
            Array.from({ length: 120 }, (_, l) =>
              lb.appendLifecycle(l % 3 ? 'objectgroup' : 'unit', `lfc-${l % 60}`, op, `STEP_${r % 2}`, [
                { evType: 'LFC.CHECK_DIGEST', outcome: 'OK', outDetail: 'LFC.CHECK_DIGEST..OK' },
                { evType: 'LFC.CHECK_DIGEST.CALC_CHECK', outcome: r % 2 ? 'OK' : 'KO', evDetData: { objectId: `obj-${l}`, digest: 'ab'.repeat(32), round: r } },
                { evType: 'LFC.CHECK_DIGEST.CALC_CHECK', outcome: 'OK', obId: `obj-${l}`, evDetData: { objectId: `obj-${l}`, note: 'é "quoted" \\ \u2028' } },
              ]),
            ),
          );
        await round(f.logbook, 0);
        await round(other, 1);
        await round(f.logbook, 2);
        await other.close();
        const report = await verifyJournals(f.cdb, { strategyId: 'default', publicKey: f.keys.publicKey, pageSize: 500 });
        assert.deepEqual(report.problems, []);
        assert.equal(report.events, 1 + 3 * 120 * 3);
        const chain = await f.cdb.db.selectFrom('logbook_lfc_event').select(['idx', 'ag_id']).where('lfc_kind', '=', 'unit').where('lfc_id', '=', 'lfc-0').orderBy('idx').execute();
        assert.deepEqual(chain.map((r) => r.idx), Array.from({ length: 18 }, (_, i) => i));
        assert.deepEqual([...new Set(chain.map((r) => r.ag_id))].sort(), ['other-agent', 'test-agent']);
      } finally {
        await f.close();
      }
    });
  });
}
