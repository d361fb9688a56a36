import { sql } from 'kysely';
import type { CoffreDb } from '../db/index.ts';
import type { SealRanges } from './proof.ts';
import { jsonString } from './canonical.ts';
import { chainKey, TABLES, type TableName } from './rows.ts';

export interface Leaf {
  t: TableName;
  seq: number;
  evId: string;
  chain: string;
  idx: number;
  hash: string;
}

export const LEAF_TABLES: TableName[] = ['op', 'lfc', 'step'];

/** One page of stored rows of a table, as the database returns them (hash as bytes). */
export interface LeafPage {
  t: TableName;
  rows: any[];
}

/** The rows of a seal's range, table by table, in seq order, a page at a time. */
export async function* leafPages(cdb: CoffreDb, ranges: SealRanges, pageSize: number): AsyncGenerator<LeafPage> {
  for (const t of LEAF_TABLES) {
    const [from, to] = ranges[t];
    let after = from;
    const table = TABLES[t].sql;
    const cols = t === 'step' ? sql.raw('seq, idx, operation_id, step_id, action, hash') : t === 'lfc' ? sql.raw('seq, idx, operation_id, ev_id, lfc_kind, lfc_id, hash') : sql.raw('seq, idx, operation_id, ev_id, hash');
    // Pages are seq windows on the primary key (a gap in seq only makes a page shorter): no
    // ORDER BY … LIMIT plan for the planner to get wrong on a freshly loaded table.
    while (after < to) {
      const until = Math.min(to, after + pageSize);
      const { rows } = await sql<any>`select ${cols} from ${sql.table(table)} where seq > ${after} and seq <= ${until} order by seq`.execute(cdb.db);
      yield { t, rows };
      after = until;
    }
  }
}

const leafEvId = (t: TableName, r: any): string => (t === 'step' ? `${r.step_id}:${r.action}` : r.ev_id);

/** A stored row as its leaf. */
export function leafOfRow(t: TableName, r: any): Leaf {
  return { t, seq: Number(r.seq), evId: leafEvId(t, r), chain: chainKey(t, r), idx: Number(r.idx), hash: Buffer.from(r.hash).toString('hex') };
}

/**
 * A row's line in a seal proof: the JSON of leafOfRow(t, r) (same keys, same order), written by
 * template, since a seal writes one per event.
 */
export function leafLine(t: TableName, r: any, hashHex: string): string {
  return (
    '{"t":"' + t + '","seq":' + Number(r.seq) + ',"evId":' + jsonString(leafEvId(t, r)) + ',"chain":' + jsonString(chainKey(t, r)) +
    ',"idx":' + Number(r.idx) + ',"hash":"' + hashHex + '"}\n'
  );
}

/** The leaves of a seal: every row in the ranges, table by table, in seq order. */
export async function* leavesInRanges(cdb: CoffreDb, ranges: SealRanges, pageSize: number): AsyncGenerator<Leaf> {
  for await (const { t, rows } of leafPages(cdb, ranges, pageSize)) for (const r of rows) yield leafOfRow(t, r);
}

/** The highest seq of each table, once every writer before now has committed. */
export async function currentMaxSeqs(cdb: CoffreDb): Promise<Record<TableName, number>> {
  return cdb.db.transaction().execute(async (trx) => {
    if (cdb.dialect === 'postgres') {
      // SHARE mode waits for transactions already writing these tables: no event with a lower
      // seq can commit after we read the maximum, so none is ever left out of every seal.
      await sql`lock table logbook_op_event, logbook_lfc_event, logbook_step in share mode`.execute(trx);
    }
    const out = {} as Record<TableName, number>;
    for (const t of LEAF_TABLES) {
      const { rows } = await sql<{ m: number | null }>`select max(seq) as m from ${sql.table(TABLES[t].sql)}`.execute(trx);
      out[t] = Number(rows[0]?.m ?? 0);
    }
    return out;
  });
}
