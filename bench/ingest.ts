/**
 * npm run bench -- ingest [--small N] [--large-size MiB] [--only small|large]
 *
 * Through `coffre ingest --wait` against `coffre serve` on the embedded defaults (SQLite, two
 * filesystem offers in the data folder, in-process workers):
 *   1. a SEDA package of 10,000 objects of 4 KiB — goal ≥ 1,000 objects/s;
 *   2. a SEDA package of 4 objects of 256 MiB — goal ≤ 1.5× the baseline.
 * Baseline, measured in the same run on the same package: unzip it (yauzl, streaming) and write
 * every file to two folders with fsync — the bytes an archive must at least move.
 * `ours` counts everything: the tus upload, the unpack, the checks, two verified copies, the
 * journals and indexing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import yauzl from 'yauzl';
import Sqlite from 'better-sqlite3';
import { report, rssSampler } from './lib/report.ts';
import { coffreNodeFlags } from './lib/node-flags.ts';
import { makeSedaPackage } from '../test/fixtures/packages.ts';
import { loadConfig } from '../src/config/index.ts';
import { loadOrCreateInstanceKey, signInstanceToken } from '../src/auth/index.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SMALL_N = arg('--small', 10_000);
const LARGE_MIB = arg('--large-size', 256);
/** `--only small` or `--only large`: run one case (e.g. to profile it); both by default. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

const root = join(process.env.COFFRE_BENCH_TMP ?? tmpdir(), `coffre-bench-ingest-${process.pid}`);
mkdirSync(root, { recursive: true });

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  // The node flags `coffre` runs with (BENCH_COFFRE_NODE_FLAGS replaces them).
  const flags = coffreNodeFlags();
  const child = spawn(process.execPath, [...flags, 'bin/coffre.js', 'serve', '--data-dir', dataDir, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, COFFRE_LOG_LEVEL: 'warn' },
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return child;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('coffre serve did not start');
}

function runIngest(pkg: string, url: string, token: string): Promise<{ ms: number; out: any; startedAt: number }> {
  const t0 = performance.now();
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/coffre.js', 'ingest', pkg, '--url', url, '--token', token, '--wait', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      try {
        const parsed = JSON.parse(out.trim());
        if (code !== 0) reject(new Error(`coffre ingest exited ${code}: ${out}`));
        else resolve({ ms, out: parsed, startedAt });
      } catch {
        reject(new Error(`coffre ingest exited ${code}: ${out}`));
      }
    });
  });
}

/** Baseline: unzip (streaming) and write each file to two folders with fsync. */
async function baseline(pkg: string, dest: string): Promise<number> {
  const t0 = performance.now();
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.open(pkg, { lazyEntries: true, autoClose: true }, (e, z) => (e ? rej(e) : res(z!))));
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith('/')) return zip.readEntry();
      zip.openReadStream(entry, async (err, stream) => {
        if (err) return reject(err);
        try {
          const targets = ['copy-1', 'copy-2'].map((c) => join(dest, c, entry.fileName));
          for (const t of targets) mkdirSync(dirname(t), { recursive: true });
          const handles = await Promise.all(targets.map((t) => open(t, 'w')));
          for await (const chunk of stream!) await Promise.all(handles.map((h) => h.write(chunk as Buffer)));
          await Promise.all(handles.map(async (h) => {
            await h.sync();
            await h.close();
          }));
          zip.readEntry();
        } catch (e) {
          reject(e);
        }
      });
    });
    zip.readEntry();
  });
  return performance.now() - t0;
}

/** With BENCH_VERBOSE: each step's duration, from the operation row (steps' startedAt/endedAt). */
function printSteps(dataDir: string, id: string) {
  if (!process.env.BENCH_VERBOSE) return;
  const db = new Sqlite(join(dataDir, 'coffre.db'), { readonly: true });
  try {
    const row = db.prepare('select steps, created_at, updated_at from ingest_operation where id = ?').get(id) as { steps: string; created_at: string; updated_at: string } | undefined;
    console.log(`  operation created ${row?.created_at}, last updated ${row?.updated_at}`);
    for (const s of JSON.parse(row?.steps ?? '[]') as Array<{ name: string; startedAt?: string; endedAt?: string }>) {
      if (s.startedAt && s.endedAt) console.log(`  ${s.name.padEnd(32)} ${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(2)} s  (${s.startedAt} → ${s.endedAt})`);
    }
  } finally {
    db.close();
  }
}

/**
 * With BENCH_VERBOSE: where the server's memory is, from its own /metrics (V8 heap used and
 * reserved, memory outside the heap) sampled with the RSS; the figures at the RSS peak are printed.
 * A heap far above what stays after a collection is garbage V8 has not collected yet (try
 * BENCH_COFFRE_NODE_FLAGS="--max-old-space-size=160": live data would fail, garbage does not).
 */
function memorySampler(url: string, pid: number) {
  const at = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
  const peakHeap = { used: 0 };
  const metric = (text: string, name: string) => Number(new RegExp(`^coffre_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const timer = setInterval(async () => {
    if (!process.env.BENCH_VERBOSE) return;
    try {
      const text = await (await fetch(`${url}/metrics`)).text();
      const rss = rssOf(pid);
      const sample = { rss, heapUsed: metric(text, 'nodejs_heap_size_used_bytes'), heapTotal: metric(text, 'nodejs_heap_size_total_bytes'), external: metric(text, 'nodejs_external_memory_bytes') };
      peakHeap.used = Math.max(peakHeap.used, sample.heapUsed);
      if (rss > at.rss) Object.assign(at, sample);
    } catch {
      // server gone
    }
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      if (!process.env.BENCH_VERBOSE) return;
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
      console.log(`server memory at the RSS peak: rss ${mib(at.rss)}, V8 heap used ${mib(at.heapUsed)} of ${mib(at.heapTotal)} reserved, external ${mib(at.external)}, rest (code, native, worker threads) ${mib(at.rss - at.heapTotal - at.external)}; peak heap used ${mib(peakHeap.used)}`);
    },
  };
}

/** Where the time went: upload (until the operation exists) and the workflow (created → ended). */
async function breakdown(url: string, token: string, id: string, t0: number, totalMs: number) {
  const r = await fetch(`${url}/api/v1/operations/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const op = (await r.json()) as { createdAt: string; updatedAt: string };
  const workflowMs = Date.parse(op.updatedAt) - Date.parse(op.createdAt);
  const uploadMs = Date.parse(op.createdAt) - t0;
  return { workflowMs, uploadMs: Math.min(uploadMs, totalMs - workflowMs) };
}

async function main() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = join(root, 'data');
  console.log(`building packages in ${root} …`);
  const small = ONLY !== 'large' ? await makeSedaPackage(join(root, 'small.zip'), { objects: SMALL_N, size: 4096 }) : '';
  const large = ONLY !== 'small' ? await makeSedaPackage(join(root, 'large.zip'), { objects: 4, size: LARGE_MIB * 2 ** 20 }) : '';
  const server = await startServer(dataDir, port);
  const rss = rssSampler(() => rssOf(server.pid!));
  const memory = memorySampler(url, server.pid!);
  const token = await signInstanceToken(loadOrCreateInstanceKey(dataDir), loadConfig({ overrides: { dataDir } }).auth, { space: 'bench', ttlSeconds: 7200 });
  const rows = [];
  try {
    if (small) {
      console.log(`case 1: ${SMALL_N} objects of 4 KiB …`);
      const s = await runIngest(small, url, token);
      const sParts = await breakdown(url, token, s.out.operationId, s.startedAt, s.ms);
      printSteps(dataDir, s.out.operationId);
      const sBase = await baseline(small, join(root, 'base-small'));
      rmSync(join(root, 'base-small'), { recursive: true, force: true });
      rows.push({
        case: `${SMALL_N} × 4 KiB`, status: s.out.status, 'ours s': s.ms / 1000, 'objects/s': SMALL_N / (s.ms / 1000),
        'upload s': sParts.uploadMs / 1000, 'workflow s': sParts.workflowMs / 1000,
        'baseline s': sBase / 1000, 'baseline objects/s': SMALL_N / (sBase / 1000), 'ours/baseline': s.ms / sBase, 'workflow/baseline': sParts.workflowMs / sBase, goal: '≥ 1000 objects/s',
        met: SMALL_N / (s.ms / 1000) >= 1000 ? 'yes' : 'no',
      });
    }
    if (large) {
      console.log(`case 2: 4 objects of ${LARGE_MIB} MiB …`);
      const l = await runIngest(large, url, token);
      const lParts = await breakdown(url, token, l.out.operationId, l.startedAt, l.ms);
      printSteps(dataDir, l.out.operationId);
      const lBase = await baseline(large, join(root, 'base-large'));
      rmSync(join(root, 'base-large'), { recursive: true, force: true });
      const mib = (4 * LARGE_MIB);
      rows.push({
        case: `4 × ${LARGE_MIB} MiB`, status: l.out.status, 'ours s': l.ms / 1000, 'MiB/s': mib / (l.ms / 1000),
        'upload s': lParts.uploadMs / 1000, 'workflow s': lParts.workflowMs / 1000,
        'baseline s': lBase / 1000, 'baseline MiB/s': mib / (lBase / 1000), 'ours/baseline': l.ms / lBase, 'workflow/baseline': lParts.workflowMs / lBase, goal: '≤ 1.5× baseline',
        met: l.ms / lBase <= 1.5 ? 'yes' : 'no',
      });
    }
  } finally {
    const peak = rss.stop();
    memory.stop();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    console.log(`server peak RSS: ${(peak / 2 ** 20).toFixed(0)} MiB`);
    rmSync(root, { recursive: true, force: true });
  }
  report('ingest', {
    workload: `coffre ingest --wait on embedded defaults: SEDA ${SMALL_N}×4KiB and 4×${LARGE_MIB}MiB; baseline: streaming unzip + two fsynced copies`,
    smallObjects: SMALL_N, largeObjectMiB: LARGE_MIB,
  }, rows);
}

main().catch((err) => {
  console.error(err);
  rmSync(root, { recursive: true, force: true });
  process.exit(1);
});
