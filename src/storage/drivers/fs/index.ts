import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, createReadStream, fsync, linkSync, open as fsOpen, renameSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { access, mkdir, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
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
import { checkContainer, objectPaths, offerMetaDir, type ObjectPaths } from './layout.ts';
import { WriteLog } from './write-log.ts';

/**
 * The local filesystem driver. Parameters: `path` (the offer's root folder, created on connect),
 * optional `quotaBytes` (usable capacity reported is then the least of the quota left and the
 * free space). Writes are atomic and never overwrite: temp file, fsync, link to the final name
 * (fails if it exists), fsync of the folder, then an fsync'd line in the offer's write log.
 */

const DIGEST_HEX_LENGTH: Record<DigestAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128 };

/** The name of the link that keeps an object's digest: `.<id>.<algorithm>.<hex>`. */
const digestLinkPath = (paths: ObjectPaths, algorithm: DigestAlgorithm, digest: string) => join(paths.dir, `.${paths.id}.${algorithm}.${digest}`);

/** The digest a folder entry keeps for object `id`, if it is one of its digest links. */
function parseDigestLink(name: string, id: string): { algorithm: DigestAlgorithm; digest: string } | undefined {
  const prefix = `.${id}.`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(md5|sha1|sha256|sha384|sha512)\.([0-9a-f]+)$/.exec(name.slice(prefix.length));
  if (!m || m[2].length !== DIGEST_HEX_LENGTH[m[1] as DigestAlgorithm]) return undefined;
  return { algorithm: m[1] as DigestAlgorithm, digest: m[2] };
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

/** Where writes are staged before their object's name appears (inside the offer's own folder). */
const tmpDirOf = (root: string) => join(offerMetaDir(root), 'tmp');

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

// One write log per offer folder in this process, shared by every connection to it.
// So are the folders known to exist (a connection pool of 16 would otherwise mkdir each one 16 times).
const logs = new Map<string, { log: WriteLog; users: number; knownDirs: Set<string> }>();

class FsConnection implements Connection {
  private readonly root: string;
  private readonly log: WriteLog;
  private readonly knownDirs: Set<string>;
  private closed = false;

  constructor(readonly offer: Readonly<OfferDefinition>, root: string) {
    this.root = root;
    let shared = logs.get(root);
    if (!shared) logs.set(root, (shared = { log: new WriteLog(offerMetaDir(root)), users: 0, knownDirs: new Set() }));
    shared.users++;
    this.log = shared.log;
    this.knownDirs = shared.knownDirs;
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
    for (const c of await readdir(this.root).catch(() => [] as string[])) {
      if (c.startsWith('.')) continue;
      for await (const e of this.list(c)) used += e.size;
    }
    return used;
  }

  /**
   * Creates the object's folder; returns the folders whose entry lists changed and must be
   * fsync'd with the object's own folder (all at once, so that the journal commits them together).
   * A folder counts as known only once a write through it was made durable (see put): until
   * then, a write that finds it already there (made by a write still in flight) fsyncs its parent
   * too, since flushes overlap and its own may end first.
   */
  private async ensureDir(dir: string): Promise<string[]> {
    if (this.knownDirs.has(dir)) return [];
    const created = await mkdir(dir, { recursive: true });
    if (!created) return [dirname(dir)];
    const parents: string[] = [];
    // Every folder created, from the first one down to `dir`, is a new entry in its parent.
    for (let d = dir; d.length >= created.length; d = dirname(d)) parents.push(dirname(d));
    return parents;
  }

  /**
   * Why some calls are synchronous: link, rename, close and small writes (page cache only) take
   * microseconds on a local filesystem, but through libuv's 4-thread pool they queue behind the
   * fsyncs of every other write in flight. Creating inodes (mkdir, the temp file), fsyncs and big
   * writes can wait on the journal or the disk, so they go to the thread pool.
   */
  async put(request: PutRequest): Promise<PutResult> {
    const { container, id, body, size, digestAlgorithm, sourceDigest } = request;
    let paths: ObjectPaths;
    try {
      paths = objectPaths(this.root, container, id);
    } catch (err) {
      body.destroy();
      throw err;
    }
    // The temp file lives in the offer's own temp folder (same filesystem, always there), so the
    // object's folder can be made while the bytes are written and synced, not before.
    const tmp = join(tmpDirOf(this.root), `${container}.${id}.${randomBytes(6).toString('hex')}.tmp`);
    let tmpExists = false;
    const dirReady = this.ensureDir(paths.dir);
    dirReady.catch(() => {}); // awaited below, unless the write fails first
    try {
      // Creating the inode can wait on the filesystem journal: off the main thread.
      const fd = await openFd(tmp, 'wx', 0o644);
      tmpExists = true;
      // The bytes come from the engine's own pass and go to the file unchanged, so the engine's
      // digest of them is the digest of this file: no second hash (see PutRequest.sourceDigest).
      // The size is still counted here. Without it (retries, direct callers), hash while writing.
      const hash = sourceDigest ? undefined : createHash(digestAlgorithm);
      const flushBehind = size > FLUSH_BEHIND_BYTES ? new FlushBehind(fd, FLUSH_BEHIND_BYTES) : undefined;
      let written = 0;
      try {
        for await (const chunk of chunksOf(body)) {
          written += chunk.length;
          if (written > size) throw new StorageError('SIZE_MISMATCH', `object ${container}/${id}: more than the announced ${size} bytes`, false, this.offer.id);
          hash?.update(chunk);
          if (chunk.length <= SMALL_WRITE) writeAllSync(fd, chunk);
          else await writeAll(fd, chunk);
          flushBehind?.wrote(chunk.length);
        }
        if (written !== size) throw new StorageError('SIZE_MISMATCH', `object ${container}/${id}: received ${written} bytes, announced ${size}`, false, this.offer.id);
        await flushBehind?.settle();
        await fsyncFd(fd);
      } finally {
        await flushBehind?.settle().catch(() => {});
        closeSync(fd);
      }
      const digest = hash ? hash.digest('hex') : await sourceDigest!;
      const newDirs = await dirReady;
      try {
        linkSync(tmp, paths.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // An object with this id is already there: same content is success, other content a conflict.
        const existing = await this.digestOf(paths, digestAlgorithm, false);
        const existingSize = (await stat(paths.file)).size;
        if (existing === digest && existingSize === size) return { size, digest, alreadyExisted: true };
        throw new StorageError('CONFLICT', `object ${container}/${id} already exists on offer ${this.offer.id} with other content (${existingSize} bytes, ${digestAlgorithm} ${existing?.slice(0, 16)}…)`, false, this.offer.id);
      }
      // The temp name becomes the digest link: a second name of the same inode that carries the
      // digest in its name (no inode, no data block, nothing to tear).
      renameSync(tmp, digestLinkPath(paths, digestAlgorithm, digest));
      tmpExists = false;
      // The folder entries and the log line become durable together, batched with other writes.
      await this.log.append({ container, id, action: 'write', at: new Date().toISOString() }, [paths.dir, ...newDirs]);
      if (newDirs.length) {
        if (this.knownDirs.size > 10_000) this.knownDirs.clear();
        this.knownDirs.add(paths.dir);
      }
      return { size, digest, alreadyExisted: false };
    } catch (err) {
      body.destroy();
      throw this.err(err, `writing ${container}/${id} to ${this.root}`);
    } finally {
      if (tmpExists) await unlink(tmp).catch(() => {});
    }
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
    const paths = objectPaths(this.root, container, id);
    try {
      const st = await stat(paths.file);
      const size = st.size;
      if (range) {
        const end = range.end === undefined ? size - 1 : Math.min(range.end, size - 1);
        if (!Number.isInteger(range.start) || range.start < 0 || range.start >= size || end < range.start) {
          throw new StorageError('BAD_REQUEST', `range ${range.start}-${range.end ?? ''} is outside object ${container}/${id} (${size} bytes)`, false, this.offer.id);
        }
      }
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

  async exists(container: string, id: string): Promise<boolean> {
    const paths = objectPaths(this.root, container, id);
    try {
      await stat(paths.file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.err(err, `looking for ${container}/${id}`);
    }
  }

  async digest(container: string, id: string, options: { algorithm: DigestAlgorithm; noCache?: boolean }): Promise<string | null> {
    const paths = objectPaths(this.root, container, id);
    try {
      return await this.digestOf(paths, options.algorithm, options.noCache ?? false);
    } catch (err) {
      throw this.err(err, `digest of ${container}/${id}`);
    }
  }

  async remove(container: string, id: string): Promise<boolean> {
    const paths = objectPaths(this.root, container, id);
    try {
      await unlink(paths.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.err(err, `removing ${container}/${id}`);
    }
    for (const name of await readdir(paths.dir).catch(() => [] as string[])) {
      if (parseDigestLink(name, id)) await unlink(join(paths.dir, name)).catch(() => {});
    }
    await this.log.append({ container, id, action: 'delete', at: new Date().toISOString() }, [paths.dir]);
    return true;
  }

  async *list(container: string, options?: { pageSize?: number }): AsyncIterable<ListEntry> {
    void options; // a folder walk has no pages
    checkContainer(container);
    const base = join(this.root, container);
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
          if (id.startsWith('.')) continue;
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
  }

  writeLog(options: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry> {
    return this.log.read(options.fromSequence ?? 0, options.limit ?? Infinity);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const shared = logs.get(this.root);
    if (shared && --shared.users === 0) {
      logs.delete(this.root);
      await shared.log.close();
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
    return new FsConnection(offer, root);
  },
};
