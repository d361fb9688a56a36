import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * A running digest fed while bytes arrive. Two implementations behind one interface: inline
 * (node's Hash on the event loop) and a worker thread (the default), which keeps SHA-256 of
 * every received byte off the event loop: measured, hashing inline halves the gateway's
 * throughput when the CPU is busy (bench/upload.ts).
 */
export interface RunningDigest {
  update(chunk: Buffer): void;
  /** True while too many bytes wait to be hashed: the caller should stop reading. */
  readonly congested: boolean;
  whenDrained(): Promise<void>;
  /** An independent copy of the current state (to roll back a discarded chunk). */
  copy(): RunningDigest;
  /** The digest; the object cannot be used afterwards. */
  digest(): Promise<Buffer>;
  /** Forgets the state without a digest. */
  drop(): void;
}

export interface Hasher {
  create(algorithm: string): RunningDigest;
  close(): Promise<void>;
}

class InlineDigest implements RunningDigest {
  readonly congested = false;
  constructor(private readonly hash: Hash) {}
  update(chunk: Buffer) {
    this.hash.update(chunk);
  }
  whenDrained() {
    return Promise.resolve();
  }
  copy() {
    return new InlineDigest(this.hash.copy());
  }
  digest() {
    return Promise.resolve(this.hash.digest());
  }
  drop() {}
}

export const inlineHasher = (): Hasher => ({
  create: (algorithm) => new InlineDigest(createHash(algorithm)),
  close: async () => {},
});

// The worker is plain JavaScript evaluated from a string: it runs the same under tsx, in a
// bundle and in tests, with no loader to set up.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'init') hashes.set(m.key, createHash(m.algorithm));
  else if (m.op === 'update') {
    const h = hashes.get(m.key);
    if (h) h.update(new Uint8Array(m.buf, 0, m.len));
    parentPort.postMessage({ op: 'ack', key: m.key, bytes: m.len });
  } else if (m.op === 'copy') {
    const h = hashes.get(m.from);
    if (h) hashes.set(m.to, h.copy());
  } else if (m.op === 'digest') {
    const h = hashes.get(m.key);
    hashes.delete(m.key);
    const value = h ? h.digest() : Buffer.alloc(0);
    parentPort.postMessage({ op: 'digest', key: m.key, value });
  } else if (m.op === 'drop') hashes.delete(m.key);
});
`;

/** Bytes copied into one message to the worker. */
const BATCH = 256 * 1024;
/** Bytes of one upload waiting in the worker before its request is paused. */
const HIGH_WATER = 2 * BATCH;

class WorkerDigest implements RunningDigest {
  private batch: Buffer | null = null;
  private used = 0;
  private inflight = 0;
  private waiters: Array<() => void> = [];
  private result?: { resolve(b: Buffer): void; reject(e: Error): void };

  constructor(
    private readonly pool: WorkerHasher,
    readonly key: number,
  ) {}

  get congested() {
    return this.inflight >= HIGH_WATER;
  }

  update(chunk: Buffer) {
    let at = 0;
    while (at < chunk.length) {
      if (!this.batch) this.batch = Buffer.allocUnsafeSlow(BATCH);
      const n = chunk.copy(this.batch, this.used, at, Math.min(chunk.length, at + BATCH - this.used));
      this.used += n;
      at += n;
      if (this.used === BATCH) this.post();
    }
  }

  private post() {
    if (!this.batch || this.used === 0) return;
    const buf = this.batch.buffer as ArrayBuffer;
    this.pool.send({ op: 'update', key: this.key, buf, len: this.used }, [buf]);
    this.inflight += this.used;
    this.batch = null;
    this.used = 0;
  }

  onAck(bytes: number) {
    this.inflight -= bytes;
    if (!this.congested) for (const w of this.waiters.splice(0)) w();
  }

  whenDrained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  copy(): RunningDigest {
    this.post();
    const twin = this.pool.register();
    this.pool.send({ op: 'copy', from: this.key, to: twin.key });
    return twin;
  }

  digest(): Promise<Buffer> {
    this.post();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.pool.send({ op: 'digest', key: this.key });
    });
  }

  onDigest(value: Uint8Array) {
    this.pool.forget(this.key);
    this.result?.resolve(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }

  fail(err: Error) {
    this.result?.reject(err);
    for (const w of this.waiters.splice(0)) w();
  }

  drop() {
    this.batch = null;
    this.used = 0;
    this.pool.send({ op: 'drop', key: this.key });
    this.pool.forget(this.key);
  }
}

/** One worker thread hashing for every upload of the process (a core's worth of SHA-256). */
class WorkerHasher implements Hasher {
  private readonly worker: Worker;
  private readonly digests = new Map<number, WorkerDigest>();
  private nextKey = 1;
  private failed?: Error;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (m: { op: string; key: number; bytes?: number; value?: Uint8Array }) => {
      const d = this.digests.get(m.key);
      if (!d) return;
      if (m.op === 'ack') d.onAck(m.bytes!);
      else if (m.op === 'digest') d.onDigest(m.value!);
    });
    this.worker.on('error', (err) => this.failAll(err as Error));
    this.worker.on('exit', (code) => code !== 0 && this.failAll(new Error(`the hash worker exited with code ${code}`)));
  }

  private failAll(err: Error) {
    this.failed = err;
    for (const d of this.digests.values()) d.fail(err);
    this.digests.clear();
  }

  send(message: unknown, transfer: ArrayBuffer[] = []) {
    if (this.failed) throw this.failed;
    this.worker.postMessage(message, transfer);
  }

  register(): WorkerDigest {
    const d = new WorkerDigest(this, this.nextKey++);
    this.digests.set(d.key, d);
    return d;
  }

  forget(key: number) {
    this.digests.delete(key);
  }

  create(algorithm: string): RunningDigest {
    createHash(algorithm); // refuse an unknown algorithm here, not in the worker
    const d = this.register();
    this.send({ op: 'init', key: d.key, algorithm });
    return d;
  }

  async close() {
    await this.worker.terminate();
  }
}

export const workerHasher = (): Hasher => new WorkerHasher();
