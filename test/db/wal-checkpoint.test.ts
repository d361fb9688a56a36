import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { WalCheckpointer } from '../../src/db/wal-checkpoint.ts';
import { openDatabase } from '../../src/db/index.ts';

test('SQLite: the WAL is checkpointed from the thread while writes go on, never inside a COMMIT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-wal-'));
  const path = join(dir, 'test.db');
  const db = new SQLite(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0'); // as openDatabase sets it
    db.exec('create table t (id integer primary key, v blob)');
    const dbBytes = () => statSync(path).size;
    const before = dbBytes();
    const checkpointer = new WalCheckpointer(path, { minWalBytes: 0, intervalMs: 20 });
    const insert = db.prepare('insert into t (v) values (?)');
    for (let i = 0; i < 10; i++) {
      db.transaction(() => {
        for (let j = 0; j < 200; j++) insert.run(Buffer.alloc(1000, i));
      })();
      await sleep(30);
    }
    await sleep(100);
    // Only a checkpoint moves pages from the WAL into the database file; this connection never ran one.
    assert.ok(dbBytes() > before + 1_000_000, `the database file grew from ${before} to ${dbBytes()} bytes through the thread's checkpoints`);
    await checkpointer.close();
    assert.equal((db.prepare('select count(*) as n from t').get() as { n: number }).n, 2000);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite through openDatabase: the last close checkpoints and removes the WAL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-wal-'));
  try {
    const cdb = openDatabase({ dataDir: dir, database: { poolSize: 1 } } as never);
    assert.equal(cdb.sqlite!.pragma('wal_autocheckpoint', { simple: true }), 0);
    cdb.sqlite!.exec('create table t (id integer primary key, v text)');
    cdb.sqlite!.prepare('insert into t (v) values (?)').run('kept');
    await cdb.close();
    assert.equal(existsSync(`${cdb.sqlitePath}-wal`), false);
    const again = new SQLite(cdb.sqlitePath!, { readonly: true });
    assert.equal((again.prepare('select v from t').get() as { v: string }).v, 'kept');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
