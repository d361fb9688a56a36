/**
 * Upload benchmark: tus-js-client (in this process) against three servers, each in its own
 * child process so that its RSS can be sampled:
 *   (a) coffre      the gateway (auth, SHA-256 of every byte, .info, SQLite, outbox), with its
 *                   default durability: data flushed in the background every 8 MiB while the
 *                   body arrives and before completion is announced; coffre-nofsync is the same
 *                   without any fsync of the data, the durability the two peers give;
 *                   coffre-loop writes and hashes every body on the event loop, no body thread
 *                   (gateway.hashWorker: false). The coffre servers run with the node flags
 *                   `coffre` itself runs with (bin/coffre.js, bench/lib/node-flags.ts).
 *                   coffre-serve is the whole platform started as users start it
 *                   (`node <flags> bin/coffre.js serve`: dist/ when built, else tsx), workers
 *                   and all, where the others run the gateway alone from a bundle.
 *   (b) @tus/server with @tus/file-store (no auth, no digest)
 *   (c) plain       a Node HTTP server that answers just enough tus for tus-js-client and
 *                   pipes each PATCH body to a file: the ceiling for any server here.
 * Workloads: one 1 GiB upload; 32 concurrent uploads of 32 MiB. Rounds alternate servers and
 * the best round counts (the machine is shared). Usage: npm run bench -- upload [--rounds N]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { report, rssSampler } from './lib/report.ts';
import { coffreNodeFlags } from './lib/node-flags.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
type ServerKind = 'coffre' | 'coffre-nofsync' | 'coffre-loop' | 'coffre-serve' | 'tus-server' | 'plain';

/** Node flags of the coffre servers: those `coffre` itself runs with (the peers keep node's defaults). */
const COFFRE_NODE_FLAGS = coffreNodeFlags();

// ---------------------------------------------------------------- child side: the servers
async function runServer(kind: ServerKind, dir: string): Promise<void> {
  let port = 0;
  let token = '';
  if (kind.startsWith('coffre')) {
    const { loadConfig } = await import('../src/config/index.ts');
    const { startPlatform } = await import('../src/platform/index.ts');
    const { gatewayComponent } = await import('../src/gateway/component.ts');
    const { signInstanceToken } = await import('../src/auth/index.ts');
    const config = loadConfig({ env: {}, overrides: { dataDir: dir, server: { port: 0 }, log: { level: 'warn' }, ...(kind === 'coffre-nofsync' ? { gateway: { fsync: 'never' } } : kind === 'coffre-loop' ? { gateway: { hashWorker: false } } : {}), ...JSON.parse(process.env.BENCH_COFFRE_OVERRIDES ?? '{}') } });
    const p = await startPlatform(config, { components: [gatewayComponent] });
    port = Number(new URL(p.url).port);
    token = await signInstanceToken(p.ctx.instanceKey, config.auth, { space: 'bench', ttlSeconds: 3600 });
  } else if (kind === 'tus-server') {
    const { Server } = await import('@tus/server');
    const { FileStore } = await import('@tus/file-store');
    const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
    const http = createServer((req, res) => void server.handle(req, res));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as { port: number }).port;
  } else {
    const http = createServer(async (req, res) => {
      const headers = { 'Tus-Resumable': '1.0.0' };
      if (req.method === 'POST') {
        const id = randomBytes(16).toString('hex');
        req.resume();
        res.writeHead(201, { ...headers, Location: `/files/${id}` }).end();
      } else if (req.method === 'PATCH') {
        const id = req.url!.split('/').pop()!;
        const offset = Number(req.headers['upload-offset']);
        await pipeline(req, createWriteStream(join(dir, id), { flags: offset === 0 ? 'w' : 'r+', start: offset }));
        res.writeHead(204, { ...headers, 'Upload-Offset': String(offset + Number(req.headers['content-length'])) }).end();
      } else {
        res.writeHead(404, headers).end();
      }
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as { port: number }).port;
  }
  if (process.env.BENCH_VERBOSE) {
    // Where the memory is at the RSS peak (heap, off-heap buffers), printed at exit.
    let peak = process.memoryUsage();
    setInterval(() => {
      const m = process.memoryUsage();
      if (m.rss > peak.rss) peak = m;
    }, 20).unref();
    process.once('exit', () => console.error(`${kind} at peak: ${Object.entries(peak).map(([k, v]) => `${k} ${(v / MiB).toFixed(0)}`).join(', ')} MiB`));
  }
  if (process.env.BENCH_TIMELINE) {
    const t0 = Date.now();
    const lines: string[] = [];
    setInterval(() => {
      const m = process.memoryUsage();
      lines.push(`${Date.now() - t0} ${[m.rss, m.heapTotal, m.heapUsed, m.external, m.arrayBuffers].map((v) => (v / MiB).toFixed(0)).join(' ')}`);
    }, 50).unref();
    process.once('exit', () => console.error('t rss heapTotal heapUsed external arrayBuffers\n' + lines.join('\n')));
  }
  // SIGTERM ends the server at once (a --cpu-prof profile is written on exit).
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write(JSON.stringify({ port, token }) + '\n');
}

// ---------------------------------------------------------------- parent side: the clients
interface Started {
  child: ChildProcess;
  endpoint: string;
  token: string;
  dir: string;
}

/**
 * The servers run from one esbuild bundle of this file (coffre's sources included, packages
 * external) under plain `node`: all three in the same runtime, as a deployment with a build
 * step runs them. Under tsx, every process carries about 45 MB more (the TypeScript loader
 * thread), which says nothing about the servers; COFFRE_BENCH_TSX=1 measures that way instead.
 */
async function bundleServers(): Promise<string> {
  const outdir = join('bench', 'results', '.upload-servers');
  if (process.env.COFFRE_BENCH_TSX) return fileURLToPath(import.meta.url);
  const { build } = await import('esbuild');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // Each server loads only its own libraries (dynamic imports become separate chunks).
    splitting: true,
    outExtension: { '.js': '.mjs' },
    // startPlatform imports the full component list only when none is given; we give one.
    external: ['./components.ts'],
    outdir,
    logLevel: 'error',
  });
  return join(outdir, 'upload.mjs');
}

let serverScript = '';

async function startServer(kind: ServerKind, root: string): Promise<Started> {
  const dir = join(root, kind);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (kind === 'coffre-serve') return startCoffreServe(dir);
  const flags = kind.startsWith('coffre') ? COFFRE_NODE_FLAGS : [];
  const args = [...flags, ...(process.env.COFFRE_BENCH_TSX ? ['--import', 'tsx', serverScript] : [serverScript])];
  const child = spawn(process.execPath, [...args, '--serve', kind, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  const { port, token } = JSON.parse(line);
  return { child, endpoint: `http://127.0.0.1:${port}/files/`, token, dir };
}

/** `coffre serve` through bin/coffre.js, as `npm start` runs it; its token from `coffre token`. */
async function startCoffreServe(dir: string): Promise<Started> {
  const bin = join('bin', 'coffre.js');
  const child = spawn(process.execPath, [...COFFRE_NODE_FLAGS, bin, 'serve', '--data-dir', dir, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, COFFRE_LOG_LEVEL: 'warn' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (d) => {
      buf += d;
      const m = /Coffre is running at (\S+)/.exec(buf);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`coffre serve exited with ${code}: ${buf}`)));
  });
  child.stderr!.resume();
  const token = execFileSync(process.execPath, [bin, 'token', '--data-dir', dir, '--space', 'bench'], { encoding: 'utf8' }).trim().split('\n').pop()!;
  return { child, endpoint: `${url}/files/`, token, dir };
}

async function stopServer(s: Started): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  const kill = setTimeout(() => s.child.kill('SIGKILL'), 5000);
  kill.unref();
  await exited;
  rmSync(s.dir, { recursive: true, force: true });
}

/** CPU seconds (user + system) a process has used so far. */
const cpuOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

const rssOf = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
};

async function upload(file: string, size: number, s: Started): Promise<void> {
  const tus = await import('tus-js-client');
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(createReadStream(file), {
      endpoint: s.endpoint,
      uploadSize: size,
      headers: s.token ? { Authorization: `Bearer ${s.token}` } : {},
      metadata: { filename: 'bench.bin' },
      retryDelays: [],
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(),
    });
    u.start();
  });
}

async function measure(kind: ServerKind, root: string, workload: { name: string; file: string; size: number; count: number }) {
  const s = await startServer(kind, root);
  try {
    const rss = rssSampler(() => rssOf(s.child.pid!), 50);
    const cpu0 = cpuOf(s.child.pid!);
    const client0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: workload.count }, () => upload(workload.file, workload.size, s)));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuOf(s.child.pid!) - cpu0;
    const c = process.cpuUsage(client0);
    if (process.env.BENCH_VERBOSE) {
      const f = readFileSync(`/proc/${s.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      console.error(`server user ${Number(f[11]) / 100} s, system ${Number(f[12]) / 100} s (cumulative)`);
    }
    if (process.env.BENCH_VERBOSE) console.error(`client CPU ${((c.user + c.system) / 1e6).toFixed(2)} s in ${seconds.toFixed(2)} s`);
    const peak = rss.stop();
    return { seconds, mibps: (workload.count * workload.size) / MiB / seconds, rssMiB: peak / MiB, cpu };
  } finally {
    await stopServer(s);
  }
}

async function makeFile(path: string, size: number) {
  const block = randomBytes(4 * MiB);
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += block.length) {
    if (!out.write(block.subarray(0, Math.min(block.length, size - written)))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

async function main() {
  const roundsArg = process.argv.indexOf('--rounds');
  const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 2;
  const root = mkdtempSync(join(process.env.COFFRE_BENCH_TMP ?? tmpdir(), 'coffre-bench-upload-'));
  serverScript = await bundleServers();
  try {
    const big = join(root, 'big.bin');
    const small = join(root, 'small.bin');
    await makeFile(big, GiB);
    await makeFile(small, 32 * MiB);
    const workloads = [
      { name: '1 x 1 GiB', file: big, size: statSync(big).size, count: 1 },
      { name: '32 x 32 MiB', file: small, size: statSync(small).size, count: 32 },
    ].filter((w) => !process.env.BENCH_WORKLOADS || process.env.BENCH_WORKLOADS.split(',').includes(String(w.count)));
    const kinds = (process.env.BENCH_SERVERS?.split(',') ?? ['plain', 'tus-server', 'coffre', 'coffre-nofsync', 'coffre-loop', 'coffre-serve']) as ServerKind[];
    const best = new Map<string, { seconds: number; mibps: number; rssMiB: number; cpu: number }>();
    for (let round = 0; round < rounds; round++) {
      for (const w of workloads) {
        for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
          const m = await measure(kind, root, w);
          const key = `${w.name}|${kind}`;
          const prev = best.get(key);
          best.set(key, prev && prev.mibps >= m.mibps ? { ...prev, rssMiB: Math.max(prev.rssMiB, m.rssMiB) } : { ...m, rssMiB: Math.max(prev?.rssMiB ?? 0, m.rssMiB) });
          console.error(`round ${round + 1} ${w.name} ${kind}: ${m.mibps.toFixed(0)} MiB/s, server CPU ${m.cpu.toFixed(2)} s, peak RSS ${m.rssMiB.toFixed(0)} MiB`);
        }
      }
    }
    const rows = [];
    for (const w of workloads) {
      const plain = best.get(`${w.name}|plain`) ?? { mibps: NaN };
      const tusServer = best.get(`${w.name}|tus-server`) ?? { mibps: NaN };
      for (const kind of kinds) {
        const m = best.get(`${w.name}|${kind}`)!;
        rows.push({
          case: `${w.name} ${kind}`,
          'MiB/s': m.mibps,
          seconds: m.seconds,
          'vs plain': m.mibps / plain.mibps,
          'vs @tus/server': m.mibps / tusServer.mibps,
          'server CPU s': m.cpu,
          'peak RSS MiB': m.rssMiB,
        });
      }
    }
    report('upload', { rounds, workloads: workloads.map((w) => ({ name: w.name, bytes: w.size, count: w.count })), client: 'tus-js-client (one PATCH per upload)', runtime: process.env.COFFRE_BENCH_TSX ? 'tsx' : 'esbuild bundle under node', hashing: 'coffre: sha256 of every byte, one body written and hashed on the event loop and the others in the body thread, fdatasync of the data every 8 MiB in the background and at completion; coffre-nofsync: no fsync; coffre-loop: every body on the event loop', coffreNodeFlags: COFFRE_NODE_FLAGS.join(' ') }, rows);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  await runServer(process.argv[3] as ServerKind, process.argv[4]);
} else {
  await main();
}
