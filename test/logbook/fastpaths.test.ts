/**
 * The append and seal hot paths write the same bytes as the plain definitions they replace:
 * event hashes from the scratch-buffer writer, canonical JSON of flat objects, proof lines by
 * template, the one-shot Merkle tree; and the prepared INSERTs on SQLite stay inside the caller's
 * transaction.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson, jsonString } from '../../src/logbook/canonical.ts';
import { canonicalRowText, INSERT_COLUMNS, rowHashHex, type TableName } from '../../src/logbook/rows.ts';
import { leafLine, leafOfRow } from '../../src/logbook/leaves.ts';
import { MerkleBuilder } from '../../src/logbook/merkle.ts';
import { insertRows } from '../../src/db/batch-sql.ts';
import { newEventId } from '../../src/logbook/eventid.ts';
import { openAndMigrate } from '../../src/db/index.ts';
import { TEST_DATABASES, testConfig } from '../helpers/db.ts';

/** Canonical JSON as first written: sorted keys at every level, recursion, nothing skipped. */
function referenceCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return '[' + value.map(referenceCanonical).join(',') + ']';
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return referenceCanonical((value as { toJSON(): unknown }).toJSON());
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) if (obj[k] !== undefined) parts.push(JSON.stringify(k) + ':' + referenceCanonical(obj[k]));
  return '{' + parts.join(',') + '}';
}

/** RFC 6962 Merkle Tree Hash, recursive, SHA-512. */
function referenceMerkle(leaves: Buffer[]): string {
  const h = (...parts: Buffer[]) => parts.reduce((x, p) => x.update(p), createHash('sha512')).digest();
  const mth = (d: Buffer[]): Buffer => {
    if (d.length === 1) return h(Buffer.from([0]), d[0]);
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return h(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
  };
  return leaves.length ? mth(leaves).toString('hex') : createHash('sha512').digest('hex');
}

const AWKWARD = ['plain', 'é accentué', 'quote " and \\ backslash', 'line\nbreak\ttab\u0001', '\u007f del', '\u2028 sep', '😀 pair', 'lone \ud83d high', 'lone \ude00 low', 'x'.repeat(300), 'é'.repeat(2000), ''];

function eventRow(i: number, text: string): Record<string, unknown> {
  return {
    idx: i, ev_id: `ev-${i}-${text}`, ev_parent_id: i % 2 ? null : text, ev_type: 'LFC.CHECK_DIGEST', ev_date_time: '2026-01-01T00:00:00.000Z',
    operation_id: 'op-1', ev_type_proc: 'INGEST', outcome: 'OK', out_detail: 'LFC.CHECK_DIGEST.OK', out_messg: `message ${text}`, ag_id: 'agent',
    ob_id: i % 3 ? text : null, ev_det_data: i % 4 ? canonicalJson({ text, n: i }) : null, ev_id_reqst: null, ag_id_app: text || null,
    lfc_kind: 'unit', lfc_id: `u-${text}`, step_id: 'STP', hash: null, prev_hash: null,
  };
}

describe('logbook fast paths write the same bytes', () => {
  test('event hashes from the scratch buffer equal SHA-256 of the canonical text, for every table', () => {
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    AWKWARD.forEach((text, i) => {
      for (const t of ['op', 'lfc'] as TableName[]) {
        for (const prev of [null, randomBytes(32).toString('hex')]) {
          const row = eventRow(i, text);
          assert.equal(rowHashHex(t, row, prev), sha(canonicalRowText(t, row, prev)), `${t} ${JSON.stringify(text)}`);
        }
      }
      const step = { operation_id: `op-${text}`, step_id: text, action: 'ROLLBACK', reason: i % 2 ? text : null, at: '2026-01-01T00:00:00.000Z' };
      assert.equal(rowHashHex('step', step, null), sha(canonicalRowText('step', step, null)));
    });
    // Too big for the scratch buffer: the string path takes over.
    const huge = eventRow(1, 'y'.repeat(100_000));
    assert.equal(rowHashHex('lfc', huge, null), sha(canonicalRowText('lfc', huge, null)));
    // prevHex stands for the stored prev_hash bytes.
    const prev = randomBytes(32);
    const row = { ...eventRow(2, 'z'), prev_hash: prev };
    assert.equal(canonicalRowText('lfc', row), canonicalRowText('lfc', row, prev.toString('hex')));
  });

  test('remembered runs and cached codes never leak one event into the next', () => {
    // Rows where repeating columns (agent, operation, lifecycle, step, time) and codes change
    // now and then, alone or together, including to awkward text, null, undefined and non-strings:
    // each hash must still be that of its own canonical text.
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const pick = <T>(list: T[], i: number, every: number): T => list[Math.floor(i / every) % list.length];
    const texts = [...AWKWARD, 'same', 'same'];
    let prev: string | null = null;
    for (let i = 0; i < 3000; i++) {
      const row: Record<string, unknown> = {
        ...eventRow(i, pick(texts, i, 7)),
        ag_id: pick(['agent', 'agent', 'other', 'é'], i, 3),
        ag_id_app: pick([null, undefined, 'app', 42], i, 5),
        ev_date_time: pick(['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.001Z'], i, 2),
        operation_id: pick(['op-1', 'op-2', 'op "3"'], i, 11),
        lfc_id: pick(['og-1', 'og-2', `og-${i}`], i, 10),
        step_id: pick(['STP', 'STP_OTHER', '\u2028'], i, 13),
        ev_type: pick(['LFC.A', 'LFC.B', 'LFC.A', `LFC.${i}`, 'x'.repeat(200)], i, 1),
        out_detail: pick(['LFC.A.OK', 'LFC.B.OK', null, true], i, 1),
        outcome: pick(['OK', 'KO', 'WARNING'], i, 4),
      };
      for (const t of ['op', 'lfc'] as TableName[]) assert.equal(rowHashHex(t, row, prev), sha(canonicalRowText(t, row, prev)), `row ${i} (${t})`);
      prev = rowHashHex('lfc', row, prev);
    }
    // An object in a remembered column is never taken for the same value after it changes.
    const detail = { v: 1 };
    const row = { ...eventRow(1, 'obj'), ag_id_app: detail };
    const first = rowHashHex('op', row, null);
    detail.v = 2;
    assert.equal(rowHashHex('op', row, null), sha(canonicalRowText('op', row, null)));
    assert.notEqual(rowHashHex('op', row, null), first);
    for (let i = 0; i < 50; i++) {
      const step = { operation_id: pick(['op-1', 'op-2'], i, 3), step_id: pick(['S1', 'S2'], i, 2), action: pick(['COMMIT', 'ROLLBACK'], i, 5), reason: pick([null, 'why', 'why'], i, 1), at: pick(['t1', 't2'], i, 4) };
      assert.equal(rowHashHex('step', step, prev), sha(canonicalRowText('step', step, prev)));
    }
  });

  test('event ids are distinct version 4 UUIDs, as crypto.randomUUID makes them', () => {
    const ids = Array.from({ length: 1000 }, () => newEventId());
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('canonical JSON of flat objects matches the general definition', () => {
    const odd = Object.create(null) as Record<string, unknown>;
    odd.z = 1;
    odd.a = 'é';
    const cases: unknown[] = [
      {}, odd, { b: 1, a: 'x', c: null, d: undefined, e: true, f: NaN, g: -0, h: Infinity, 2: 'two', 10: 'ten', é: '😀', B: '\ud83d', '"q': '\n' },
      { nested: { b: 1, a: 2 } }, { list: [3, { y: 1, x: 2 }] }, { big: 12n }, new Date(0), { toJSON: () => ({ b: 1, a: 2 }) },
      ...AWKWARD.map((s) => ({ [s]: s, k: s })),
    ];
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${(i * 7) % 20}`, i % 3 ? `v${i}` : i]));
    cases.push(many, { ...many, 3: 'x', ab: '\ud800' });
    for (const c of cases) assert.equal(canonicalJson(c), referenceCanonical(c));
    for (const s of [...AWKWARD, 'x'.repeat(32) + '"', 'y'.repeat(31) + '\u0000', '\udfff']) assert.equal(jsonString(s), JSON.stringify(s));
  });

  test('proof lines by template are the JSON of the leaf', () => {
    AWKWARD.forEach((text, i) => {
      const hash = randomBytes(32);
      const rows: [TableName, Record<string, unknown>][] = [
        ['op', { seq: i + 1, idx: i, operation_id: `op-${text}`, ev_id: text, hash }],
        ['lfc', { seq: i + 1, idx: i, operation_id: 'op', ev_id: text, lfc_kind: 'objectgroup', lfc_id: text, hash }],
        ['step', { seq: String(i + 1), idx: String(i), operation_id: text, step_id: text, action: 'COMMIT', hash }],
      ];
      for (const [t, r] of rows) assert.equal(leafLine(t, r, hash.toString('hex')), JSON.stringify(leafOfRow(t, r)) + '\n');
    });
  });

  test('the Merkle builder gives the RFC 6962 root for every tree shape', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100]) {
      const leaves = Array.from({ length: n }, () => randomBytes(32));
      const tree = new MerkleBuilder();
      for (const l of leaves) tree.add(l);
      assert.equal(tree.root(), referenceMerkle(leaves), `${n} leaves`);
      assert.equal(tree.count, n);
    }
  });
});

for (const database of TEST_DATABASES) {
  describe(`batched INSERTs (${database.name})`, { skip: database.skip }, () => {
    test('rows go through the caller transaction: a rollback leaves none, a commit keeps them all', async () => {
      const { config, cleanup } = await testConfig(database.name);
      const cdb = await openAndMigrate(config);
      try {
        const rows = (tag: string) => Array.from({ length: 7 }, (_, i) => ({ ...eventRow(i, tag), hash: randomBytes(32), lfc_id: `lfc-${tag}` }));
        await assert.rejects(
          cdb.db.transaction().execute(async (trx) => {
            await insertRows(trx, cdb, 'logbook_lfc_event', INSERT_COLUMNS.lfc, rows('rolled-back'), { maxRowsPerStatement: 3 });
            throw new Error('abort');
          }),
          /abort/,
        );
        await cdb.db.transaction().execute((trx) => insertRows(trx, cdb, 'logbook_lfc_event', INSERT_COLUMNS.lfc, rows('kept'), { maxRowsPerStatement: 3 }));
        const stored = await cdb.db.selectFrom('logbook_lfc_event').select(['lfc_id', 'idx']).orderBy('seq').execute();
        assert.deepEqual(stored, Array.from({ length: 7 }, (_, i) => ({ lfc_id: 'lfc-kept', idx: i })));
      } finally {
        await cdb.close();
        await cleanup();
      }
    });
  });
}
