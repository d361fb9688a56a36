import { Worker } from 'node:worker_threads';

/**
 * A thread of its own for a checkpoint's folder syncs and unlinks. Why not the event loop and
 * libuv's thread pool: a checkpoint syncs about one folder per object written, and each sync
 * done from the main thread costs it an open, a close and a hand-over to the pool (system calls
 * of 5-15 µs each on a VM), while the pool's four threads are wanted by the writes' own syncs.
 * Here the main thread posts one message per checkpoint. The steps run in order, each only after
 * the previous one succeeded: sync `dirs`, unlink `unlink`, sync `after`.
 */

// The thread's whole program (plain JS, evaluated: works the same under tsx and from a bundle).
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { closeSync, constants, fsyncSync, openSync, unlinkSync } = require('node:fs');
function syncFolder(dir) {
  let fd;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if (err.code === 'ENOENT') return; // gone meanwhile: nothing left to make durable
    throw err;
  }
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
parentPort.on('message', (m) => {
  try {
    for (const d of m.dirs) syncFolder(d);
    for (const f of m.unlink) {
      try { unlinkSync(f); } catch (err) { if (err.code !== 'ENOENT') throw err; }
    }
    for (const d of m.after) syncFolder(d);
    parentPort.postMessage({ job: m.job });
  } catch (err) {
    parentPort.postMessage({ job: m.job, error: { message: err.message, code: err.code } });
  }
});`;

export interface SyncJob {
  dirs: string[];
  unlink: string[];
  after: string[];
}

export class SyncThread {
  private worker?: Worker;
  private readonly jobs = new Map<number, { resolve(): void; reject(err: Error): void }>();
  private nextJob = 1;

  run(job: SyncJob): Promise<void> {
    const worker = (this.worker ??= this.spawn());
    const id = this.nextJob++;
    if (this.jobs.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      worker.postMessage({ job: id, ...job });
    });
  }

  private settle(id: number): { resolve(): void; reject(err: Error): void } | undefined {
    const j = this.jobs.get(id);
    this.jobs.delete(id);
    if (this.jobs.size === 0) this.worker?.unref();
    return j;
  }

  private spawn(): Worker {
    const worker = new Worker(SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } });
    worker.on('message', (m: { job: number; error?: { message: string; code?: string } }) => {
      const j = this.settle(m.job);
      if (!m.error) return j?.resolve();
      j?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const id of [...this.jobs.keys()]) this.settle(id)?.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the folder sync thread stopped (exit code ${code})`)));
    worker.unref();
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
