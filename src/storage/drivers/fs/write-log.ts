import { closeSync, constants, createReadStream, fdatasync, fstatSync, fsync, openSync, readSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DigestAlgorithm, WriteLogEntry } from '../../contract.ts';
import { fsyncDir } from '../../../platform/files.ts';
import { fsyncFolder } from './folders.ts';
import { InlineSegments, readSegment, type InlinePlace, type SegmentSync } from './inline-segments.ts';

const fdatasyncFd = promisify(fdatasync);
const fsyncFd = promisify(fsync);
/**
 * Flushes of the log under way at once. One: the lines that arrive during a flush all go in the
 * next one. The puts' own data syncs run at the same time as the flush of their line (see the fs
 * driver's putNew), so a longer wait here is mostly hidden, and fewer flushes cost the event loop
 * fewer system calls (two overlapping flushes gave batches of 4 lines, one gives 6+).
 */
const MAX_FLUSHES = 1;

/**
 * A line of the log. A write also names what a replay needs to redo its folder entries after a
 * crash (see checkpoint.ts): the object's size and digest, and `hold`, the name in the offer's
 * temp folder that keeps the object's inode until a checkpoint has made its real names durable.
 */
export interface LogRecord extends WriteLogEntry {
  size?: number;
  algorithm?: DigestAlgorithm;
  digest?: string;
  hold?: string;
  /** A small object written inline: its bytes wait in this segment until a checkpoint (inline-segments.ts). */
  inline?: InlinePlace;
}

/**
 * A checkpoint line (no sequence): every write before sequence `from` has its names durable and
 * its hold released; a replay reads the records from `from` on.
 */
export interface CheckpointLine {
  checkpoint: string;
  from: number;
}

type Line = { record: Omit<LogRecord, 'sequence'> } | { mark: CheckpointLine };

interface PendingAppend {
  line: Line;
  dirs: string[];
  /** A small object's bytes, to be durable with its record. */
  data?: Buffer;
  /** Where `data` went (set when its line is written). */
  place?: InlinePlace;
  resolve(seq: number): void;
  reject(err: unknown): void;
}

const isRecord = (v: unknown): v is LogRecord => typeof (v as LogRecord)?.sequence === 'number';
const isCheckpoint = (v: unknown): v is CheckpointLine => typeof (v as CheckpointLine)?.checkpoint === 'string' && typeof (v as CheckpointLine).from === 'number';

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined; // a torn line after a crash
  }
}

/**
 * An offer's append-only write log: one JSON line per write or delete, with a sequence number,
 * and checkpoint lines. Appends are group-committed: entries that arrive while a flush is under
 * way wait for the next one, so that many concurrent writes share one fsync. A caller's append
 * resolves only once its line is on disk. Sequences are kept by this process (one writer per
 * offer folder at a time); when the file grew behind our back (another process), the last
 * sequence is read again.
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
  /** Sequences of writes with a hold not yet released (written, in flight or waiting for a checkpoint). */
  private readonly unreleased = new Set<number>();
  private segments?: InlineSegments;

  /** Open descriptors of the folders synced with most batches (`steadyDirs`): no open/close per flush. */
  private readonly dirFds = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly steadyDirs: string[] = [],
  ) {}

  /** Syncs a folder, through a kept descriptor when it is one of the steady folders. */
  private syncFolder(dir: string): Promise<void> {
    if (!this.steadyDirs.includes(dir)) return fsyncFolder(dir);
    let fd = this.dirFds.get(dir);
    if (fd === undefined) this.dirFds.set(dir, (fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)));
    return fsyncFd(fd);
  }

  get path(): string {
    return join(this.dir, 'write-log.jsonl');
  }

  async ensureOpen(): Promise<void> {
    if (this.handle) return;
    this.opening ??= (async () => {
      await mkdir(join(this.dir, 'inline'), { recursive: true });
      const handle = await open(this.path, 'a+'); // read too: resync looks at the last byte
      await fsyncDir(this.dir);
      this.segments ??= new InlineSegments(join(this.dir, 'inline'));
      await this.resync(handle);
      this.handle = handle;
    })();
    try {
      await this.opening;
    } finally {
      this.opening = undefined;
    }
  }

  /**
   * Reads the last sequence from the end of the file. A last line torn by a crash is ended first:
   * the next line appended would otherwise be glued to it and lost to every reader.
   */
  private async resync(handle: FileHandle): Promise<void> {
    let { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        writeSync(handle.fd, '\n');
        await handle.datasync();
        size++;
      }
    }
    this.knownSize = size;
    for await (const line of this.linesBackward()) {
      const v = parseLine(line);
      if (isRecord(v)) {
        this.lastSequence = v.sequence;
        return;
      }
    }
  }

  /** The file's lines from the last to the first, read in 64 KiB blocks from the end. */
  private async *linesBackward(): AsyncGenerator<string> {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const block = 64 * 1024;
      let end = fstatSync(fd).size;
      let carry = Buffer.alloc(0); // the start of a line whose beginning lies in an earlier block
      while (end > 0) {
        const start = Math.max(0, end - block);
        const buf = Buffer.alloc(end - start);
        for (let off = 0; off < buf.length; ) off += readSync(fd, buf, off, buf.length - off, start + off);
        const text = Buffer.concat([buf, carry]);
        end = start;
        let nl = text.lastIndexOf(0x0a, text.length - 1);
        let lineEnd = text.length;
        while (nl >= 0) {
          const line = text.subarray(nl + 1, lineEnd).toString('utf8');
          if (line) yield line;
          lineEnd = nl;
          nl = nl > 0 ? text.lastIndexOf(0x0a, nl - 1) : -1;
        }
        carry = text.subarray(0, lineEnd);
      }
      const first = carry.toString('utf8');
      if (first) yield first;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Appends a record; resolves once it is on disk together with the folders given in `dirs` (the
   * folders whose entries the write changed and that must be durable when the caller returns).
   */
  append(entry: Omit<LogRecord, 'sequence'>, dirs: string[] = []): Promise<number> {
    return this.enqueue({ record: entry }, dirs);
  }

  /**
   * Appends the record of a small object's write together with its bytes (kept in a segment,
   * see inline-segments.ts); resolves once both are on disk. The write is unreleased until a
   * checkpoint has synced the object's own file.
   */
  async appendInline(entry: Omit<LogRecord, 'sequence' | 'inline'>, data: Buffer): Promise<{ sequence: number; place: InlinePlace }> {
    const append: Omit<PendingAppend, 'resolve' | 'reject'> = { line: { record: entry }, dirs: [], data };
    const sequence = await this.enqueueAppend(append);
    return { sequence, place: append.place! };
  }

  /** The path of a segment (for reading an object's bytes while they wait there). */
  segmentPath(place: InlinePlace): string {
    return join(this.dir, 'inline', place.segment);
  }

  /** A small object's bytes as appendInline kept them (for the replay); undefined when the segment lacks them. */
  readInline(place: InlinePlace, size: number): Buffer | undefined {
    return readSegment(this.segmentPath(place), place.offset, size);
  }

  /** Removes the segments whose writes are all before `from` (every one checkpointed). */
  releaseSegments(from: number): void {
    this.segments?.release(from);
  }

  /** Appends a checkpoint line (written and synced with the next batch). */
  appendCheckpoint(mark: CheckpointLine): Promise<number> {
    return this.enqueue({ mark }, []);
  }

  private enqueue(line: Line, dirs: string[]): Promise<number> {
    return this.enqueueAppend({ line, dirs });
  }

  private enqueueAppend(append: Omit<PendingAppend, 'resolve' | 'reject'>): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push(Object.assign(append, { resolve, reject }));
      this.kick();
    });
  }

  /** Writes with a hold are kept as unreleased until release() (see firstUnreleased). */
  release(sequences: Iterable<number>): void {
    for (const s of sequences) this.unreleased.delete(s);
  }

  /**
   * The lowest sequence a replay must still read: that of the oldest write whose hold is not
   * released (being written, waiting for its flush or for a checkpoint), else the next sequence.
   */
  firstUnreleased(): number {
    let first = this.lastSequence + 1;
    for (const s of this.unreleased) if (s < first) first = s;
    return first;
  }

  /**
   * Starts a flush of what is pending unless MAX_FLUSHES are under way.
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
    let seqs: number[] = [];
    try {
      // Lines are appended in turn (sequence order = file order); only the syncs overlap.
      const written = this.appending.then(() => this.appendLines(batch));
      this.appending = written.catch(() => {}); // a failed append does not stop the next ones
      const done = await written;
      seqs = done.seqs;
      // The datasync covers every line written before ours, too. The folders of a batch are few
      // (the offer's temp folder, a removed object's folder) and synced at the same time.
      const dirs = new Set(batch.flatMap((p) => p.dirs));
      if (done.segments.folder) dirs.add(done.segments.folder);
      await Promise.all([fdatasyncFd(done.handle.fd), ...done.segments.fds.map((fd) => fdatasyncFd(fd)), ...[...dirs].map((d) => this.syncFolder(d))]);
      batch.forEach((p, i) => p.resolve(seqs[i]));
    } catch (err) {
      this.release(seqs); // the callers undo their writes
      batch.forEach((p) => p.reject(err));
    }
  }

  private async appendLines(batch: PendingAppend[]): Promise<{ handle: FileHandle; seqs: number[]; segments: SegmentSync }> {
    await this.ensureOpen();
    const handle = this.handle!;
    // Page-cache work only (microseconds): done here rather than queued on the thread pool.
    const { size } = fstatSync(handle.fd);
    if (size !== this.knownSize) await this.resync(handle);
    const seqs: number[] = [];
    let text = '';
    for (const append of batch) {
      const { line, data: bytes } = append;
      if ('mark' in line) {
        seqs.push(0);
        text += JSON.stringify(line.mark) + '\n';
        continue;
      }
      const sequence = ++this.lastSequence;
      seqs.push(sequence);
      if (line.record.hold || bytes) this.unreleased.add(sequence);
      const inline = bytes ? (append.place = this.segments!.write(sequence, bytes)) : undefined;
      text += JSON.stringify(inline ? { sequence, ...line.record, inline } : { sequence, ...line.record }) + '\n';
    }
    const data = Buffer.from(text);
    for (let off = 0; off < data.length; ) off += writeSync(handle.fd, data, off, data.length - off);
    this.knownSize = this.knownSize + data.length;
    return { handle, seqs, segments: this.segments!.takeSync() };
  }

  /**
   * The records a replay must look at, in file order: those from the last checkpoint's `from`
   * on. Read backwards from the end, so that a long log costs only its tail. A write without a
   * hold was made by an earlier version of the driver, which synced every name before answering:
   * nothing before it can need a replay.
   */
  async recordsToReplay(): Promise<LogRecord[]> {
    const found: LogRecord[] = [];
    let from: number | undefined;
    for await (const line of this.linesBackward()) {
      const v = parseLine(line);
      if (isCheckpoint(v)) {
        from ??= v.from;
        continue;
      }
      if (!isRecord(v)) continue;
      if (from !== undefined && v.sequence < from) break;
      if (v.action === 'write' && !v.hold && !v.inline) break;
      found.push(v);
    }
    return found.reverse();
  }

  /** Entries from a sequence on, in order (as the driver contract has them: no replay details). */
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
      const e = parseLine(line);
      if (!isRecord(e)) continue; // a checkpoint line, or a torn line after a crash
      if (e.sequence < fromSequence) continue;
      if (count++ >= limit) break;
      yield { sequence: e.sequence, container: e.container, id: e.id, action: e.action, at: e.at };
    }
    lines.close();
  }

  async close(): Promise<void> {
    while (this.flushes.size || this.pending.length) await Promise.all([...this.flushes]);
    await this.handle?.close();
    this.handle = undefined;
    this.segments?.close();
    this.segments = undefined;
    for (const fd of this.dirFds.values()) closeSync(fd);
    this.dirFds.clear();
  }
}
