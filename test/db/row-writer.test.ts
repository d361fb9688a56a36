import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openAndMigrate } from '../../src/db/index.ts';
import { RowWriter } from '../../src/db/row-writer.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';

const item = (seq: number, data: string) => ({ operation_id: 'op1', kind: 'objectgroup', seq, item_id: `op1-g${seq}`, data });
const upsertItem = (seq: number, data: string) => ({ table: 'ingest_item', rows: [item(seq, data)], conflict: ['operation_id', 'kind', 'seq'], update: ['data'] });

for (const database of TEST_DATABASES) {
  describe(`row writer on ${database.name}`, { skip: database.skip }, () => {
    test('concurrent calls land together; each call resolves once its rows are committed', async () => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      try {
        const writer = new RowWriter(cdb);
        // 300 calls in flight (more than one statement's worth of rows), each an upsert of one item.
        await Promise.all(Array.from({ length: 300 }, (_, i) => writer.write([upsertItem(i, `v1-${i}`)])));
        const rows = await cdb.db.selectFrom('ingest_item').selectAll().orderBy('seq').execute();
        assert.equal(rows.length, 300);
        assert.deepEqual(rows.map((r) => r.data), Array.from({ length: 300 }, (_, i) => `v1-${i}`));

        // The same key twice in one drain: the later call wins (as if run one after the other).
        await Promise.all([writer.write([upsertItem(7, 'first')]), writer.write([upsertItem(7, 'second')])]);
        const seven = await cdb.db.selectFrom('ingest_item').select('data').where('seq', '=', 7).executeTakeFirstOrThrow();
        assert.equal(seven.data, 'second');

        // "do nothing" on conflict keeps the row there; several tables in one call.
        await writer.write([
          { table: 'object_group', rows: [{ id: 'g1', operation_id: 'op1', unit_ids: '[]', created_at: 'now' }], conflict: ['id'] },
          { table: 'object_copy', rows: [{ object_id: 'o1', offer_id: 'a', digest: 'd', size: 1, created_at: 'now' }, { object_id: 'o1', offer_id: 'b', digest: 'd', size: 1, created_at: 'now' }], conflict: ['object_id', 'offer_id'] },
        ]);
        await writer.write([{ table: 'object_group', rows: [{ id: 'g1', operation_id: 'op2', unit_ids: '[]', created_at: 'later' }], conflict: ['id'] }]);
        const g = await cdb.db.selectFrom('object_group').selectAll().executeTakeFirstOrThrow();
        assert.equal(g.operation_id, 'op1');
        assert.equal((await cdb.db.selectFrom('object_copy').selectAll().execute()).length, 2);
      } finally {
        await cdb.close();
        await cleanup();
      }
    });

    test('a failing call is rejected alone; the others in its drain are written', async () => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      try {
        const writer = new RowWriter(cdb);
        const results = await Promise.allSettled([
          writer.write([upsertItem(1, 'a')]),
          writer.write([{ table: 'no_such_table', rows: [{ x: 1 }], conflict: [] }]),
          writer.write([upsertItem(2, 'b')]),
        ]);
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
        const rows = await cdb.db.selectFrom('ingest_item').select('data').orderBy('seq').execute();
        assert.deepEqual(rows.map((r) => r.data), ['a', 'b']);
      } finally {
        await cdb.close();
        await cleanup();
      }
    });
  });
}
