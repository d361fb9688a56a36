import { sql } from 'kysely';
import { sealObjectId, sealRowFromProof, TRACEABILITY_CONTAINER } from './proof.ts';
import type { CoffreDb } from '../db/index.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { JsonLinesFile, readJsonLines } from './jsonl.ts';
import { hex, INSERT_COLUMNS, type TableName } from './rows.ts';
import { insertRows } from '../db/batch-sql.ts';
import type { SqlLogbook } from './logbook.ts';

export const LOGBOOKS_CONTAINER = 'logbooks';
export const journalObjectId = (n: number): string => `journal-${n}`;

/**
 * Writes operation n's journal to the offers (container `logbooks`, write-once) as JSON lines:
 * the operation row, its events, its step records and every lifecycle event it wrote, each with
 * seq, idx, hash and prev_hash, so that a rebuild restores the chains and the seal ranges exactly.
 */
export async function exportOperation(logbook: SqlLogbook, n: number, operationId: string): Promise<boolean> {
  const storage = logbook.storage();
  if (!storage) return false;
  const { db } = logbook.cdb;
  const pageSize = logbook.config.pageSize;
  const file = new JsonLinesFile();
  try {
    const op = await db.selectFrom('logbook_operation').selectAll().where('id', '=', operationId).executeTakeFirstOrThrow();
    const end = await db.selectFrom('logbook_operation_end').selectAll().where('operation_id', '=', operationId).executeTakeFirst();
    await file.write({ t: 'operation', n, ...op, end: end ?? null });
    for (const t of ['op', 'step', 'lfc'] as TableName[]) {
      const table = t === 'op' ? 'logbook_op_event' : t === 'step' ? 'logbook_step' : 'logbook_lfc_event';
      let after = 0;
      for (;;) {
        const rows = await db
          .selectFrom(table as 'logbook_op_event')
          .selectAll()
          .where('operation_id', '=', operationId)
          .where('seq', '>', after)
          .orderBy('seq')
          .limit(pageSize)
          .execute();
        for (const r of rows) {
          const wait = file.write({ t, ...r, hash: hex(r.hash), prev_hash: hex(r.prev_hash) });
          if (wait) await wait;
        }
        if (rows.length < pageSize) break;
        after = rows[rows.length - 1].seq;
      }
    }
    const source = await file.finish();
    const res = await storage.write({ strategyId: logbook.config.strategy, container: LOGBOOKS_CONTAINER, id: journalObjectId(n), source });
    if (res.status !== 'OK') throw new Error(`journal ${n} of operation ${operationId} not written to every offer: ${res.message ?? res.copies.map((c) => `${c.offerId} ${c.status} ${c.message ?? ''}`).join('; ')}`);
    await db
      .insertInto('logbook_export_done')
      .values({ n, digest: res.digest, written_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('n').doNothing())
      .execute();
    return true;
  } finally {
    file.remove();
  }
}

/** Writes every finished operation's journal that the offers do not yet hold; returns how many. */
export async function flushExports(logbook: SqlLogbook): Promise<number> {
  if (!logbook.storage()) return 0;
  const pending = await logbook.cdb.db
    .selectFrom('logbook_export as x')
    .leftJoin('logbook_export_done as d', 'd.n', 'x.n')
    .select(['x.n', 'x.operation_id'])
    .where('d.n', 'is', null)
    .orderBy('x.n')
    .execute();
  let done = 0;
  for (const p of pending) if (await exportOperation(logbook, p.n, p.operation_id)) done++;
  return done;
}

export interface RebuildResult {
  operations: number;
  events: number;
  lifecycleEvents: number;
  stepRecords: number;
  seals: number;
}

async function readObject(storage: StorageEngine, strategyId: string, container: string, id: string) {
  const where = await storage.exists(strategyId, container, id);
  if (!Object.values(where).some(Boolean)) return undefined;
  return storage.read({ strategyId, container, id, verifyDigest: true });
}

/**
 * Fills an empty database from the offers alone: journals `journal-1`, `journal-2`… then seal
 * proofs `seal-1`, `seal-2`… (a few missing numbers in a row end the walk: an export that failed
 * and was retried later leaves no gap, but a lost one should not hide the rest).
 */
export async function rebuildFromOffers(
  cdb: CoffreDb,
  storage: StorageEngine,
  options: { strategyId: string; batchSize: number; maxGap?: number; onProgress?: (msg: string) => void },
): Promise<RebuildResult> {
  const { db, dialect } = cdb;
  const existing = await db.selectFrom('logbook_operation').select('id').limit(1).execute();
  const existingEv = await db.selectFrom('logbook_lfc_event').select('seq').limit(1).execute();
  if (existing.length || existingEv.length) throw new Error('the journals are not empty: rebuild fills an empty database only');
  const maxGap = options.maxGap ?? 10;
  const result: RebuildResult = { operations: 0, events: 0, lifecycleEvents: 0, stepRecords: 0, seals: 0 };
  let misses = 0;
  for (let n = 1; misses < maxGap; n++) {
    const obj = await readObject(storage, options.strategyId, LOGBOOKS_CONTAINER, journalObjectId(n));
    if (!obj) {
      misses++;
      continue;
    }
    misses = 0;
    const batch: Record<TableName, Record<string, unknown>[]> = { op: [], lfc: [], step: [] };
    await db.transaction().execute(async (trx) => {
      const flush = async (t: TableName) => {
        const table = t === 'op' ? 'logbook_op_event' : t === 'step' ? 'logbook_step' : 'logbook_lfc_event';
        await insertRows(trx, cdb, table, [...INSERT_COLUMNS[t], 'seq'], batch[t], { maxRowsPerStatement: options.batchSize });
        batch[t] = [];
      };
      for await (const line of readJsonLines(obj.body, `journal ${n}`)) {
        if (line.t === 'operation') {
          const { t: _t, n: exportN, end, ...op } = line;
          await trx.insertInto('logbook_operation').values(op).execute();
          if (end) await trx.insertInto('logbook_operation_end').values(end).execute();
          await trx.insertInto('logbook_export').values({ n: exportN, operation_id: op.id, created_at: end?.ended_at ?? op.started_at }).execute();
          result.operations++;
          continue;
        }
        const t = line.t as TableName;
        if (!(t in batch)) throw new Error(`journal ${n}: unknown line type ${line.t}`);
        delete line.t;
        line.hash = Buffer.from(line.hash, 'hex');
        line.prev_hash = line.prev_hash === null ? null : Buffer.from(line.prev_hash, 'hex');
        batch[t].push(line);
        if (t === 'op') result.events++;
        else if (t === 'lfc') result.lifecycleEvents++;
        else result.stepRecords++;
        if (batch[t].length >= options.batchSize) await flush(t);
      }
      for (const t of ['op', 'lfc', 'step'] as TableName[]) await flush(t);
      await trx.insertInto('logbook_export_done').values({ n, digest: 'rebuilt', written_at: new Date().toISOString() }).execute();
    });
    options.onProgress?.(`journal ${n} restored`);
  }
  misses = 0;
  for (let n = 1; misses < maxGap; n++) {
    const obj = await readObject(storage, options.strategyId, TRACEABILITY_CONTAINER, sealObjectId(n));
    if (!obj) {
      misses++;
      continue;
    }
    misses = 0;
    let header: any;
    let footer: any;
    for await (const line of readJsonLines(obj.body, `seal ${n}`)) {
      if (line.proof) header = line;
      else if (line.sealRoot) footer = line;
    }
    if (!header || !footer) throw new Error(`seal proof ${n} is incomplete (no header or no footer line)`);
    await db.insertInto('logbook_seal').values(sealRowFromProof(header, footer, obj.size)).execute();
    result.seals++;
  }
  if (dialect === 'postgres') {
    for (const table of ['logbook_op_event', 'logbook_lfc_event', 'logbook_step']) {
      await sql`select setval(pg_get_serial_sequence(${table}, 'seq'), coalesce((select max(seq) from ${sql.table(table)}), 0) + 1, false)`.execute(db);
    }
  }
  return result;
}
