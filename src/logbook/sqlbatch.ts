import { CompiledQuery, type Kysely } from 'kysely';
import type { DialectName } from '../db/index.ts';

/**
 * Multi-row INSERT with bound parameters, its SQL text cached per (table, columns, row count):
 * building a Kysely AST for thousands of values per batch would cost more than the insert itself.
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

/** Inserts rows (objects keyed by column) in chunks of `chunk` rows. */
export async function insertRows(
  db: Kysely<any>,
  dialect: DialectName,
  table: string,
  columns: readonly string[],
  rows: Record<string, unknown>[],
  chunk: number,
): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const slice = rows.slice(i, i + chunk);
    const params: unknown[] = new Array(slice.length * columns.length);
    let k = 0;
    for (const row of slice) for (const c of columns) params[k++] = row[c] ?? null;
    await db.executeQuery(CompiledQuery.raw(insertSql(dialect, table, columns, slice.length), params));
  }
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
