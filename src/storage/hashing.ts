import { createHash, type Hash } from 'node:crypto';
import { JobThread, type ThreadJob } from '../platform/job-thread.ts';
import type { DigestAlgorithm } from './contract.ts';

/**
 * The engine's digest of what it reads, either on the calling thread or in a worker thread.
 * Why a worker: SHA-512 costs about as much CPU per byte as reading and writing two copies do in
 * the kernel, so on the event loop it serialises with the I/O; in a worker it runs beside it.
 * How: each chunk is copied into a ring of shared memory (a memcpy, ~35 ms per GiB, against ~1 s
 * to hash it) and only its offset and length cross the thread boundary; the caller's own buffer
 * stays untouched for the writers. The ring is bounded, so a slow hash slows the read (the same
 * back-pressure as a slow offer) and memory stays flat. Small objects are hashed inline: a
 * round trip costs more than hashing a few KiB.
 */
export interface Digester {
  /** Adds a chunk; returns a promise only when the caller must wait for room. */
  update(chunk: Buffer): Promise<void> | undefined;
  digest(): Promise<string>;
  /** Forgets the job (the write failed); never throws. */
  abort(): void;
}

export function createDigester(algorithm: DigestAlgorithm, size: number, options: { threadMinBytes: number; ringBytes?: number }): Digester {
  if (size < options.threadMinBytes) return new InlineDigester(createHash(algorithm));
  return new ThreadDigester(algorithm, options.ringBytes ?? 4 * 1024 * 1024);
}

class InlineDigester implements Digester {
  constructor(private readonly hash: Hash) {}
  update(chunk: Buffer): undefined {
    this.hash.update(chunk);
    return undefined;
  }
  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest('hex'));
  }
  abort(): void {}
}

// The worker's whole program (plain JS, evaluated: works the same under tsx and from a bundle).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'start') { jobs.set(m.job, { hash: createHash(m.algorithm), ring: Buffer.from(m.ring) }); return; }
  const j = jobs.get(m.job);
  if (!j) return;
  if (m.t === 'data') { j.hash.update(j.ring.subarray(m.off, m.off + m.len)); parentPort.postMessage({ t: 'ack', job: m.job, len: m.len }); }
  else if (m.t === 'end') { jobs.delete(m.job); parentPort.postMessage({ t: 'digest', job: m.job, digest: j.hash.digest('hex') }); }
  else if (m.t === 'abort') jobs.delete(m.job);
});`;

/** One hashing thread per process, shared by every write. */
const thread = new JobThread<ThreadDigester>({
  source: WORKER_SOURCE,
  name: 'hashing thread',
  resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  onMessage(m, d) {
    if (m.t === 'ack') d.acked(m.len as number);
    else if (m.t === 'digest') {
      thread.finish(m.job);
      d.done(m.digest as string);
    }
  },
});

class ThreadDigester implements Digester, ThreadJob {
  private readonly ring: SharedArrayBuffer;
  private readonly view: Buffer;
  private readonly job: number;
  private head = 0;
  private used = 0;
  private waiting?: { need: number; resolve(): void; reject(err: Error): void };
  private result?: { resolve(d: string): void; reject(err: Error): void };
  private error?: Error;
  private digestPromise?: Promise<string>;

  constructor(algorithm: DigestAlgorithm, ringBytes: number) {
    this.ring = new SharedArrayBuffer(ringBytes);
    this.view = Buffer.from(this.ring);
    this.job = thread.start(this, { t: 'start', algorithm, ring: this.ring });
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    let off = 0;
    while (off < chunk.length) {
      // The piece goes at the head, up to the end of the ring; it must fit in the free room.
      const piece = Math.min(chunk.length - off, this.view.length - this.head, this.view.length - this.used);
      if (piece === 0) return this.waitForRoom().then(() => this.update(chunk.subarray(off)));
      chunk.copy(this.view, this.head, off, off + piece);
      thread.post({ t: 'data', job: this.job, off: this.head, len: piece });
      this.head = (this.head + piece) % this.view.length;
      this.used += piece;
      off += piece;
    }
    return undefined;
  }

  private waitForRoom(): Promise<void> {
    return new Promise((resolve, reject) => (this.waiting = { need: 1, resolve, reject }));
  }

  acked(len: number): void {
    this.used -= len;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.resolve();
    }
  }

  digest(): Promise<string> {
    this.digestPromise ??= this.error
      ? Promise.reject(this.error)
      : new Promise<string>((resolve, reject) => {
          this.result = { resolve, reject };
          thread.post({ t: 'end', job: this.job });
        });
    return this.digestPromise;
  }

  done(digest: string): void {
    this.result?.resolve(digest);
  }

  fail(err: Error): void {
    this.error = err;
    this.waiting?.reject(err);
    this.result?.reject(err);
  }

  abort(): void {
    if (this.error || this.result) return;
    this.error = new Error('hashing aborted');
    thread.post({ t: 'abort', job: this.job });
    thread.finish(this.job);
  }
}
