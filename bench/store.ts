/**
 * `npm run bench -- store [--skip-big] [--skip-small] [--skip-s3] [--count N] [--rounds N] [--engine-ceiling]`: the storage engine against plain baselines,
 * measured side by side in one run. Each case runs in its own child process (so that its peak
 * RSS is its own); the big cases run --rounds times (3), alternating, and the best time of each is kept.
 *
 * (a) one 1 GiB object to strategy `default` (two `fs` offers) vs the baseline: read the file once
 *     (one read stream piped to two write streams) and write two copies with fsync, no hashing.
 *     Goal: ≤ 1.15× the baseline's time, peak RSS < 150 MB. Ours runs with the default digest
 *     (sha256) and again with sha512, side by side.
 * (b) 20,000 objects of 4 KiB (slices of one source file, read with pread) to the same strategy,
 *     16 in flight, vs the baseline per object: read the slice once, write two files with fsync
 *     (same 16 in flight). Goal: ≥ 0.7× the baseline's rate. Rounds of 2,500 alternate between
 *     the two sides; each side runs all its rounds in one process, after one untimed warm-up
 *     round (a server's engine is compiled and optimised once, not every 2,500 writes; a new
 *     process per round measured mostly V8's warm-up: 0.60× where a warm one gives 0.83×).
 *     With --engine-ceiling, a diagnostic row more: the same writes to two offers whose driver only reads the bytes and answers
 *     (no file, no sync): the engine's own ceiling, which no storage driver can beat.
 * (c) the 1 GiB object to one `s3` offer (Swift's S3 API) vs a plain @aws-sdk/lib-storage Upload
 *     of the same file; only when src/storage/drivers/s3/index.ts exists and S3_ENDPOINT etc. are
 *     set (`. /tmp/swift-saio/env`).
 * Ours is timed up to the engine's close (its offers' last checkpoint and its database's close),
 * so that no work a write leaves for later falls outside the figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { coffreNodeFlags } from './lib/node-flags.ts';
import { report, type BenchRow } from './lib/report.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** Chunk size of every file read (both sides). */
const CHUNK = 256 * 1024;
/**
 * Node flags of every child process, baseline and ours alike: those `coffre` runs with
 * (bin/coffre.js; BENCH_COFFRE_NODE_FLAGS replaces them), as a deployment would.
 */
const CHILD_FLAGS = coffreNodeFlags();

interface CaseResult {
  ms: number;
  maxRssMB: number;
  count?: number;
  note?: string;
}

// ---------------------------------------------------------------- cases (run in child processes)

async function openEngine(dataDir: string, storage: Record<string, unknown> = {}, drivers: unknown[] = []) {
  const { parseConfig } = await import('../src/config/index.ts');
  const { openAndMigrate } = await import('../src/db/index.ts');
  const { openStorage } = await import('../src/storage/index.ts');
  const config = parseConfig({ dataDir, log: { level: 'silent' }, storage });
  const cdb = await openAndMigrate(config);
  const engine = await openStorage({ config, cdb, drivers: drivers as never });
  return { engine, close: async () => (await engine.close(), await cdb.close()) };
}

const cases: Record<string, (args: Record<string, any>) => Promise<Omit<CaseResult, 'maxRssMB'>>> = {
  async bigBaseline({ file, outDir }) {
    mkdirSync(outDir, { recursive: true });
    const t0 = performance.now();
    const src = createReadStream(file, { highWaterMark: CHUNK });
    const outs = ['copy-1', 'copy-2'].map((n) => createWriteStream(join(outDir, n), { flush: true, highWaterMark: CHUNK }));
    for (const o of outs) src.pipe(o);
    await Promise.all(outs.map((o) => finished(o)));
    return { ms: performance.now() - t0 };
  },

  async bigOurs({ file, dataDir, size, digestAlgorithm }) {
    const { engine, close } = await openEngine(dataDir, digestAlgorithm ? { digestAlgorithm } : {});
    const t0 = performance.now();
    const r = await engine.write({ container: 'objects', id: randomUUID(), source: { size, open: () => createReadStream(file, { highWaterMark: CHUNK }) } });
    // Timed up to the engine's close: the offers' last checkpoint (work a write leaves for later)
    // is done by then, as the baseline's is when its last write returns.
    await close();
    const ms = performance.now() - t0;
    if (r.status !== 'OK') throw new Error(r.message);
    return { ms };
  },

  async smallBaseline({ file, outDir, from, count, size, concurrency }) {
    mkdirSync(join(outDir, 'a'), { recursive: true });
    mkdirSync(join(outDir, 'b'), { recursive: true });
    const src = await open(file, 'r');
    const t0 = performance.now();
    let next = from;
    const worker = async () => {
      for (let i = next++; i < from + count; i = next++) {
        const buf = Buffer.alloc(size);
        await src.read(buf, 0, size, i * size);
        await Promise.all(
          ['a', 'b'].map(async (d) => {
            const h = await open(join(outDir, d, `obj-${i}`), 'w');
            await h.write(buf);
            await h.sync();
            await h.close();
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const ms = performance.now() - t0;
    await src.close();
    return { ms, count };
  },

  async smallOurs({ file, dataDir, from, count, size, concurrency, noopOffers }) {
    // --engine-ceiling: two offers whose driver reads the bytes and answers, nothing more.
    const noop = {
      name: 'noop',
      version: '1.0.0',
      capabilities: { ranges: false, capacity: false, cachedDigest: false, writeLog: false, watch: false },
      isAvailable: async () => true,
      connect: async (offer: unknown) => ({
        offer,
        capacity: async () => ({ usableBytes: null, totalBytes: null }),
        put: async (r: { body: AsyncIterable<unknown>; size: number; sourceDigest?: Promise<string> }) => {
          for await (const _ of r.body);
          return { size: r.size, digest: await r.sourceDigest, alreadyExisted: false };
        },
        get: async () => Promise.reject(new Error('noop')),
        exists: async () => false,
        digest: async () => null,
        remove: async () => false,
        list: async function* () {},
        writeLog: async function* () {},
        close: async () => {},
      }),
    };
    const storage = noopOffers
      ? { offers: ['noop-1', 'noop-2'].map((id) => ({ id, driver: 'noop', parameters: {} })), strategies: [{ id: 'default', offers: [{ id: 'noop-1', rank: 1 }, { id: 'noop-2', rank: 2 }] }] }
      : {};
    const { engine, close } = await openEngine(dataDir, storage, noopOffers ? [noop] : []);
    const src = await open(file, 'r');
    const t0 = performance.now();
    let next = from;
    let ko = 0;
    const worker = async () => {
      for (let i = next++; i < from + count; i = next++) {
        // The slice read once into memory, as the baseline does; the engine takes the bytes as
        // they are (ObjectSource.bytes), and a retry reads them again from the same buffer.
        const buf = Buffer.alloc(size);
        await src.read(buf, 0, size, i * size);
        const r = await engine.write({
          container: 'objects',
          id: `obj-${i}`,
          source: { size, bytes: buf, open: () => Readable.from([buf]) },
        });
        if (r.status !== 'OK') ko++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // Timed up to the engine's close, as in bigOurs: the small objects' files left to the last
    // checkpoint are written and synced by then.
    await close();
    const ms = performance.now() - t0;
    await src.close();
    if (ko) throw new Error(`${ko} writes failed`);
    return { ms, count };
  },

  async s3Sdk({ file, bucket, size }) {
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const { Upload } = await import('@aws-sdk/lib-storage');
    const client = new S3Client({
      endpoint: process.env.S3_ENDPOINT,
      region: process.env.S3_REGION || 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
    const t0 = performance.now();
    await new Upload({ client, params: { Bucket: bucket, Key: `sdk-${randomUUID()}`, Body: createReadStream(file, { highWaterMark: CHUNK }), ContentLength: size }, partSize: 8 * MiB, queueSize: 4 }).done();
    return { ms: performance.now() - t0 };
  },

  async s3Ours({ file, bucket, size, dataDir }) {
    const { engine, close } = await openEngine(dataDir, {
      offers: [{ id: 's3', driver: 's3', parameters: { endpoint: process.env.S3_ENDPOINT, region: process.env.S3_REGION || 'us-east-1', bucket, forcePathStyle: true, partSize: '8 MiB', queueSize: 4 } }],
      strategies: [{ id: 'default', offers: [{ id: 's3', rank: 1 }] }],
    });
    const t0 = performance.now();
    const r = await engine.write({ container: 'objects', id: randomUUID(), source: { size, open: () => createReadStream(file, { highWaterMark: CHUNK }) } });
    // Timed up to the engine's close: the offers' last checkpoint (work a write leaves for later)
    // is done by then, as the baseline's is when its last write returns.
    await close();
    const ms = performance.now() - t0;
    if (r.status !== 'OK') throw new Error(r.message);
    return { ms };
  },
};

// ---------------------------------------------------------------- orchestration

/**
 * Every case, baseline and ours alike, runs from one esbuild bundle of this file (coffre's
 * sources included, packages external) under plain `node`, as a deployment with a build step
 * runs it: under tsx each process carries ~45 MB of TypeScript loader that says nothing about
 * the engine. COFFRE_BENCH_TSX=1 runs the cases through tsx instead.
 */
async function bundleCases(): Promise<string[]> {
  const self = fileURLToPath(import.meta.url);
  if (process.env.COFFRE_BENCH_TSX) return ['--import', 'tsx', self];
  const outdir = join('bench', 'results', '.store-cases');
  const { build } = await import('esbuild');
  await build({ entryPoints: [self], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', splitting: true, outExtension: { '.js': '.mjs' }, outdir, logLevel: 'error' });
  return [join(outdir, 'store.mjs')];
}

let caseScript: string[] = [];

function runCase(name: string, args: Record<string, unknown>): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CHILD_FLAGS, ...caseScript, '--case', name, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`case ${name} failed (exit ${code})`));
      resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

/**
 * A case process kept for several rounds (the (b) rounds): the engine's code is compiled and
 * optimised once, as in a server that runs for days, instead of in every round's new process.
 * Each round still opens its engine, writes, and closes it inside the timing.
 */
class CaseProcess {
  private readonly child;
  private readonly waiting: ((line: string) => void)[] = [];
  private exited?: Error;

  constructor() {
    this.child = spawn(process.execPath, [...CHILD_FLAGS, ...caseScript, '--cases'], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.waiting.shift()?.(line));
    this.child.on('exit', (code) => {
      this.exited = new Error(`case process ended (exit ${code})`);
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: this.exited.message }));
    });
  }

  run(name: string, args: Record<string, unknown>): Promise<CaseResult> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => {
        const r = JSON.parse(line) as CaseResult & { error?: string };
        if (r.error) reject(new Error(`case ${name} failed: ${r.error}`));
        else resolve(r);
      });
      this.child.stdin!.write(JSON.stringify({ name, args }) + '\n');
    });
  }

  close(): void {
    this.child.stdin!.end();
  }
}

function makeFile(path: string, size: number): void {
  // Random bytes (a 16 MiB random block repeated): nothing along the way can compress or dedupe it.
  const block = randomBytes(16 * MiB);
  const fd = openSync(path, 'w');
  for (let done = 0; done < size; ) {
    const n = Math.min(block.length, size - done);
    writeSync(fd, block, 0, n);
    done += n;
  }
  closeSync(fd);
}

const dropCaches = () => {
  try {
    execFileSync('sync');
  } catch {
    // best effort
  }
};

/**
 * (b): interleaved rounds (baseline, ours, baseline, ours…) into the same folders, so that both
 * sides see the same machine load; the sums over all rounds give the rates. Each side runs in one
 * process kept for all its rounds, warmed up by one untimed round into a folder of its own.
 */
async function smallObjects(root: string, count: number, ceiling: boolean, rows: BenchRow[], meta: Record<string, unknown>): Promise<void> {
  const small = join(root, 'small.bin');
  makeFile(small, count * 4096);
  const rounds = Math.max(1, Math.round(count / 2500));
  const per = Math.ceil(count / rounds);
  const sbRuns: CaseResult[] = [];
  const soRuns: CaseResult[] = [];
  const snRuns: CaseResult[] = [];
  const sides = { baseline: new CaseProcess(), ours: new CaseProcess(), ceiling: ceiling ? new CaseProcess() : undefined };
  try {
    const warm = { file: small, from: 0, count: Math.min(per, count), size: 4096, concurrency: 16 };
    await sides.baseline.run('smallBaseline', { ...warm, outDir: join(root, 'sb-warm') });
    await sides.ours.run('smallOurs', { ...warm, dataDir: join(root, 'so-warm') });
    await sides.ceiling?.run('smallOurs', { ...warm, dataDir: join(root, 'sn-warm'), noopOffers: true });
    for (let from = 0; from < count; from += per) {
      const n = Math.min(per, count - from);
      dropCaches();
      sbRuns.push(await sides.baseline.run('smallBaseline', { file: small, outDir: join(root, 'sb'), from, count: n, size: 4096, concurrency: 16 }));
      dropCaches();
      soRuns.push(await sides.ours.run('smallOurs', { file: small, dataDir: join(root, 'so'), from, count: n, size: 4096, concurrency: 16 }));
      if (sides.ceiling) snRuns.push(await sides.ceiling.run('smallOurs', { file: small, dataDir: join(root, 'sn'), from, count: n, size: 4096, concurrency: 16, noopOffers: true }));
    }
  } finally {
    for (const side of Object.values(sides)) side?.close();
  }
  // (b)'s folders stay until the end: files created soon after ~50,000 were removed are slow to
  // make on this VM (the kernel's scan of recently freed inodes), and (a) comes next.
  const total = (runs: CaseResult[]): CaseResult => ({ ms: runs.reduce((a, r) => a + r.ms, 0), count: runs.reduce((a, r) => a + r.count!, 0), maxRssMB: Math.max(...runs.map((r) => r.maxRssMB)) });
  const sb = total(sbRuns);
  const so = total(soRuns);
  const rate = (r: CaseResult) => (r.count! / r.ms) * 1000;
  rows.push({ case: `(b) ${count} × 4 KiB, baseline: read once, 2 files + fsync, 16 in flight`, seconds: sb.ms / 1000, 'objects/s': rate(sb), 'peak RSS MB': sb.maxRssMB, ratio: 1, goal: '' });
  rows.push({ case: `(b) ${count} × 4 KiB → default, records in SQLite, 16 in flight`, seconds: so.ms / 1000, 'objects/s': rate(so), 'peak RSS MB': so.maxRssMB, ratio: rate(so) / rate(sb), goal: '≥ 0.7× rate' });
  meta.smallRounds = { baseline: sbRuns, ours: soRuns, ...(ceiling ? { engineCeiling: snRuns } : {}) };
  if (ceiling) {
    const sn = total(snRuns);
    rows.push({ case: `(b) diagnostic: same writes → 2 no-op offers (the engine alone)`, seconds: sn.ms / 1000, 'objects/s': rate(sn), 'peak RSS MB': sn.maxRssMB, ratio: rate(sn) / rate(sb), goal: '' });
  }
}

async function main() {
  const args = process.argv.slice(2);
  const skipBig = args.includes('--skip-big');
  const skipSmall = args.includes('--skip-small');
  const skipS3 = args.includes('--skip-s3');
  caseScript = await bundleCases();
  const countArg = args.indexOf('--count');
  const count = countArg >= 0 ? Number(args[countArg + 1]) : 20_000;
  const root = join(process.env.COFFRE_BENCH_TMP ?? tmpdir(), `coffre-bench-store-${process.pid}`);
  mkdirSync(root, { recursive: true });
  const rows: BenchRow[] = [];
  const roundsArg = args.indexOf('--rounds');
  const bigRounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : 3;
  const loadBefore = loadavg();
  const meta: Record<string, unknown> = { count, smallSize: 4096, concurrency: 16, chunkBytes: CHUNK, childFlags: CHILD_FLAGS, bigRounds, loadBefore };
  try {
    // (b) first: run after the big cases, the first (b) rounds of either side were 2–5× slower
    // in two runs of three (the disk, and Swift after (c), still busy).
    if (!skipSmall) await smallObjects(root, count, args.includes('--engine-ceiling'), rows, meta);
    if (!skipBig) {
      const big = join(root, 'big.bin');
      makeFile(big, GiB);
      const base: CaseResult[] = [];
      const ours: CaseResult[] = [];
      // The same write with storage.digestAlgorithm: sha512 (Vitam's choice), for comparison.
      const ours512: CaseResult[] = [];
      for (let round = 0; round < bigRounds; round++) {
        dropCaches();
        base.push(await runCase('bigBaseline', { file: big, outDir: join(root, `bb${round}`) }));
        rmSync(join(root, `bb${round}`), { recursive: true, force: true });
        dropCaches();
        ours.push(await runCase('bigOurs', { file: big, dataDir: join(root, `bo${round}`), size: GiB }));
        rmSync(join(root, `bo${round}`), { recursive: true, force: true });
        dropCaches();
        ours512.push(await runCase('bigOurs', { file: big, dataDir: join(root, `bs${round}`), size: GiB, digestAlgorithm: 'sha512' }));
        rmSync(join(root, `bs${round}`), { recursive: true, force: true });
      }
      const b = Math.min(...base.map((r) => r.ms));
      const o = Math.min(...ours.map((r) => r.ms));
      const o512 = Math.min(...ours512.map((r) => r.ms));
      rows.push({ case: '(a) 1 GiB, baseline: read once, 2 copies + fsync', seconds: b / 1000, 'MiB/s': 1024 / (b / 1000), 'peak RSS MB': Math.max(...base.map((r) => r.maxRssMB)), ratio: 1, goal: '' });
      rows.push({ case: '(a) 1 GiB → default (2 fs offers), sha256 (default)', seconds: o / 1000, 'MiB/s': 1024 / (o / 1000), 'peak RSS MB': Math.max(...ours.map((r) => r.maxRssMB)), ratio: o / b, goal: '≤ 1.15× time, RSS < 150' });
      rows.push({ case: '(a) the same with digestAlgorithm sha512', seconds: o512 / 1000, 'MiB/s': 1024 / (o512 / 1000), 'peak RSS MB': Math.max(...ours512.map((r) => r.maxRssMB)), ratio: o512 / b, goal: '' });
      meta.big = { baseline: base, ours, oursSha512: ours512 };

      const s3Module = new URL('../src/storage/drivers/s3/index.ts', import.meta.url).pathname;
      if (skipS3) {
        // asked for (--skip-s3)
      } else if (!existsSync(s3Module)) {
        rows.push({ case: '(c) 1 GiB → s3: skipped, src/storage/drivers/s3/index.ts does not exist', seconds: '', 'MiB/s': '', 'peak RSS MB': '', ratio: '', goal: '' });
      } else if (!process.env.S3_ENDPOINT || !process.env.S3_ACCESS_KEY_ID) {
        rows.push({ case: '(c) 1 GiB → s3: skipped, S3_ENDPOINT not set (. /tmp/swift-saio/env)', seconds: '', 'MiB/s': '', 'peak RSS MB': '', ratio: '', goal: '' });
      } else {
        const bucket = `coffre-bench-${randomBytes(4).toString('hex')}`;
        const sdk = await runCase('s3Sdk', { file: big, bucket, size: GiB });
        const s3 = await runCase('s3Ours', { file: big, bucket, size: GiB, dataDir: join(root, 's3') });
        rows.push({ case: '(c) 1 GiB, plain SDK Upload (8 MiB parts, 4 in flight)', seconds: sdk.ms / 1000, 'MiB/s': 1024 / (sdk.ms / 1000), 'peak RSS MB': sdk.maxRssMB, ratio: 1, goal: '' });
        rows.push({ case: '(c) 1 GiB → s3 offer through the engine', seconds: s3.ms / 1000, 'MiB/s': 1024 / (s3.ms / 1000), 'peak RSS MB': s3.maxRssMB, ratio: s3.ms / sdk.ms, goal: '' });
        meta.s3 = { bucket, note: 'objects left in the bucket; remove it with the Swift tools if needed' };
      }
      rmSync(big, { force: true });
    }

  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  meta.loadAfter = loadavg();
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  console.log(`(a) best of ${bigRounds} interleaved rounds per side; (b) sums over interleaved rounds, 16 objects in flight on both sides; load average (1, 5, 15 min) before: ${fmt(loadBefore)}, after: ${fmt(meta.loadAfter as number[])}`);
  report('store', meta, rows);
}

if (process.argv[2] === '--cases') {
  // A kept case process (CaseProcess): one case per line of stdin, one result per line of stdout.
  for await (const line of createInterface({ input: process.stdin })) {
    const { name, args } = JSON.parse(line) as { name: string; args: Record<string, unknown> };
    try {
      const result = await cases[name](args);
      process.stdout.write(JSON.stringify({ ...result, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
    }
  }
  process.exit(0);
} else if (process.argv[2] === '--case') {
  const name = process.argv[3];
  const result = await cases[name](JSON.parse(process.argv[4]));
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ ...result, maxRssMB }) + '\n');
  process.exit(0);
} else {
  await main();
}
