import { closeSync, constants, createReadStream, fdatasync, fstatSync, fsync, openSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { WriteLogEntry } from '../../contract.ts';
import { fsyncDir } from '../../../platform/files.ts';

const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);
/** Flushes of the log under way at once (each one's syncs may share a journal commit). */
const MAX_FLUSHES = 2;

interface PendingAppend {
  entry: Omit<WriteLogEntry, 'sequence'>;
  dirs: string[];
  resolve(seq: number): void;
  reject(err: unknown): void;
}

/**
 * Makes a folder's entries durable. Only the fsync goes to libuv's thread pool: opening and
 * closing a folder takes microseconds, and through the pool's four threads each would queue
 * behind the fsyncs of every write in flight (three pool jobs per folder instead of one).
 */
async function fsyncFolder(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * An offer's append-only write log: one JSON line per write or delete, with a sequence number.
 * Appends are group-committed: entries that arrive while a flush is under way wait for the next
 * one, so that many concurrent writes share one fsync. A caller's append resolves only once its
 * line is on disk. Sequences are kept by this process (one writer per offer folder at a time);
 * when the file grew behind our back (another process), the last sequence is read again.
 */
export class WriteLog {
  private handle?: FileHandle;
  private lastSequence = 0;
  private knownSize = 0;
  private pending: PendingAppend[] = [];
  private inFlight = 0;
  private readonly flushes = new Set<Promise<void>>();
  private appending: Promise<unknown> = Promise.resolve();
  private opening?: Promise<void>;

  constructor(private readonly dir: string) {}

  get path(): string {
    return join(this.dir, 'write-log.jsonl');
  }

  private async ensureOpen(): Promise<void> {
    if (this.handle) return;
    this.opening ??= (async () => {
      await mkdir(this.dir, { recursive: true });
      const handle = await open(this.path, 'a');
      await fsyncDir(this.dir);
      await this.resync(handle);
      this.handle = handle;
    })();
    try {
      await this.opening;
    } finally {
      this.opening = undefined;
    }
  }

  /** Reads the last sequence from the end of the file. */
  private async resync(handle: FileHandle): Promise<void> {
    const { size } = await handle.stat();
    this.knownSize = size;
    if (size === 0) return;
    const tail = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(tail);
    const fd = await open(this.path, 'r');
    try {
      await fd.read(buf, 0, tail, size - tail);
    } finally {
      await fd.close();
    }
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const seq = JSON.parse(lines[i]).sequence;
        if (typeof seq === 'number') {
          this.lastSequence = seq;
          return;
        }
      } catch {
        // a torn last line after a crash: look at the one before
      }
    }
  }

  /**
   * Appends a line; resolves once it is on disk together with the folders given in `dirs` (the
   * folders whose entries the write changed). Folders of one batch are fsync'd together with the
   * log: the first fsync commits the filesystem journal holding every rename of the batch, so the
   * others cost almost nothing, and many writes share one journal commit.
   */
  append(entry: Omit<WriteLogEntry, 'sequence'>, dirs: string[] = []): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, dirs, resolve, reject });
      this.kick();
    });
  }

  /**
   * Starts a flush of what is pending unless MAX_FLUSHES are under way. Flushes overlap: while one
   * waits for its journal commit, the next one's lines are already written, and its fsyncs join
   * the same or the next commit (one flush at a time made every write wait for up to two commits).
   */
  private kick(): void {
    if (this.inFlight >= MAX_FLUSHES || !this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    this.inFlight++;
    const flush = this.flush(batch).finally(() => {
      this.inFlight--;
      this.flushes.delete(flush);
      this.kick();
    });
    this.flushes.add(flush);
  }

  private async flush(batch: PendingAppend[]): Promise<void> {
    try {
      // Lines are appended in turn (sequence order = file order); only the syncs overlap.
      const written = this.appending.then(() => this.appendLines(batch));
      this.appending = written.catch(() => {}); // a failed append does not stop the next ones
      const { handle, seqs } = await written;
      const dirs = new Set(batch.flatMap((p) => p.dirs));
      // The datasync covers every line written before ours, too. It goes first, alone: the log
      // grew, so it commits the filesystem journal, which holds every link and rename made before
      // this flush; the folder fsyncs that follow then find their changes committed and return at
      // once, instead of each holding one of the thread pool's four threads through the commit.
      await fdatasyncFd(handle.fd);
      await Promise.all([...dirs].map(fsyncFolder));
      batch.forEach((p, i) => p.resolve(seqs[i]));
    } catch (err) {
      batch.forEach((p) => p.reject(err));
    }
  }

  private async appendLines(batch: PendingAppend[]): Promise<{ handle: FileHandle; seqs: number[] }> {
    await this.ensureOpen();
    const handle = this.handle!;
    // Page-cache work only (microseconds): done here rather than queued on the thread pool.
    const { size } = fstatSync(handle.fd);
    if (size !== this.knownSize) await this.resync(handle);
    const seqs: number[] = [];
    let text = '';
    for (const { entry } of batch) {
      const sequence = ++this.lastSequence;
      seqs.push(sequence);
      text += JSON.stringify({ sequence, ...entry }) + '\n';
    }
    const data = Buffer.from(text);
    for (let off = 0; off < data.length; ) off += writeSync(handle.fd, data, off, data.length - off);
    this.knownSize = this.knownSize + data.length;
    return { handle, seqs };
  }

  /** Entries from a sequence on, in order. */
  async *read(fromSequence = 0, limit = Infinity): AsyncIterable<WriteLogEntry> {
    try {
      await stat(this.path);
    } catch {
      return;
    }
    const lines = createInterface({ input: createReadStream(this.path, 'utf8'), crlfDelay: Infinity });
    let count = 0;
    for await (const line of lines) {
      if (!line) continue;
      let e: WriteLogEntry;
      try {
        e = JSON.parse(line);
      } catch {
        continue; // torn line after a crash
      }
      if (e.sequence < fromSequence) continue;
      if (count++ >= limit) break;
      yield e;
    }
    lines.close();
  }

  async close(): Promise<void> {
    while (this.flushes.size || this.pending.length) await Promise.all([...this.flushes]);
    await this.handle?.close();
    this.handle = undefined;
  }
}
