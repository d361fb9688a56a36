import { CompiledQuery, type Kysely } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { CoffreDb, Database } from '../db/index.ts';
import type { RowOp, RowWrites } from '../plugins/api.ts';
import { DrainLoop } from '../platform/drain-loop.ts';

/** Rows per statement: far under SQLite's (32,766) and PostgreSQL's (65,535) bound parameters. */
const MAX_PARAMETERS_PER_STATEMENT = 8_000;
/** Rows taken into one transaction, so that a burst does not make one huge commit. */
const MAX_ROWS_PER_DRAIN = 20_000;

interface Pending {
  ops: RowOp[];
  rows: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Coalesces the small writes of concurrent plugin calls (an object group's item data, a unit's
 * index row…) into one transaction and a few multi-row statements. A call's promise resolves once
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

/** Merges ops by table and conflict rule (first-seen order), then writes them in chunks. */
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
    const columns = Object.keys(list[0]);
    for (const [from, count] of chunks(list.length, columns.length, cdb.dialect === 'sqlite')) {
      const params: unknown[] = [];
      for (let r = from; r < from + count; r++) for (const c of columns) params.push(list[r][c] ?? null);
      const text = insertSql(cdb.dialect, op, columns, count);
      if (cdb.sqlite) prepared(cdb.sqlite, text).run(params);
      else await trx.executeQuery(CompiledQuery.raw(text, params));
    }
  }
}

/**
 * Row ranges [from, count) of one statement each. On SQLite, counts come from a few fixed sizes,
 * so that the prepared statements are reused from drain to drain; elsewhere, as many rows as the
 * parameter budget allows.
 */
function* chunks(total: number, width: number, fixedSizes: boolean): Generator<[number, number]> {
  const max = Math.max(1, Math.floor(MAX_PARAMETERS_PER_STATEMENT / Math.max(1, width)));
  let from = 0;
  while (from < total) {
    const left = total - from;
    const count = fixedSizes ? Math.min(max, STATEMENT_SIZES.find((n) => n <= left) ?? 1) : Math.min(max, left);
    yield [from, count];
    from += count;
  }
}
const STATEMENT_SIZES = [128, 32, 8, 1];

/**
 * SQL of a multi-row insert with its conflict rule, built without Kysely's query builder (its
 * per-value nodes cost more than the insert itself) and cached; names come from the code, quoted.
 */
const sqlCache = new Map<string, string>();
function insertSql(dialect: string, op: RowOp, columns: string[], rows: number): string {
  const key = `${dialect}|${op.table}|${columns.join(',')}|${op.conflict.join(',')}|${op.update?.join(',') ?? ''}|${rows}`;
  let text = sqlCache.get(key);
  if (text) return text;
  const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
  let p = 1;
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${columns.map(() => (dialect === 'postgres' ? `$${p++}` : '?')).join(',')})`);
  text = `insert into ${q(op.table)} (${columns.map(q).join(',')}) values ${values.join(',')}`;
  if (op.conflict.length) {
    const target = `on conflict (${op.conflict.map(q).join(',')})`;
    text += op.update?.length ? ` ${target} do update set ${op.update.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}` : ` ${target} do nothing`;
  }
  if (sqlCache.size > 500) sqlCache.clear();
  sqlCache.set(key, text);
  return text;
}

/** Prepared statements on the SQLite handle, used only inside a Kysely transaction held here. */
const statements = new WeakMap<SQLite.Database, Map<string, SQLite.Statement>>();
function prepared(sqlite: SQLite.Database, text: string): SQLite.Statement {
  let m = statements.get(sqlite);
  if (!m) statements.set(sqlite, (m = new Map()));
  let st = m.get(text);
  if (!st) {
    if (m.size > 100) m.clear();
    m.set(text, (st = sqlite.prepare(text)));
  }
  return st;
}
