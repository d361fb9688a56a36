import { CompiledQuery, type Kysely } from 'kysely';
import type { Statement } from 'better-sqlite3';
import type { CoffreDb } from './open.ts';
import type { DialectName } from './migration.ts';

/**
 * Multi-row INSERTs with bound parameters for the hot batch writers (logbook, row writer, storage
 * records). Why not Kysely's query builder: its per-value nodes cost more than the insert itself
 * (measured: ~400 µs to build and compile a 3-row upsert). The SQL text is cached per (table,
 * columns, row count, conflict rule); on SQLite the prepared statement is cached too (preparing a
 * 10,000-parameter INSERT cost as much as running it) and runs on the better-sqlite3 handle,
 * inside the transaction the caller holds.
 */

/** What to do when a row's key is there already: nothing, or update these columns. */
export interface OnConflict {
  columns: readonly string[];
  update?: readonly string[];
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const texts = new Map<string, string>();

export function insertSql(dialect: DialectName, table: string, columns: readonly string[], rows: number, conflict?: OnConflict): string {
  const key = `${dialect}|${table}|${columns.join(',')}|${rows}|${conflict?.columns.join(',') ?? ''}|${conflict?.update?.join(',') ?? ''}`;
  let text = texts.get(key);
  if (text) return text;
  let p = 1;
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${columns.map(() => (dialect === 'postgres' ? `$${p++}` : '?')).join(',')})`);
  text = `insert into ${quote(table)} (${columns.map(quote).join(',')}) values ${values.join(',')}`;
  if (conflict?.columns.length) {
    const target = `on conflict (${conflict.columns.map(quote).join(',')})`;
    text += conflict.update?.length ? ` ${target} do update set ${conflict.update.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}` : ` ${target} do nothing`;
  }
  if (texts.size > 500) texts.clear();
  texts.set(key, text);
  return text;
}

const statements = new WeakMap<object, Map<string, Statement>>();

/** A cached prepared statement on the SQLite handle (only inside a transaction the caller holds). */
export function prepared(cdb: Pick<CoffreDb, 'sqlite'>, text: string): Statement {
  let m = statements.get(cdb.sqlite!);
  if (!m) statements.set(cdb.sqlite!, (m = new Map()));
  let st = m.get(text);
  if (!st) {
    if (m.size > 100) m.clear();
    m.set(text, (st = cdb.sqlite!.prepare(text)));
  }
  return st;
}

/** Rows per statement: far under SQLite's (32,766) and PostgreSQL's (65,535) bound parameters. */
const MAX_PARAMETERS_PER_STATEMENT = 8_000;
/** Row counts of SQLite statements: a few fixed sizes, so that prepared statements are reused. */
const SQLITE_STATEMENT_SIZES = [512, 128, 32, 8, 4, 2, 1];

/**
 * Inserts rows (objects keyed by column; every row has `columns`) in as few statements as the
 * parameter budget allows, at most `maxRowsPerStatement` rows each. `trx` must be a transaction of
 * `cdb` the caller holds: on SQLite the rows go through the same connection directly.
 */
export async function insertRows(
  trx: Kysely<any>,
  cdb: Pick<CoffreDb, 'dialect' | 'sqlite'>,
  table: string,
  columns: readonly string[],
  rows: readonly Record<string, unknown>[],
  options: { conflict?: OnConflict; maxRowsPerStatement?: number } = {},
): Promise<void> {
  const width = columns.length;
  const max = Math.max(1, Math.min(options.maxRowsPerStatement ?? Infinity, Math.floor(MAX_PARAMETERS_PER_STATEMENT / Math.max(1, width))));
  for (let from = 0; from < rows.length; ) {
    const left = rows.length - from;
    const count = cdb.sqlite ? Math.min(max, SQLITE_STATEMENT_SIZES.find((n) => n <= left) ?? 1) : Math.min(max, left);
    const params: unknown[] = new Array(count * width);
    let k = 0;
    for (let r = from; r < from + count; r++) {
      const row = rows[r];
      for (let c = 0; c < width; c++) params[k++] = row[columns[c]] ?? null;
    }
    const text = insertSql(cdb.dialect, table, columns, count, options.conflict);
    if (cdb.sqlite) prepared(cdb, text).run(params);
    else await trx.executeQuery(CompiledQuery.raw(text, params));
    from += count;
  }
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
