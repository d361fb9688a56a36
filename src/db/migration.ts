import type { Kysely } from 'kysely';
import { sql } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/**
 * Portable column types, so that one migration serves both databases.
 * Conventions: timestamps are ISO-8601 text (sortable), booleans are integers 0/1,
 * JSON documents are text, byte strings are blob/bytea, counters are bigint.
 */
export interface ColumnTypes {
  dialect: DialectName;
  /** An auto-incrementing 64-bit primary key. */
  serial: ReturnType<typeof sql.raw>;
  blob: ReturnType<typeof sql.raw>;
}

export function columnTypes(dialect: DialectName): ColumnTypes {
  return {
    dialect,
    serial: sql.raw(dialect === 'postgres' ? 'bigserial' : 'integer'),
    blob: sql.raw(dialect === 'postgres' ? 'bytea' : 'blob'),
  };
}

/** One step of a component's schema. `name` must be unique across components. */
export interface CoffreMigration {
  name: string;
  up(db: Kysely<any>, types: ColumnTypes): Promise<void>;
}
