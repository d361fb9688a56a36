import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseConfig, type CoffreConfig, type CoffreConfigInput } from '../../src/config/index.ts';
import { tempDir } from './tmp.ts';

export const PG_URL = process.env.COFFRE_TEST_PG_URL;
export const PG_SKIP_REASON = 'PostgreSQL suite skipped: set COFFRE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres to run it';

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** Skip reason when this database is not available here. */
  skip?: string;
}

/** The databases every database-backed suite runs on: SQLite always, PostgreSQL when configured. */
export const TEST_DATABASES: TestDatabase[] = [
  { name: 'sqlite' },
  { name: 'postgres', skip: PG_URL ? undefined : PG_SKIP_REASON },
];

/**
 * A configuration over a fresh data folder and a fresh database (a new PostgreSQL database per
 * call, dropped by cleanup). `overrides` are merged into the configuration tree.
 */
export async function testConfig(
  database: TestDatabase['name'],
  overrides: Partial<CoffreConfigInput> = {},
): Promise<{ config: CoffreConfig; cleanup(): Promise<void> }> {
  const dir = tempDir();
  let url: string | undefined;
  let dropDb = async () => {};
  if (database === 'postgres') {
    if (!PG_URL) throw new Error(PG_SKIP_REASON);
    const name = `coffre_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    dropDb = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const config = parseConfig({
    dataDir: dir.path,
    log: { level: process.env.COFFRE_TEST_LOG ?? 'silent' },
    server: { host: '127.0.0.1', port: 0 },
    ...overrides,
    database: { ...(overrides.database ?? {}), ...(url ? { url } : {}) },
  });
  return {
    config,
    cleanup: async () => {
      await dropDb();
      dir.cleanup();
    },
  };
}
