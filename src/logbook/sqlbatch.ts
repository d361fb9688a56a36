import { CompiledQuery, type Kysely } from 'kysely';
import type { Statement } from 'better-sqlite3';
import type { CoffreDb, DialectName } from '../db/index.ts';

/**
 * Multi-row INSERT with bound parameters, its SQL text cached per (table, columns, row count):
 * building a Kysely AST for thousands of values per batch would cost more than the insert itself.
 * On SQLite the prepared statement is cached too (preparing a 10,000-parameter INSERT cost as much
 * as running it, measured), and runs on the better-sqlite3 handle inside the caller's transaction.
 */
const cache = new Map<string, string>();

function insertSql(dialect: DialectName, table: string, columns: readonly string[], rows: number): string {
  const key = `${dialect}|${table}|${columns.join(',')}|${rows}`;
  let text = cache.get(key);
  if (text) return text;
  const parts: string[] = [];
  let p = 1;
  for (let r = 0; r < rows; r++) {
    const ph: string[] = [];
    for (let c = 0; c < columns.length; c++) ph.push(dialect === 'postgres' ? `$${p++}` : '?');
    parts.push(`(${ph.join(',')})`);
  }
  text = `insert into ${table} (${columns.join(',')}) values ${parts.join(',')}`;
  if (cache.size > 200) cache.clear();
  cache.set(key, text);
  return text;
}

const statements = new WeakMap<object, Map<string, Statement>>();

/** A cached prepared statement on the SQLite handle (only inside a transaction the caller holds). */
export function prepared(cdb: Pick<CoffreDb, 'sqlite'>, text: string): Statement {
  let m = statements.get(cdb.sqlite!);
  if (!m) statements.set(cdb.sqlite!, (m = new Map()));
  let st = m.get(text);
  if (!st) {
    if (m.size > 50) m.clear();
    m.set(text, (st = cdb.sqlite!.prepare(text)));
  }
  return st;
}

/**
 * Inserts rows (objects keyed by column) in chunks of `chunk` rows. `trx` must be a transaction
 * of `cdb` the caller holds: on SQLite the rows go through the same connection directly.
 */
export async function insertRows(
  trx: Kysely<any>,
  cdb: Pick<CoffreDb, 'dialect' | 'sqlite'>,
  table: string,
  columns: readonly string[],
  rows: Record<string, unknown>[],
  chunk: number,
): Promise<void> {
  const { dialect } = cdb;
  const width = columns.length;
  for (let i = 0; i < rows.length; i += chunk) {
    const end = Math.min(rows.length, i + chunk);
    const params: unknown[] = new Array((end - i) * width);
    let k = 0;
    for (let r = i; r < end; r++) {
      const row = rows[r];
      for (let c = 0; c < width; c++) params[k++] = row[columns[c]] ?? null;
    }
    const text = insertSql(dialect, table, columns, end - i);
    if (cdb.sqlite) prepared(cdb, text).run(params);
    else await trx.executeQuery(CompiledQuery.raw(text, params));
  }
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
