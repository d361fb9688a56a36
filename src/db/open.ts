import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import SQLite from 'better-sqlite3';
import type pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration } from 'kysely';
import type { CoffreConfig } from '../config/index.ts';
import type { Database } from './tables.ts';
import { allMigrations } from './migrations.ts';
import { columnTypes, type DialectName } from './migration.ts';
import { WalCheckpointer } from './wal-checkpoint.ts';

const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;

/** The PostgreSQL client, loaded only for a PostgreSQL database: ~14 MB of RSS SQLite never needs. */
function loadPg(): typeof pg {
  if (pgModule) return pgModule;
  pgModule = require('pg') as typeof pg;
  // int8 and numeric columns come back as JS numbers: sizes and sequence numbers stay far
  // below 2^53, and one number type on both databases keeps every caller simple.
  pgModule.types.setTypeParser(20, (v) => Number(v));
  pgModule.types.setTypeParser(1700, (v) => Number(v));
  return pgModule;
}

export interface CoffreDb {
  db: Kysely<Database>;
  dialect: DialectName;
  /** The PostgreSQL pool (for LISTEN/NOTIFY); undefined on SQLite. */
  pgPool?: pg.Pool;
  /** Where the SQLite file is; undefined on PostgreSQL. */
  sqlitePath?: string;
  /** The better-sqlite3 handle under Kysely (undefined on PostgreSQL), for hot paths that reuse
   *  prepared statements. Use it only inside a Kysely transaction you hold: the connection is shared. */
  sqlite?: SQLite.Database;
  close(): Promise<void>;
}

/** Opens the database the configuration names (PostgreSQL URL, else SQLite in the data dir). */
export function openDatabase(config: Pick<CoffreConfig, 'dataDir' | 'database'>): CoffreDb {
  const url = config.database.url;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new (loadPg().Pool)({ connectionString: url, max: config.database.poolSize });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', pgPool: pool, close: () => db.destroy() };
  }
  if (url && !url.startsWith('sqlite:')) {
    throw new Error(`database.url must start with postgres:// or sqlite: (got ${url.replace(/:[^:@/]*@/, ':***@')})`);
  }
  const path = url ? url.slice('sqlite:'.length) : join(config.dataDir, 'coffre.db');
  if (!url) mkdirSync(config.dataDir, { recursive: true });
  const sqlite = new SQLite(path);
  // WAL lets readers run beside the writer; NORMAL sync is safe against process crashes
  // (kill -9) and only risks the last commits on power loss. busy_timeout lets a second
  // process (CLI beside `coffre serve`) wait for the write lock instead of failing.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('foreign_keys = ON');
  // Checkpoints run from a thread, not inside a COMMIT on the event loop (see wal-checkpoint.ts).
  sqlite.pragma('wal_autocheckpoint = 0');
  const checkpointer = new WalCheckpointer(path);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    db,
    dialect: 'sqlite',
    sqlitePath: path,
    sqlite,
    close: async () => {
      await checkpointer.close();
      await db.destroy();
      // Kysely closes the handle only if it ever used it. The last connection to close checkpoints the WAL.
      if (sqlite.open) sqlite.close();
    },
  };
}

/** Brings the schema up to date; fails with the name of the migration that broke. */
export async function migrate(cdb: CoffreDb): Promise<void> {
  const types = columnTypes(cdb.dialect);
  const migrations: Record<string, Migration> = {};
  for (const m of allMigrations) {
    if (migrations[m.name]) throw new Error(`two migrations are named ${m.name}`);
    migrations[m.name] = { up: (db) => m.up(db, types) };
  }
  const migrator = new Migrator({
    db: cdb.db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'coffre_migration',
    migrationLockTableName: 'coffre_migration_lock',
    // Components own separate lists, so names need not sort in one global order.
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}

/** Opens and migrates. */
export async function openAndMigrate(config: Pick<CoffreConfig, 'dataDir' | 'database'>): Promise<CoffreDb> {
  const cdb = openDatabase(config);
  try {
    await migrate(cdb);
  } catch (err) {
    await cdb.close();
    throw err;
  }
  return cdb;
}
