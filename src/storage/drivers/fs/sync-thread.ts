import { RequestThread } from '../../../platform/job-thread.ts';

/**
 * A thread of its own for a checkpoint's work: small objects' files, syncs and unlinks. Why not
 * the event loop and libuv's thread pool: a checkpoint writes a file per small object (four system
 * calls) and syncs about one folder per object written; each sync done from the main thread
 * costs it an open, a close and a hand-over to the pool (system calls of 5-15 µs each on a VM),
 * while the pool's four threads are wanted by the writes' own syncs.
 * Here the main thread posts one message per checkpoint. The steps run in order, each only after
 * the previous one succeeded: write the small objects' files of `place`, sync `files` and `dirs`,
 * unlink `unlink`, sync `after`.
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
const { closeSync, constants, fsyncSync, linkSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } = require('node:fs');
const { dirname } = require('node:path');
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
// A small object's file from the bytes its segment keeps (see pending.ts): written over whatever
// has the name (a retried checkpoint), its folder made when missing, then its digest link. (This
// program is a string run in the thread: it cannot import index.ts's linkReplacing, so it has its own.)
let scratch = Buffer.alloc(0); // one buffer for every object (small ones: at most 64 KiB)
function placeAll(items) {
  const segments = new Map();
  try {
    for (const it of items) {
      let seg = segments.get(it.segment);
      if (seg === undefined) segments.set(it.segment, (seg = openSync(it.segment, 'r')));
      if (scratch.length < it.size) scratch = Buffer.allocUnsafe(Math.max(it.size, 64 * 1024));
      const bytes = scratch.subarray(0, it.size);
      for (let got = 0; got < it.size; ) {
        const n = readSync(seg, bytes, got, it.size - got, it.offset + got);
        if (n === 0) throw Object.assign(new Error('segment ' + it.segment + ' ends before the bytes of ' + it.file), { code: 'EIO' });
        got += n;
      }
      writeFile(it.file, bytes);
      linkReplacing(it.file, it.link);
    }
  } finally {
    for (const fd of segments.values()) closeSync(fd);
  }
}
function writeFile(file, bytes) {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;
  let fd;
  try {
    fd = openSync(file, flags, 0o644);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    mkdirSync(dirname(file), { recursive: true });
    fd = openSync(file, flags, 0o644);
  }
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
}
function linkReplacing(existing, name) {
  try {
    linkSync(existing, name);
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    unlinkSync(name);
    linkSync(existing, name);
  }
}
parentPort.on('message', (m) => {
  try {
    placeAll(m.place);
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

/** A small object's file to write from its segment (see pending.ts). */
export interface PlaceItem {
  segment: string;
  offset: number;
  size: number;
  file: string;
  link: string;
}

export interface SyncJob {
  /** Small objects' files to write first (only on the thread). */
  place: PlaceItem[];
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
