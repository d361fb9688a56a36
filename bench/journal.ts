/**
 * Journal benchmark: append N lifecycle events (default 1,000,000) through the Logbook, in
 * batches as workers write them (each batch: 100 object groups × 10 events, written by concurrent
 * appendLifecycle calls that the logbook groups into one transaction), then seal them all (Merkle
 * tree SHA-512 + Ed25519 signature + proof streamed to the two filesystem offers of the embedded
 * default). Baseline: the same rows inserted in the same batches and transactions by the same
 * multi-row INSERT (insertRows: on SQLite a cached prepared statement run inside the transaction,
 * for both sides alike), without canonical JSON, hashing or chain heads (hash column empty); a second
 * baseline stores random 32-byte values in the two hash columns, to show what is storage and what
 * is hashing. The three run interleaved batch by batch, each into its own database.
 * On SQLite always; on PostgreSQL with COFFRE_TEST_PG_URL or --pg URL.
 *
 *   npm run bench -- journal [--events N] [--pg URL] [--no-pg]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig, type CoffreConfig } from '../src/config/index.ts';
import { openAndMigrate, type CoffreDb } from '../src/db/index.ts';
import { openLogbook, sealJournals, type SqlLogbook } from '../src/logbook/index.ts';
import { INSERT_COLUMNS } from '../src/logbook/rows.ts';
import { insertRows } from '../src/db/batch-sql.ts';
import { openStorage } from '../src/storage/index.ts';
import { loadOrCreateInstanceKey } from '../src/auth/index.ts';
import { report, rssSampler, type BenchRow } from './lib/report.ts';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const EVENTS = Number(flag('--events') ?? 1_000_000);
const PER_LIFECYCLE = 10;
const LIFECYCLES_PER_BATCH = 100;
const BATCH = PER_LIFECYCLE * LIFECYCLES_PER_BATCH;
/** Hash-sized values for the second baseline: the storage cost of the chain columns, without hashing. */
const POOL = Array.from({ length: 1024 }, () => randomBytes(32));
const EMPTY = Buffer.alloc(0);
const PG_URL = args.includes('--no-pg') ? undefined : (flag('--pg') ?? process.env.COFFRE_TEST_PG_URL);

interface Target {
  name: 'sqlite' | 'postgres';
  config: CoffreConfig;
  cleanup(): Promise<void>;
}

async function target(name: 'sqlite' | 'postgres'): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-bench-journal-'));
  let url: string | undefined;
  let drop = async () => {};
  if (name === 'postgres') {
    const db = `coffre_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    const u = new URL(PG_URL!);
    u.pathname = `/${db}`;
    url = u.toString();
    drop = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.end();
    };
  }
  const config = parseConfig({ dataDir: dir, log: { level: 'silent' }, ...(url ? { database: { url } } : {}) });
  return { name, config, cleanup: async () => (await drop(), rmSync(dir, { recursive: true, force: true })) };
}

const event = (u: number, k: number) => ({
  evType: k % 2 ? 'LFC.CHECK_DIGEST.CALC_CHECK' : 'LFC.CHECK_DIGEST',
  outcome: 'OK' as const,
  obId: `obj-${u}-${k}`,
  evDetData: { objectId: `obj-${u}-${k}`, digest: 'a1b2c3d4e5f6'.repeat(10), algorithm: 'SHA-512' },
});

/** One baseline batch: the rows the logbook would write, without hashing; returns the ms it took. */
async function baselineBatch(db: CoffreDb, sized: boolean, u: number, count: number, op: string, helper: SqlLogbook, config: CoffreConfig) {
  const t0 = performance.now();
  const rows: Record<string, unknown>[] = [];
  for (let l = 0; l < count; l++) {
    for (let k = 0; k < PER_LIFECYCLE; k++) {
      const e = event(u + l, k);
      const outDetail = `${e.evType}.${e.outcome}`;
      rows.push({
        idx: k, ev_id: randomUUID(), ev_parent_id: null, ev_type: e.evType, ev_date_time: new Date().toISOString(), operation_id: op,
        ev_type_proc: 'INGEST', outcome: e.outcome, out_detail: outDetail, out_messg: helper.message(outDetail, { detail: '', ...e.evDetData }),
        ag_id: 'bench', ob_id: e.obId, ev_det_data: JSON.stringify(e.evDetData), ev_id_reqst: null, ag_id_app: null,
        hash: sized ? POOL[(u + l + k) & 1023] : EMPTY, prev_hash: sized ? POOL[(u + l + k + 1) & 1023] : null,
        lfc_kind: 'objectgroup', lfc_id: `og-${u + l}`, step_id: 'STP_OG_CHECK_AND_TRANSFORME',
      });
    }
  }
  await db.db.transaction().execute((trx) => insertRows(trx, db, 'logbook_lfc_event', INSERT_COLUMNS.lfc, rows, { maxRowsPerStatement: config.logbook.batchSize }));
  return performance.now() - t0;
}

/**
 * Baselines and logbook run interleaved, batch by batch, each into its own database (same schema
 * and indexes): the machine is shared, so load changes hit every side alike.
 */
async function runAll(baseDb: CoffreDb, sizedDb: CoffreDb, ourDb: CoffreDb, config: CoffreConfig) {
  const logbook = openLogbook(ourDb, config);
  const helper = openLogbook(baseDb, config);
  const op = await logbook.startOperation({ type: 'INGEST', evType: 'PROCESS_SIP_UNITARY' });
  const baseOp = randomUUID();
  let ours = 0;
  let baseline = 0;
  let sizedBaseline = 0;
  let u = 0;
  for (let written = 0; written < EVENTS; written += BATCH) {
    const count = Math.min(LIFECYCLES_PER_BATCH, Math.ceil((EVENTS - written) / PER_LIFECYCLE));
    // Baselines: same rows (ids, times, messages, JSON detail), same INSERT, one transaction each.
    baseline += await baselineBatch(baseDb, false, u, count, baseOp, helper, config);
    sizedBaseline += await baselineBatch(sizedDb, true, u, count, baseOp, helper, config);
    // Ours: concurrent appendLifecycle calls, grouped by the logbook into one transaction.
    const t0 = performance.now();
    const calls: Promise<void>[] = [];
    for (let l = 0; l < count; l++) {
      const n = u + l;
      // The inputs are made by the same plain loop as the baselines' (Array.from over {length}
      // cost ~1 µs more per call, counted against the logbook alone).
      const events = [];
      for (let k = 0; k < PER_LIFECYCLE; k++) events.push(event(n, k));
      calls.push(logbook.appendLifecycle('objectgroup', `og-${n}`, op, 'STP_OG_CHECK_AND_TRANSFORME', events));
    }
    await Promise.all(calls);
    ours += performance.now() - t0;
    u += count;
  }
  await logbook.commitStep(op, 'STP_OG_CHECK_AND_TRANSFORME');
  await logbook.close();
  return { ours: ours / 1000, baseline: baseline / 1000, sizedBaseline: sizedBaseline / 1000 };
}

const rows: BenchRow[] = [];
const databases: ('sqlite' | 'postgres')[] = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
if (!PG_URL) console.log('PostgreSQL skipped: set COFFRE_TEST_PG_URL or pass --pg URL');
console.log(`journal benchmark: ${EVENTS} lifecycle events, ${BATCH} per batch (${LIFECYCLES_PER_BATCH} object groups x ${PER_LIFECYCLE} events)\n`);
for (const name of databases) {
  const base = await target(name);
  const baseDb = await openAndMigrate(base.config);
  const sized = await target(name);
  const sizedDb = await openAndMigrate(sized.config);
  const t = await target(name);
  const cdb = await openAndMigrate(t.config);
  const rss = rssSampler(() => process.memoryUsage().rss);
  const { ours, baseline, sizedBaseline } = await runAll(baseDb, sizedDb, cdb, t.config);
  await baseDb.close();
  await base.cleanup();
  await sizedDb.close();
  await sized.cleanup();
  const storage = await openStorage({ config: t.config, cdb });
  const logbook = openLogbook(cdb, t.config, { storage });
  const s0 = performance.now();
  const seal = await sealJournals(logbook, loadOrCreateInstanceKey(t.config.dataDir));
  const sealSeconds = (performance.now() - s0) / 1000;
  const peak = rss.stop();
  await logbook.close();
  await storage.close();
  await cdb.close();
  await t.cleanup();
  rows.push({ case: `${name}: baseline insert (no hash)`, events: EVENTS, seconds: baseline, 'events/s': Math.round(EVENTS / baseline), ratio: 1 });
  rows.push({ case: `${name}: baseline + 2x32-byte dummy hashes`, events: EVENTS, seconds: sizedBaseline, 'events/s': Math.round(EVENTS / sizedBaseline), ratio: baseline / sizedBaseline });
  rows.push({ case: `${name}: logbook append (chained)`, events: EVENTS, seconds: ours, 'events/s': Math.round(EVENTS / ours), ratio: baseline / ours });
  rows.push({ case: `${name}: seal (Merkle+sign+proof)`, events: seal!.leafCount, seconds: sealSeconds, 'events/s': Math.round(seal!.leafCount / sealSeconds), ratio: '', 'proof MB': seal!.proofSize / 1e6, 'peak RSS MB': Math.round(peak / 1e6) });
  console.log(`${name} done`);
}
console.log('');
report('journal', { events: EVENTS, batch: BATCH, perLifecycle: PER_LIFECYCLE, goal: 'sqlite: >= 50000 events/s, ratio >= 0.7, seal of 1M < 20 s' }, rows);
