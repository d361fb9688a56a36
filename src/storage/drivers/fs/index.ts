import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, constants, createReadStream, fsync, linkSync, lstatSync, open as fsOpen, unlinkSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { access, mkdir, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  StorageError,
  type ByteRange,
  type Capacity,
  type Connection,
  type DigestAlgorithm,
  type Driver,
  type GetResult,
  type ListEntry,
  type OfferDefinition,
  type PutRequest,
  type PutResult,
  type WriteLogEntry,
} from '../../contract.ts';
import { fsyncDir } from '../../../platform/files.ts';
import { FlushBehind } from './flush-behind.ts';
import { Checkpointer } from './checkpoint.ts';
import { makeFolderSpread, markTopDirectory, removeUnfinishedFolders } from './spread.ts';
import { checkContainer, digestLinkPath, folderChain, objectPaths, offerLayout, offerMetaDir, NEW_OFFER_WIDTH, parseDigestLink, tmpDirOf, type LevelWidth, type ObjectPaths } from './layout.ts';
import { replay } from './recovery.ts';
import { PendingObjects, pendingBytes, pendingDigest, type PendingObject } from './pending.ts';
import { WriteLog } from './write-log.ts';

/**
 * The local filesystem driver. Parameters: `path` (the offer's root folder, created on connect),
 * optional `quotaBytes` (usable capacity reported is then the least of the quota left and the
 * free space). Writes never overwrite an object. A streamed write: temp file in the offer's temp
 * folder, fsync, a line in the offer's write log naming the temp file, links to the final name and
 * to the digest link; the temp file is kept ("held") until a checkpoint has synced the object's
 * folder (see checkpoint.ts); the log and the temp folder are synced once per batch. A small
 * object (≤ 64 KiB): its bytes go with its log line, into a segment synced with the log
 * (inline-segments.ts); its file is written and synced by the next checkpoint (pending.ts).
 */

/** Links `name` to `existing`; a name already there (left by an interrupted remove) is replaced. */
function linkReplacing(existing: string, name: string): void {
  try {
    linkSync(existing, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    unlinkSync(name);
    linkSync(existing, name);
  }
}

/** Whether a name exists (the name itself, not what a symbolic link points to). */
function nameExists(path: string): boolean {
  // No exception for the usual answer (a new object): building one costs more than the lstat.
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** A temp file whose bytes are written: sync() makes them durable and closes it; abandon() only closes it. */
interface WrittenFile {
  sync(): Promise<void>;
  abandon(): void;
}

/** One lock per key: the holders of a key run one after another, in the order they asked. */
class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async lock(key: string): Promise<() => void> {
    const before = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before ? before.then(() => mine) : mine;
    this.tails.set(key, tail);
    await before;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

const IO_RETRYABLE = new Set(['EIO', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'ETIMEDOUT', 'ESTALE']);

/** Maps a filesystem error onto the contract's codes. */
function fsError(err: unknown, what: string, offerId: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const msg = `${what}: ${(err as Error)?.message ?? err}`;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StorageError('FULL', msg, false, offerId, { cause: err });
  if (code === 'ENOENT') return new StorageError('NOT_FOUND', msg, false, offerId, { cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new StorageError('UNAVAILABLE', msg, false, offerId, { cause: err });
  return new StorageError('IO', msg, IO_RETRYABLE.has(code), offerId, { cause: err });
}

const rootOf = (offer: OfferDefinition): string => {
  const p = offer.parameters.path;
  if (typeof p !== 'string' || !p) throw new StorageError('BAD_REQUEST', `offer ${offer.id}: the fs driver needs a "path" parameter`, false, offer.id);
  return resolve(p);
};

const fsyncFd = promisify(fsync);
const openFd = promisify(fsOpen);
const writeFd = promisify(write);
/** Chunks up to this size are written synchronously (page cache only: microseconds). */
const SMALL_WRITE = 64 * 1024;
/** Objects bigger than this are flushed to disk behind the writing, every this many bytes. */
const FLUSH_BEHIND_BYTES = 32 * 1024 * 1024;
/** Objects up to this size are gathered and written with one O_SYNC write (see writeSmall). */
const SMALL_OBJECT = 64 * 1024;

/**
 * A unique part for temp file names: a random tag per process and a counter (one randomBytes
 * call per write cost more than the rest of the name). The file is created with O_EXCL anyway.
 */
const TEMP_TAG = randomBytes(6).toString('hex');
let tempCount = 0;
const tempTag = () => `${TEMP_TAG}${(++tempCount).toString(36)}`;

function writeAllSync(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += (await writeFd(fd, chunk, off, chunk.length - off, null)).bytesWritten;
}

/**
 * The body's chunks as they were pushed. Why not `for await (… of body)`: a stream's async
 * iterator calls read(), which concatenates everything buffered into a new buffer (an allocation
 * and a copy of every byte when the writer keeps a few chunks ahead, as the engine's fan-out does).
 */
async function* chunksOf(body: Readable): AsyncGenerator<Buffer> {
  // The stream may have failed or ended before anyone listened (its events are gone by now).
  if (body.errored) throw body.errored;
  if (body.readableEnded) return;
  if (body.destroyed) throw new Error('the body was closed before its end');
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    body.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: Error) => {
    failure = err;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('the body was closed before its end');
    notify();
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        if (!queue.length) body.resume();
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
  }
}

/**
 * What every connection to one offer folder in this process shares: the write log, the
 * checkpoints, the locks per object, and the folders made so far (a connection pool of 16 would otherwise mkdir each one
 * 16 times). `ready` is the replay run before the first connection is handed out.
 */
interface SharedOffer {
  log: WriteLog;
  checkpoints: Checkpointer;
  locks: KeyLocks;
  users: number;
  madeDirs: Map<string, Promise<unknown>>;
  /** Container folders made or found by this process (see spread.ts). */
  containers: Map<string, Promise<void>>;
  /** Small objects whose file the next checkpoint writes (read from their segment meanwhile). */
  pending: PendingObjects;
  /** The offer's layout (read before the replay, which needs it). */
  width: LevelWidth;
  ready: Promise<unknown>;
}
const shared = new Map<string, SharedOffer>();
/** Offer folders whose last connection is closing (their final checkpoint is under way). */
const closing = new Map<string, Promise<void>>();

async function openShared(root: string): Promise<SharedOffer> {
  await closing.get(root);
  let entry = shared.get(root);
  if (!entry) {
    const tmpDir = tmpDirOf(root);
    const log = new WriteLog(offerMetaDir(root), [tmpDir]);
    // `width` is the layout's once `ready` (no connection is handed out before).
    const pending = new PendingObjects();
    const created: SharedOffer = { log, checkpoints: new Checkpointer(log, tmpDir, pending), locks: new KeyLocks(), users: 0, madeDirs: new Map(), containers: new Map(), pending, width: NEW_OFFER_WIDTH, ready: Promise.resolve() };
    created.ready = offerLayout(root).then(async (width) => {
      created.width = width;
      await markTopDirectory(root);
      await removeUnfinishedFolders(root);
      return replay(root, tmpDir, log, width);
    });
    entry = created;
    shared.set(root, entry);
    created.ready.catch(() => {
      if (shared.get(root) === created) shared.delete(root); // the next connect tries again
    });
  }
  await entry.ready;
  return entry;
}

class FsConnection implements Connection {
  private readonly root: string;
  private readonly tmpDir: string;
  private readonly log: WriteLog;
  private readonly checkpoints: Checkpointer;
  private readonly madeDirs: Map<string, Promise<unknown>>;
  private closed = false;

  constructor(readonly offer: Readonly<OfferDefinition>, root: string, private readonly shared: SharedOffer) {
    this.root = root;
    this.tmpDir = tmpDirOf(root);
    shared.users++;
    this.log = shared.log;
    this.checkpoints = shared.checkpoints;
    this.madeDirs = shared.madeDirs;
  }

  private err(err: unknown, what: string) {
    return fsError(err, what, this.offer.id);
  }

  async capacity(): Promise<Capacity> {
    try {
      const s = await statfs(this.root);
      let usable = s.bavail * s.bsize;
      const total = s.blocks * s.bsize;
      const quota = this.offer.parameters.quotaBytes;
      if (typeof quota === 'number') {
        const used = await this.usedBytes();
        usable = Math.min(usable, Math.max(0, quota - used));
        return { usableBytes: usable, totalBytes: quota };
      }
      return { usableBytes: usable, totalBytes: total };
    } catch (err) {
      throw this.err(err, `capacity of ${this.root}`);
    }
  }

  private async usedBytes(): Promise<number> {
    let used = 0;
    // A put makes its container's folder before anything else (containerReady), pending objects' too.
    for (const c of await readdir(this.root).catch(() => [] as string[])) {
      if (c.startsWith('.')) continue;
      for await (const e of this.list(c)) used += e.size;
    }
    return used;
  }

  /**
   * Makes the object's folder (once per folder in this process: writes to a folder being made
   * wait for the same mkdir). Its durability is the checkpoint's business (see dirsToSync).
   */
  private ensureDir(dir: string): Promise<unknown> {
    let made = this.madeDirs.get(dir);
    if (!made) {
      if (this.madeDirs.size > 10_000) this.madeDirs.clear(); // a bound; forgetting only costs a mkdir
      made = mkdir(dir, { recursive: true });
      made.catch(() => this.madeDirs.delete(dir));
      this.madeDirs.set(dir, made);
    }
    return made;
  }

  /** The container's folder, made (spread, see spread.ts) or found once per process; a failure is tried again by the next put. */
  private containerReady(container: string): Promise<void> {
    let ready = this.shared.containers.get(container);
    if (!ready) {
      ready = makeFolderSpread(this.root, container);
      ready.catch(() => this.shared.containers.get(container) === ready && this.shared.containers.delete(container));
      this.shared.containers.set(container, ready);
    }
    return ready;
  }

  /**
   * The folders a checkpoint must sync for a write to `leaf`: the leaf (the object's names) and,
   * unless an earlier checkpoint synced them since this process made or found the leaf, every
   * folder up to the offer's root (the leaf may be new, or its parent, and so on).
   */
  private dirsToSync(leaf: string): string[] {
    return this.checkpoints.durableDirs.has(leaf) ? [leaf] : folderChain(this.root, leaf);
  }

  /**
   * Why some calls are synchronous: link, lstat, close and small writes (page cache only) take
   * microseconds on a local filesystem, but through libuv's 4-thread pool they queue behind the
   * syncs of every other write in flight. Creating inodes (mkdir, the temp file), syncs and big
   * writes can wait on the journal or the disk, so they go to the thread pool.
   *
   * Puts and removes of one object run one after another in this process (a lock per object), so
   * that what a put sees of its object's name when it starts stays true until it ends.
   */
  async put(request: PutRequest): Promise<PutResult> {
    let paths: ObjectPaths;
    try {
      paths = objectPaths(this.root, request.container, request.id, this.shared.width);
    } catch (err) {
      request.body.destroy();
      throw err;
    }
    const unlock = await this.shared.locks.lock(paths.file);
    try {
      await this.containerReady(request.container);
      const pending = this.shared.pending.get(request.container, request.id);
      if (pending || nameExists(paths.file)) return await this.putOverExisting(request, paths, pending);
      if (request.size > 0 && request.size <= SMALL_OBJECT) return await this.putInline(request, paths);
      return await this.putNew(request, paths);
    } catch (err) {
      request.body.destroy();
      throw this.err(err, `writing ${request.container}/${request.id} to ${this.root}`);
    } finally {
      unlock();
    }
  }

  /**
   * A new object. Its bytes go to a temp file in the offer's temp folder (same filesystem, always
   * there; the object's folder is made meanwhile). Once they are all written, two things are made
   * durable at the same time: the bytes (their sync), and the log record that names the temp file
   * with the object's size and digest (the log's datasync and a sync of the temp folder, shared
   * by a batch of puts). Then the object's names are linked to the temp file, which stays there —
   * held — until a checkpoint has synced the object's folder (see checkpoint.ts). The record may
   * reach the disk before the bytes: a replay checks a held file's size and digest before it links
   * anything to it (recovery.ts).
   */
  private async putNew(request: PutRequest, paths: ObjectPaths): Promise<PutResult> {
    // Not `body`: taking it would make the stream that a put given its bytes does without.
    const { container, id, size, digestAlgorithm, sourceDigest } = request;
    const tmpName = `${container}.${id}.${tempTag()}.tmp`;
    const tmp = join(this.tmpDir, tmpName);
    let tmpExists = false;
    const created = () => void (tmpExists = true);
    let linked: string[] = [];
    let sequence: number | undefined;
    const dirReady = this.ensureDir(paths.dir);
    dirReady.catch(() => {}); // awaited below, unless the write fails first
    try {
      // The bytes come from the engine's own pass and go to the file unchanged, so the engine's
      // digest of them is the digest of this file: no second hash (see PutRequest.sourceDigest).
      // The size is still counted here. Without it (retries, direct callers), hash while writing.
      const hash = sourceDigest ? undefined : createHash(digestAlgorithm);
      const bytes = { counted: 0, container, id, size };
      const written = await this.writeStreamed(tmp, request.body, bytes, hash, created);
      let digest: string;
      try {
        digest = hash ? hash.digest('hex') : await sourceDigest!;
      } catch (err) {
        written.abandon();
        throw err;
      }
      const record = this.log.append({ container, id, action: 'write', at: new Date().toISOString(), size, algorithm: digestAlgorithm, digest, hold: tmpName }, [this.tmpDir]);
      record.then((s) => (sequence = s)).catch(() => {});
      const [synced, logged] = await Promise.allSettled([written.sync(), record]);
      if (synced.status === 'rejected') throw synced.reason;
      if (logged.status === 'rejected') throw logged.reason;
      await dirReady;
      const digestLink = digestLinkPath(paths, digestAlgorithm, digest);
      linkSync(tmp, paths.file); // no object had the name when the put began, and none can since (lock)
      linked = [paths.file];
      // The digest link: a second name of the same inode that carries the digest in its name (no
      // inode, no data block, nothing to tear).
      linkReplacing(tmp, digestLink);
      linked.push(digestLink);
      tmpExists = false;
      linked = [];
      await this.checkpoints.add({ sequence: sequence!, container, id, hold: tmpName, dirs: this.dirsToSync(paths.dir) });
      return { size, digest, alreadyExisted: false };
    } catch (err) {
      // Names made by this write are taken back; a record already written is answered by a
      // delete line, so that the log does not list an object that is not there.
      for (const name of linked) await unlink(name).catch(() => {});
      if (sequence !== undefined) {
        if (tmpExists) await unlink(tmp).catch(() => {});
        tmpExists = false;
        await this.log.append({ container, id, action: 'delete', at: new Date().toISOString() }, [this.tmpDir]).catch(() => {});
        this.log.release([sequence]);
      }
      throw err;
    } finally {
      if (tmpExists) await unlink(tmp).catch(() => {});
    }
  }

  /**
   * A new small object (≤ SMALL_OBJECT). Its record and its bytes go to the write log and a
   * segment beside it (inline-segments.ts), made durable by the log's group commit with every
   * other put of the batch: no sync of its own. Its file and digest link are written by the next
   * checkpoint, on its thread, then synced (see pending.ts); until then reads find it pending. A
   * replay after a crash writes from the segment any file a crash lost or tore.
   */
  private async putInline(request: PutRequest, paths: ObjectPaths): Promise<PutResult> {
    const { container, id, size, digestAlgorithm, sourceDigest } = request;
    const hash = sourceDigest ? undefined : createHash(digestAlgorithm);
    const bytes = { counted: 0, container, id, size };
    const data = request.bytes ? this.counted(bytes, request.bytes, hash) : await this.gather(request.body, bytes, hash);
    const digest = hash ? hash.digest('hex') : await sourceDigest!;
    const { sequence, place } = await this.log.appendInline({ container, id, action: 'write', at: new Date().toISOString(), size, algorithm: digestAlgorithm, digest }, data);
    const pending: PendingObject = { container, id, size, algorithm: digestAlgorithm, digest, segment: this.log.segmentPath(place), offset: place.offset, file: paths.file, link: digestLinkPath(paths, digestAlgorithm, digest), taken: false };
    this.shared.pending.add(pending);
    await this.checkpoints.add({ sequence, container, id, pending, dirs: this.dirsToSync(paths.dir) });
    return { size, digest, alreadyExisted: false };
  }

  /**
   * An object with this id is there already: the same content is success (nothing written), other
   * content a conflict. The body is read to the end for its size and digest.
   */
  private async putOverExisting(request: PutRequest, paths: ObjectPaths, pending: PendingObject | undefined): Promise<PutResult> {
    const { container, id, size, digestAlgorithm, sourceDigest } = request;
    const hash = sourceDigest ? undefined : createHash(digestAlgorithm);
    const bytes = { counted: 0, container, id, size };
    if (request.bytes) this.counted(bytes, request.bytes, hash);
    else {
      for await (const chunk of chunksOf(request.body)) {
        this.count(bytes, chunk);
        hash?.update(chunk);
      }
      this.checkEnd(bytes);
    }
    const digest = hash ? hash.digest('hex') : await sourceDigest!;
    const existing = pending ? pendingDigest(pending, digestAlgorithm, false) : await this.digestOf(paths, digestAlgorithm, false);
    const existingSize = pending ? pending.size : (await stat(paths.file)).size;
    if (existing === digest && existingSize === size) return { size, digest, alreadyExisted: true };
    throw new StorageError('CONFLICT', `object ${container}/${id} already exists on offer ${this.offer.id} with other content (${existingSize} bytes, ${digestAlgorithm} ${existing?.slice(0, 16)}…)`, false, this.offer.id);
  }

  /** Counts a chunk against the announced size; throws past it. */
  private count(bytes: { counted: number; container: string; id: string; size: number }, chunk: Buffer): void {
    bytes.counted += chunk.length;
    if (bytes.counted > bytes.size) throw new StorageError('SIZE_MISMATCH', `object ${bytes.container}/${bytes.id}: more than the announced ${bytes.size} bytes`, false, this.offer.id);
  }

  private checkEnd(bytes: { counted: number; container: string; id: string; size: number }): void {
    if (bytes.counted !== bytes.size) throw new StorageError('SIZE_MISMATCH', `object ${bytes.container}/${bytes.id}: received ${bytes.counted} bytes, announced ${bytes.size}`, false, this.offer.id);
  }

  /** The whole body given in memory (PutRequest.bytes), counted and hashed (when not adopted). */
  private counted(bytes: { counted: number; container: string; id: string; size: number }, data: Buffer, hash: Hash | undefined): Buffer {
    this.count(bytes, data);
    this.checkEnd(bytes);
    hash?.update(data);
    return data;
  }

  /** A small object's body, gathered in memory (at most SMALL_OBJECT bytes), counted and hashed. */
  private async gather(body: Readable, bytes: { counted: number; container: string; id: string; size: number }, hash: Hash | undefined): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of chunksOf(body)) {
      this.count(bytes, chunk);
      hash?.update(chunk);
      parts.push(chunk);
    }
    this.checkEnd(bytes);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes.size);
  }

  /** Any other object: streamed to the temp file as it comes; sync() is an fsync. */
  private async writeStreamed(tmp: string, body: Readable, bytes: { counted: number; container: string; id: string; size: number }, hash: Hash | undefined, created: () => void): Promise<WrittenFile> {
    // Creating the inode can wait on the filesystem journal: off the main thread.
    const fd = await openFd(tmp, 'wx', 0o644);
    created();
    const flushBehind = bytes.size > FLUSH_BEHIND_BYTES ? new FlushBehind(fd, FLUSH_BEHIND_BYTES) : undefined;
    try {
      for await (const chunk of chunksOf(body)) {
        this.count(bytes, chunk);
        hash?.update(chunk);
        if (chunk.length <= SMALL_WRITE) writeAllSync(fd, chunk);
        else await writeAll(fd, chunk);
        flushBehind?.wrote(chunk.length);
      }
      this.checkEnd(bytes);
      await flushBehind?.settle();
    } catch (err) {
      await flushBehind?.settle().catch(() => {});
      closeSync(fd);
      throw err;
    }
    return {
      sync: async () => {
        try {
          await fsyncFd(fd);
        } finally {
          closeSync(fd);
        }
      },
      abandon: () => closeSync(fd),
    };
  }

  /** Digests kept beside the object (links `.<id>.<algorithm>.<hex>` to the same inode). */
  private async keptDigests(paths: ObjectPaths, ino: number): Promise<Partial<Record<DigestAlgorithm, string>>> {
    const kept: Partial<Record<DigestAlgorithm, string>> = {};
    let names: string[];
    try {
      names = await readdir(paths.dir);
    } catch {
      return kept;
    }
    for (const name of names) {
      const parsed = parseDigestLink(name, paths.id);
      if (!parsed) continue;
      try {
        // A link left behind by an interrupted remove points to another inode: not this object's.
        if ((await stat(join(paths.dir, name))).ino === ino) kept[parsed.algorithm] = parsed.digest;
      } catch {
        // removed meanwhile
      }
    }
    return kept;
  }

  private async digestOf(paths: ObjectPaths, algorithm: DigestAlgorithm, noCache: boolean): Promise<string | null> {
    let ino: number;
    try {
      ino = (await stat(paths.file)).ino;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const kept = (await this.keptDigests(paths, ino))[algorithm];
    if (kept && !noCache) return kept;
    const hash = createHash(algorithm);
    for await (const chunk of createReadStream(paths.file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
    const digest = hash.digest('hex');
    if (!kept) {
      try {
        linkSync(paths.file, digestLinkPath(paths, algorithm, digest)); // kept for next time
      } catch {
        // best effort
      }
    }
    return digest;
  }

  async get(container: string, id: string, range?: ByteRange): Promise<GetResult> {
    const paths = objectPaths(this.root, container, id, this.shared.width);
    const pending = this.shared.pending.get(container, id);
    try {
      if (pending) {
        const [start, end] = this.rangeOf(range, pending.size, container, id);
        const bytes = pendingBytes(pending);
        return { body: Readable.from([bytes.subarray(start, end + 1)]), size: pending.size, ...(range ? {} : { digest: pending.digest }) };
      }
      const st = await stat(paths.file);
      const size = st.size;
      if (range) this.rangeOf(range, size, container, id);
      const kept = range ? {} : await this.keptDigests(paths, st.ino);
      const digest = Object.values(kept)[0];
      const body: Readable = createReadStream(paths.file, {
        start: range?.start,
        end: range ? (range.end === undefined ? undefined : Math.min(range.end, size - 1)) : undefined,
        highWaterMark: 1024 * 1024,
      });
      return { body, size, ...(digest && !range ? { digest } : {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StorageError('NOT_FOUND', `object ${container}/${id} is not on offer ${this.offer.id}`, false, this.offer.id);
      throw this.err(err, `reading ${container}/${id}`);
    }
  }

  /** The first and last byte a range asks for (the whole object without one); a range outside the object is refused. */
  private rangeOf(range: ByteRange | undefined, size: number, container: string, id: string): [number, number] {
    if (!range) return [0, size - 1];
    const end = range.end === undefined ? size - 1 : Math.min(range.end, size - 1);
    if (!Number.isInteger(range.start) || range.start < 0 || range.start >= size || end < range.start) {
      throw new StorageError('BAD_REQUEST', `range ${range.start}-${range.end ?? ''} is outside object ${container}/${id} (${size} bytes)`, false, this.offer.id);
    }
    return [range.start, end];
  }

  async exists(container: string, id: string): Promise<boolean> {
    const paths = objectPaths(this.root, container, id, this.shared.width);
    if (this.shared.pending.get(container, id)) return true;
    try {
      await stat(paths.file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.err(err, `looking for ${container}/${id}`);
    }
  }

  async digest(container: string, id: string, options: { algorithm: DigestAlgorithm; noCache?: boolean }): Promise<string | null> {
    const paths = objectPaths(this.root, container, id, this.shared.width);
    try {
      const pending = this.shared.pending.get(container, id);
      if (pending) return pendingDigest(pending, options.algorithm, options.noCache ?? false);
      return await this.digestOf(paths, options.algorithm, options.noCache ?? false);
    } catch (err) {
      throw this.err(err, `digest of ${container}/${id}`);
    }
  }

  async remove(container: string, id: string): Promise<boolean> {
    const paths = objectPaths(this.root, container, id, this.shared.width);
    const unlock = await this.shared.locks.lock(paths.file);
    try {
      return await this.removeLocked(container, id, paths);
    } finally {
      unlock();
    }
  }

  private async removeLocked(container: string, id: string, paths: ObjectPaths): Promise<boolean> {
    for (let pending = this.shared.pending.get(container, id); pending; pending = this.shared.pending.get(container, id)) {
      // Its file is being written: wait for the checkpoint (then it is removed as any other, or,
      // if the checkpoint failed, it is pending again).
      if (pending.taken) {
        await this.checkpoints.idle();
        continue;
      }
      // Not written yet: it never will be (a checkpoint writes only objects still pending).
      this.shared.pending.delete(pending);
      await this.log.append({ container, id, action: 'delete', at: new Date().toISOString() });
      return true;
    }
    try {
      await unlink(paths.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.err(err, `removing ${container}/${id}`);
    }
    for (const name of await readdir(paths.dir).catch(() => [] as string[])) {
      if (parseDigestLink(name, id)) await unlink(join(paths.dir, name)).catch(() => {});
    }
    // A write not checkpointed yet still holds the inode in the temp folder: let it go too (the
    // delete line below is what a replay goes by, whatever is left of the hold).
    this.checkpoints.dropHolds(container, id);
    await this.log.append({ container, id, action: 'delete', at: new Date().toISOString() }, [paths.dir, this.tmpDir]);
    return true;
  }

  async *list(container: string, options?: { pageSize?: number }): AsyncIterable<ListEntry> {
    void options; // a folder walk has no pages
    checkContainer(container);
    const base = join(this.root, container);
    // Objects whose file a checkpoint has yet to write are listed from what their put recorded
    // (after the walk, once each, even if the checkpoint writes their file meanwhile).
    const pending = new Map(this.shared.pending.inContainer(container).map((p) => [p.id, p]));
    const names = async (dir: string) => {
      try {
        return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw this.err(err, `listing ${dir}`);
      }
    };
    for (const a of await names(base)) {
      for (const b of await names(join(base, a))) {
        const dir = join(base, a, b);
        let all: string[];
        try {
          all = (await readdir(dir)).sort();
        } catch {
          continue;
        }
        for (const id of all) {
          if (id.startsWith('.') || pending.has(id)) continue;
          let st;
          try {
            st = await stat(join(dir, id));
          } catch {
            continue; // removed while listing
          }
          let digest: string | undefined;
          for (const name of all) {
            const parsed = parseDigestLink(name, id);
            if (parsed && (await stat(join(dir, name)).catch(() => undefined))?.ino === st.ino) {
              digest = parsed.digest;
              break;
            }
          }
          yield { id, size: st.size, ...(digest ? { digest } : {}) };
        }
      }
    }
    for (const p of pending.values()) yield { id: p.id, size: p.size, digest: p.digest };
  }

  writeLog(options: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry> {
    return this.log.read(options.fromSequence ?? 0, options.limit ?? Infinity);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (--this.shared.users > 0) return;
    shared.delete(this.root);
    const done = (async () => {
      try {
        await this.shared.checkpoints.close();
      } finally {
        await this.shared.log.close();
      }
    })();
    const settled = done.catch(() => {});
    closing.set(this.root, settled);
    try {
      await done;
    } finally {
      if (closing.get(this.root) === settled) closing.delete(this.root);
    }
  }
}

export const driver: Driver = {
  name: 'fs',
  version: '1.0.0',
  capabilities: { ranges: true, capacity: true, cachedDigest: true, writeLog: true, watch: false },
  async isAvailable(offer: OfferDefinition): Promise<boolean> {
    try {
      const root = rootOf(offer);
      await mkdir(root, { recursive: true });
      await access(root, constants.W_OK | constants.R_OK);
      return true;
    } catch {
      return false;
    }
  },
  async connect(offer: OfferDefinition): Promise<Connection> {
    const root = rootOf(offer);
    try {
      const created = await mkdir(root, { recursive: true });
      if (created) await fsyncDir(dirname(root));
      await mkdir(tmpDirOf(root), { recursive: true });
      await access(root, constants.W_OK | constants.R_OK);
    } catch (err) {
      throw new StorageError('UNAVAILABLE', `offer ${offer.id}: cannot use folder ${root}: ${(err as Error).message}`, true, offer.id, { cause: err });
    }
    let entry: SharedOffer;
    try {
      entry = await openShared(root);
    } catch (err) {
      // Its layout file or the replay of its write log (see layout.ts, recovery.ts).
      throw new StorageError('UNAVAILABLE', `offer ${offer.id}: cannot open ${root}: ${(err as Error).message}`, true, offer.id, { cause: err });
    }
    return new FsConnection(offer, root, entry);
  },
};
