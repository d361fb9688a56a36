import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * A running digest fed while bytes arrive. Two implementations behind one interface: inline
 * (node's Hash on the event loop, ~30 µs per 64 KiB chunk, so HEAD requests never wait long)
 * and a worker thread (gateway.hashWorker) that reads the bytes back from the file once they
 * are written (from the page cache) and hashes them off the event loop: the event loop hands
 * over nothing but offsets, and memory stays flat since the file is the only buffer.
 */
export interface RunningDigest {
  /** Appends bytes (inline hashers; file hashers ignore them). */
  update(chunk: Buffer): void;
  /** The data now ends at `end` of the file at `path` (file hashers read it from there). */
  extendTo(path: string, end: number): void;
  /** An independent copy of the current state (to roll back a discarded chunk). */
  copy(): RunningDigest;
  /** The digest; the object cannot be used afterwards. */
  digest(): Promise<Buffer>;
  /** Forgets the state without a digest. */
  drop(): void;
}

export interface Hasher {
  /** True when digests read the bytes back from the file (extendTo) instead of update(). */
  readonly readsFile: boolean;
  create(algorithm: string): RunningDigest;
  close(): Promise<void>;
}

class InlineDigest implements RunningDigest {
  constructor(private readonly hash: Hash) {}
  update(chunk: Buffer) {
    this.hash.update(chunk);
  }
  extendTo() {}
  copy() {
    return new InlineDigest(this.hash.copy());
  }
  digest() {
    return Promise.resolve(this.hash.digest());
  }
  drop() {}
}

export const inlineHasher = (): Hasher => ({
  readsFile: false,
  create: (algorithm) => new InlineDigest(createHash(algorithm)),
  close: async () => {},
});

// The worker is plain JavaScript evaluated from a string: it runs the same under tsx, in a
// bundle and in tests, with no loader to set up.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 20);
const states = new Map();
const close = (st) => { if (st && st.fd !== undefined) { try { fs.closeSync(st.fd); } catch {} st.fd = undefined; } };
parentPort.on('message', (batch) => {
  for (const m of batch) {
    if (m.op === 'extend') {
      const st = states.get(m.key);
      if (!st || m.end <= st.pos) continue;
      try {
        if (st.fd === undefined || st.path !== m.path) { close(st); st.fd = fs.openSync(m.path, 'r'); st.path = m.path; }
        while (st.pos < m.end) {
          const n = fs.readSync(st.fd, buf, 0, Math.min(buf.length, m.end - st.pos), st.pos);
          if (n <= 0) break;
          st.h.update(buf.subarray(0, n));
          st.pos += n;
        }
      } catch (err) {
        st.error = String(err && err.message || err);
      }
    } else if (m.op === 'init') states.set(m.key, { h: createHash(m.algorithm), pos: 0 });
    else if (m.op === 'copy') {
      const st = states.get(m.from);
      if (st) states.set(m.to, { h: st.h.copy(), pos: st.pos, error: st.error });
    } else if (m.op === 'digest') {
      const st = states.get(m.key);
      states.delete(m.key);
      close(st);
      parentPort.postMessage({ op: 'digest', key: m.key, value: st && !st.error ? st.h.digest() : null, pos: st ? st.pos : 0, error: st && st.error });
    } else if (m.op === 'drop') {
      close(states.get(m.key));
      states.delete(m.key);
    }
  }
});
`;

class FileDigest implements RunningDigest {
  private target?: { path: string; end: number };
  private result?: { resolve(b: Buffer): void; reject(e: Error): void };
  /** The length the digest must cover when it is asked for. */
  private length = 0;

  constructor(
    private readonly pool: WorkerHasher,
    readonly key: number,
  ) {}

  update() {}

  extendTo(path: string, end: number) {
    this.target = { path, end };
    this.length = Math.max(this.length, end);
    this.pool.dirty(this);
  }

  /** Sends the pending extension before any later message of this digest. */
  emitExtend() {
    if (!this.target) return;
    this.pool.send({ op: 'extend', key: this.key, path: this.target.path, end: this.target.end });
    this.target = undefined;
  }

  copy(): RunningDigest {
    this.emitExtend();
    const twin = this.pool.register();
    twin.length = this.length;
    this.pool.send({ op: 'copy', from: this.key, to: twin.key });
    return twin;
  }

  digest(): Promise<Buffer> {
    this.emitExtend();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.pool.send({ op: 'digest', key: this.key });
    });
  }

  onDigest(value: Uint8Array | null, pos: number, error?: string) {
    this.pool.forget(this.key);
    if (!value || pos !== this.length) {
      this.result?.reject(new Error(`the hash worker read ${pos} of ${this.length} bytes${error ? `: ${error}` : ''}`));
    } else {
      this.result?.resolve(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  }

  fail(err: Error) {
    this.result?.reject(err);
  }

  drop() {
    this.target = undefined;
    this.pool.send({ op: 'drop', key: this.key });
    this.pool.forget(this.key);
  }
}

/** One worker thread hashing for every upload of the process (a core's worth of SHA-256). */
class WorkerHasher implements Hasher {
  readonly readsFile = true;
  private readonly worker: Worker;
  private readonly digests = new Map<number, FileDigest>();
  private readonly pendingExtends = new Set<FileDigest>();
  private outbox: unknown[] = [];
  private scheduled = false;
  private nextKey = 1;
  private failed?: Error;

  constructor() {
    // The worker only holds hash states and one read buffer: a small heap keeps memory low.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } });
    this.worker.unref();
    this.worker.on('message', (m: { op: string; key: number; value: Uint8Array | null; pos: number; error?: string }) => {
      if (m.op === 'digest') this.digests.get(m.key)?.onDigest(m.value, m.pos, m.error);
    });
    this.worker.on('error', (err) => this.failAll(err as Error));
    this.worker.on('exit', (code) => code !== 0 && this.failAll(new Error(`the hash worker exited with code ${code}`)));
  }

  private failAll(err: Error) {
    this.failed = err;
    for (const d of this.digests.values()) d.fail(err);
    this.digests.clear();
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Messages leave in one batch per turn of the event loop, extensions coalesced per digest. */
  private flush() {
    for (const d of this.pendingExtends) d.emitExtend();
    this.pendingExtends.clear();
    this.scheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length && !this.failed) this.worker.postMessage(batch);
  }

  dirty(d: FileDigest) {
    this.pendingExtends.add(d);
    this.schedule();
  }

  send(message: unknown) {
    if (this.failed) throw this.failed;
    this.outbox.push(message);
    this.schedule();
  }

  register(): FileDigest {
    const d = new FileDigest(this, this.nextKey++);
    this.digests.set(d.key, d);
    return d;
  }

  forget(key: number) {
    const d = this.digests.get(key);
    if (d) this.pendingExtends.delete(d);
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
