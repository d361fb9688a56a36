import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, createReadStream, fsyncSync, linkSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncFiles, fsyncFolder, fsyncFolders } from './folders.ts';
import { digestLinkPath, folderChain, objectPaths, parseDigestLink, type LevelWidth, type ObjectPaths } from './layout.ts';
import type { LogRecord, WriteLog } from './write-log.ts';

/**
 * The replay at an offer's first opening in a process (see checkpoint.ts for why writes are held).
 * Reads the log's records since the last checkpoint and, object by object, makes the folder
 * entries agree with the last record: after a write whose held temp file is still there, the
 * object's name and digest link point to the held inode (made again when a crash lost them, once
 * the held file's size and digest are checked against the record; a name that points to another
 * inode is never replaced); after a small object's write, its file holds the bytes kept in the
 * write's segment (rewritten from them when the crash lost or tore it); after a delete, the
 * object's names are gone (a hold of an earlier write never brings it back).
 * Then the folders are synced, the holds released and a checkpoint line written, as a checkpoint
 * would. Running it again finds nothing to do (every hold is released).
 */
export async function replay(root: string, tmpDir: string, log: WriteLog, width: LevelWidth): Promise<{ redone: number; deleted: number }> {
  const records = await log.recordsToReplay();
  const holds = new Set<string>();
  const dirs = new Set<string>();
  const files = new Set<string>();
  let redone = 0;
  let deleted = 0;
  for (const history of byObject(records).values()) {
    for (const r of history) if (r.hold) holds.add(r.hold);
    const last = history[history.length - 1];
    let paths: ObjectPaths;
    try {
      paths = objectPaths(root, last.container, last.id, width);
    } catch {
      continue; // not a record this driver wrote
    }
    if (last.action === 'delete') {
      if (removeNames(paths)) {
        deleted++;
        dirs.add(paths.dir);
      }
      continue;
    }
    if (last.inline && last.algorithm && last.digest && last.size !== undefined) {
      if (await restoreInline(log, paths, last)) {
        redone++;
        files.add(paths.file);
        for (const d of folderChain(root, paths.dir)) dirs.add(d);
      }
      continue;
    }
    if (!last.hold || !last.algorithm || !last.digest) continue;
    const held = join(tmpDir, last.hold);
    let st: Stats;
    try {
      st = lstatSync(held);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released by a checkpoint
      throw err;
    }
    const named = nameOf(paths.file);
    if (named !== undefined && named !== st.ino) continue; // another object has the name: never replaced
    // The name is missing: the record may have reached the disk before the bytes (they are synced
    // at the same time), so the held file must hold exactly what the record says.
    if (named === undefined && !(await matches(held, st.size, last))) continue;
    await mkdir(paths.dir, { recursive: true });
    const changed = [linkAs(held, st.ino, paths.file), linkAs(held, st.ino, digestLinkPath(paths, last.algorithm, last.digest))];
    if (changed.some(Boolean)) redone++;
    // What the crashed process made may all be lost on a power cut: the whole chain is synced.
    for (const d of folderChain(root, paths.dir)) dirs.add(d);
  }
  if (!holds.size && !dirs.size) {
    log.releaseSegments(log.firstUnreleased()); // left by a run that stopped before its last checkpoint removed them
    return { redone, deleted };
  }
  await fsyncFiles(files, 4);
  await fsyncFolders(dirs, 4);
  for (const h of holds) {
    try {
      unlinkSync(join(tmpDir, h));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  await fsyncFolder(tmpDir);
  const from = log.firstUnreleased();
  await log.appendCheckpoint({ checkpoint: new Date().toISOString(), from });
  log.releaseSegments(from);
  return { redone, deleted };
}

/**
 * A small object's write (its bytes in a segment): its file must hold those bytes. Its file was
 * written without a sync, so a crash of the machine may have lost or torn it: it is written again
 * from the segment (a new file renamed over the name) unless it has the right size and digest.
 * A segment that lacks the bytes means the write never answered (the record reached the disk
 * before them): nothing is made. Returns whether the object is there (and must be synced).
 */
async function restoreInline(log: WriteLog, paths: ObjectPaths, record: LogRecord): Promise<boolean> {
  const bytes = log.readInline(record.inline!, record.size!);
  if (!bytes || createHash(record.algorithm!).update(bytes).digest('hex') !== record.digest) return false;
  let st = statOf(paths.file);
  if (!st || !(await matches(paths.file, st.size, record))) {
    await mkdir(paths.dir, { recursive: true });
    const fresh = join(paths.dir, `.${paths.id}.${randomBytes(6).toString('hex')}.replay`);
    const fd = openSync(fresh, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(fresh, paths.file);
    st = lstatSync(paths.file);
  }
  linkAs(paths.file, st.ino, digestLinkPath(paths, record.algorithm!, record.digest!));
  return true;
}

function statOf(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** The inode a name points to, or undefined when there is no such name. */
function nameOf(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether a held file has the size and digest its record gives. */
async function matches(path: string, size: number, record: LogRecord): Promise<boolean> {
  if (record.size !== undefined && record.size !== size) return false;
  const hash = createHash(record.algorithm!);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex') === record.digest;
}

function byObject(records: LogRecord[]): Map<string, LogRecord[]> {
  const map = new Map<string, LogRecord[]>();
  for (const r of records) {
    const key = `${r.container}/${r.id}`;
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    list.push(r);
  }
  return map;
}

/**
 * Makes `name` a link to the inode of `held` (number `ino`). A name there that points to another
 * inode is replaced atomically (a new link renamed over it). Returns whether anything changed.
 */
function linkAs(held: string, ino: number, name: string): boolean {
  try {
    if (lstatSync(name).ino === ino) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    linkSync(held, name);
    return true;
  }
  // A dot name, so that list() never shows it should a crash leave it behind.
  const fresh = join(dirname(name), `.${basename(name)}.${randomBytes(6).toString('hex')}.replay`);
  linkSync(held, fresh);
  renameSync(fresh, name);
  return true;
}

/** Unlinks an object's name and its digest links; returns whether any was there. */
function removeNames(paths: ObjectPaths): boolean {
  let names: string[];
  try {
    names = readdirSync(paths.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  let any = false;
  for (const name of names) {
    if (name !== paths.id && !parseDigestLink(name, paths.id)) continue;
    unlinkSync(join(paths.dir, name));
    any = true;
  }
  return any;
}
