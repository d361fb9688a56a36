import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * A running digest fed while bytes arrive. Two implementations behind one interface: inline
 * (node's Hash on the event loop, ~30 µs per 64 KiB chunk, so HEAD requests never wait long)
 * and a worker thread (gateway.hashWorker) that moves SHA-256 off the event loop at the price
 * of one copy per chunk: a gain only where a core is idle (bench/upload.ts measures both).
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
// bundle and in tests, with no loader to set up. Bytes travel through a fixed pool of slots in
// one SharedArrayBuffer: no allocation per chunk, and memory stays flat however many uploads run.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const view = new Uint8Array(workerData.sab);
const SLOT = workerData.slot;
const hashes = new Map();
parentPort.on('message', (batch) => {
  const freed = [];
  for (const m of batch) {
    if (m.op === 'update') {
      const h = hashes.get(m.key);
      if (h) h.update(view.subarray(m.slot * SLOT, m.slot * SLOT + m.len));
      freed.push(m.slot);
    } else if (m.op === 'init') hashes.set(m.key, createHash(m.algorithm));
    else if (m.op === 'copy') {
      const h = hashes.get(m.from);
      if (h) hashes.set(m.to, h.copy());
    } else if (m.op === 'digest') {
      const h = hashes.get(m.key);
      hashes.delete(m.key);
      parentPort.postMessage({ op: 'digest', key: m.key, value: h ? h.digest() : Buffer.alloc(0) });
    } else if (m.op === 'drop') hashes.delete(m.key);
  }
  if (freed.length) parentPort.postMessage({ op: 'ack', slots: freed });
});
`;
const SLOT = 64 * 1024;
const SLOTS = 48;

type Pending = { data: Buffer } | { message: Record<string, unknown> };

class WorkerDigest implements RunningDigest {
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  private waiters: Array<() => void> = [];
  private result?: { resolve(b: Buffer): void; reject(e: Error): void };

  constructor(
    private readonly pool: WorkerHasher,
    readonly key: number,
  ) {}

  /** Bytes wait for a free slot: the caller should stop reading until they are handed over. */
  get congested() {
    return this.pendingBytes > 0;
  }

  update(chunk: Buffer) {
    // Socket chunks are never written to after they are emitted: keeping a reference is safe.
    for (let at = 0; at < chunk.length; at += SLOT) this.queue({ data: chunk.subarray(at, Math.min(chunk.length, at + SLOT)) });
  }

  private queue(item: Pending) {
    this.pending.push(item);
    if ('data' in item) this.pendingBytes += item.data.length;
    this.pump();
  }

  /** Hands queued work to the worker, in order, as slots allow. */
  pump() {
    while (this.pending.length > 0) {
      const item = this.pending[0];
      if ('data' in item) {
        const slot = this.pool.acquire(this);
        if (slot === undefined) return;
        item.data.copy(this.pool.view, slot * SLOT);
        this.pool.send({ op: 'update', key: this.key, slot, len: item.data.length });
        this.pendingBytes -= item.data.length;
      } else {
        this.pool.send(item.message);
      }
      this.pending.shift();
    }
    for (const w of this.waiters.splice(0)) w();
  }

  whenDrained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  copy(): RunningDigest {
    const twin = this.pool.register();
    this.queue({ message: { op: 'copy', from: this.key, to: twin.key } });
    return twin;
  }

  digest(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.queue({ message: { op: 'digest', key: this.key } });
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
    for (const item of this.pending) if ('data' in item) this.pendingBytes -= item.data.length;
    this.pending.length = 0;
    this.pool.send({ op: 'drop', key: this.key });
    this.pool.forget(this.key);
    for (const w of this.waiters.splice(0)) w();
  }
}

/** One worker thread hashing for every upload of the process (a core's worth of SHA-256). */
class WorkerHasher implements Hasher {
  private readonly worker: Worker;
  readonly view: Buffer;
  private readonly digests = new Map<number, WorkerDigest>();
  private readonly free: number[] = Array.from({ length: SLOTS }, (_, i) => i);
  /** Digests waiting for a slot, served in turn. */
  private readonly starving = new Set<WorkerDigest>();
  private nextKey = 1;
  private failed?: Error;

  constructor() {
    const sab = new SharedArrayBuffer(SLOT * SLOTS);
    this.view = Buffer.from(sab);
    // The worker only holds hash states and small messages: a small heap keeps its memory low.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab, slot: SLOT }, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } });
    this.worker.unref();
    this.worker.on('message', (m: { op: string; key: number; slots?: number[]; value?: Uint8Array }) => {
      if (m.op === 'ack') return this.release(m.slots!);
      if (m.op === 'digest') this.digests.get(m.key)?.onDigest(m.value!);
    });
    this.worker.on('error', (err) => this.failAll(err as Error));
    this.worker.on('exit', (code) => code !== 0 && this.failAll(new Error(`the hash worker exited with code ${code}`)));
  }

  acquire(d: WorkerDigest): number | undefined {
    const slot = this.free.pop();
    if (slot === undefined) this.starving.add(d);
    return slot;
  }

  private release(slots: number[]) {
    this.free.push(...slots);
    for (const d of this.starving) {
      if (this.free.length === 0) return;
      this.starving.delete(d);
      d.pump();
    }
  }

  private failAll(err: Error) {
    this.failed = err;
    for (const d of this.digests.values()) d.fail(err);
    this.digests.clear();
  }

  /** Messages leave in batches, once per turn of the event loop: one postMessage for many chunks. */
  private outbox: unknown[] = [];
  send(message: unknown) {
    if (this.failed) throw this.failed;
    this.outbox.push(message);
    if (this.outbox.length === 1) setImmediate(() => this.flush());
  }

  private flush() {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length && !this.failed) this.worker.postMessage(batch);
  }

  register(): WorkerDigest {
    const d = new WorkerDigest(this, this.nextKey++);
    this.digests.set(d.key, d);
    return d;
  }

  forget(key: number) {
    const d = this.digests.get(key);
    if (d) this.starving.delete(d);
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
