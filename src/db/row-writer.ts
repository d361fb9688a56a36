import type { Kysely } from 'kysely';
import type { CoffreDb } from './open.ts';
import type { Database } from './tables.ts';
import { insertRows } from './batch-sql.ts';
import { DrainLoop } from '../platform/drain-loop.ts';

/**
 * One write of rows: inserted, or on a `conflict` key left alone (no `update`) or updated (the
 * `update` columns). Rows of one table carry the same columns.
 */
export interface RowOp {
  table: string;
  rows: Record<string, unknown>[];
  conflict: string[];
  update?: string[];
}

/**
 * Small writes shared with the other calls in flight: the ops of one call are committed together
 * (the promise resolves once they are), in one transaction with other calls' ops. For the many
 * one-row writes of per-item actions (item data, index rows), instead of one transaction each.
 */
export interface RowWrites {
  write(ops: RowOp[]): Promise<void>;
}

/** Rows taken into one transaction, so that a burst does not make one huge commit. */
const MAX_ROWS_PER_DRAIN = 20_000;

interface Pending {
  ops: RowOp[];
  rows: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Coalesces the small writes of concurrent callers (plugin calls: an object group's item data, a
 * unit's index row…; the storage engine's records of objects and copies) into one transaction and
 * a few multi-row statements. A call's promise resolves once
 * its rows are committed, exactly as if it had written them itself: only the commit is shared.
 *
 * Why: per-item plugin calls each wrote their own row in their own transaction (10,000 commits and
 * 10,000 statements compiled and prepared for 10,000 objects); with the workers' items in flight
 * (`ingest.itemConcurrency` × workers) one commit now carries dozens of them.
 *
 * The ops of one call land in the same transaction, in the order given. Rows of several calls
 * for the same table and conflict rule share a statement; when two calls write the same key in
 * one drain, the later one wins (as if they had run one after the other). If a shared
 * transaction fails, each call is retried alone, so only the faulty one is rejected.
 */
export class RowWriter implements RowWrites {
  private queue: Pending[] = [];
  private readonly drains = new DrainLoop(() => this.drain(), () => this.queue.length > 0);

  constructor(private readonly cdb: CoffreDb) {}

  write(ops: RowOp[]): Promise<void> {
    const rows = ops.reduce((n, op) => n + op.rows.length, 0);
    if (rows === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, rows, resolve, reject });
      this.drains.kick();
    });
  }

  /** Waits until everything queued is written (or failed). */
  async flush(): Promise<void> {
    await this.drains.idle();
  }

  private async drain(): Promise<void> {
    // Callers of this turn of the event loop (the other items in flight) join the batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.queue.length) {
      let rows = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || rows + this.queue[n].rows <= MAX_ROWS_PER_DRAIN)) rows += this.queue[n++].rows;
      const batch = this.queue.splice(0, n);
      try {
        await this.cdb.db.transaction().execute((trx) => writeMerged(trx, this.cdb, batch.flatMap((p) => p.ops)));
        for (const p of batch) p.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0].reject(err);
          continue;
        }
        // Find the faulty call: each one alone, in its own transaction.
        for (const p of batch) {
          try {
            await this.cdb.db.transaction().execute((trx) => writeMerged(trx, this.cdb, p.ops));
            p.resolve();
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
  }
}

/** Merges ops by table and conflict rule (first-seen order), then writes them in multi-row statements. */
async function writeMerged(trx: Kysely<Database>, cdb: CoffreDb, ops: RowOp[]): Promise<void> {
  const merged = new Map<string, { op: RowOp; rows: Map<string, Record<string, unknown>> | Record<string, unknown>[] }>();
  for (const op of ops) {
    const key = `${op.table}\0${op.conflict.join(',')}\0${op.update?.join(',') ?? ''}`;
    let m = merged.get(key);
    if (!m) merged.set(key, (m = { op, rows: op.conflict.length ? new Map() : [] }));
    for (const row of op.rows) {
      if (Array.isArray(m.rows)) {
        m.rows.push(row);
        continue;
      }
      // One row per key in a statement (PostgreSQL refuses to update a row twice in one upsert):
      // the later write wins an update, the first one stands for "do nothing".
      const id = op.conflict.map((c) => String(row[c])).join('\0');
      if (op.update?.length) {
        m.rows.delete(id);
        m.rows.set(id, row);
      } else if (!m.rows.has(id)) {
        m.rows.set(id, row);
      }
    }
  }
  for (const { op, rows } of merged.values()) {
    const list = Array.isArray(rows) ? rows : [...rows.values()];
    if (list.length === 0) continue;
    await insertRows(trx, cdb, op.table, Object.keys(list[0]), list, { conflict: { columns: op.conflict, update: op.update } });
  }
}
