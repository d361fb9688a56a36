import { RequestThread } from '../../../platform/job-thread.ts';

/**
 * A thread of its own for a checkpoint's folder syncs and unlinks. Why not the event loop and
 * libuv's thread pool: a checkpoint syncs about one folder per object written, and each sync
 * done from the main thread costs it an open, a close and a hand-over to the pool (system calls
 * of 5-15 µs each on a VM), while the pool's four threads are wanted by the writes' own syncs.
 * Here the main thread posts one message per checkpoint. The steps run in order, each only after
 * the previous one succeeded: sync `files` and `dirs`, unlink `unlink`, sync `after`.
 *
 * `dirs` are made durable with one syncfs(2) of their filesystem when they are many (`sync -f`,
 * coreutils; Node has no syncfs): one journal commit for the whole checkpoint instead of a sync
 * per folder (~2 per object in a young offer, whose leaf folders are new). It flushes whatever
 * else is dirty on that filesystem too, which is why only this thread, off every write's path,
 * runs it. Where `sync -f` is missing or fails, the files written without a sync (`files`, small
 * objects) and the folders are synced one by one (a real I/O error then shows there).
 */

// The thread's whole program (plain JS, evaluated: works the same under tsx and from a bundle).
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { closeSync, constants, fsyncSync, openSync, unlinkSync } = require('node:fs');
function syncFolder(dir) {
  syncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}
function syncPath(path, flags) {
  let fd;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    if (err.code === 'ENOENT') return; // gone meanwhile: nothing left to make durable
    throw err;
  }
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
const { execFileSync } = require('node:child_process');
let syncfsWorks = true;
function syncFilesystem(dir) {
  if (!syncfsWorks) return false;
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore', timeout: 600000 });
    return true;
  } catch (err) {
    if (err.code === 'ENOENT') syncfsWorks = false; // no sync command here: never again
    return false;
  }
}
parentPort.on('message', (m) => {
  try {
    if (!(m.syncfs && m.dirs.length && syncFilesystem(m.syncfs))) {
      for (const f of m.files) syncPath(f, constants.O_RDONLY);
      for (const d of m.dirs) syncFolder(d);
    }
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
  /** Files written without a sync of their own (small objects, whose bytes wait in a segment). */
  files: string[];
  dirs: string[];
  /** A folder on the filesystem of every one of `dirs`: sync that filesystem instead of each folder. */
  syncfs?: string;
  unlink: string[];
  after: string[];
}

export class SyncThread {
  private readonly thread = new RequestThread({
    source: SOURCE,
    name: 'folder sync thread',
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });

  async run(job: SyncJob): Promise<void> {
    await this.thread.request({ ...job });
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
