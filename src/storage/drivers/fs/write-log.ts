import { createReadStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { WriteLogEntry } from '../../contract.ts';
import { fsyncDir } from '../../../platform/files.ts';

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
  private pending: { entry: Omit<WriteLogEntry, 'sequence'>; dirs: string[]; resolve(seq: number): void; reject(err: unknown): void }[] = [];
  private flushing?: Promise<void>;
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
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.ensureOpen();
          const handle = this.handle!;
          const { size } = await handle.stat();
          if (size !== this.knownSize) await this.resync(handle);
          const seqs: number[] = [];
          const text = batch
            .map(({ entry }) => {
              const sequence = ++this.lastSequence;
              seqs.push(sequence);
              return JSON.stringify({ sequence, ...entry }) + '\n';
            })
            .join('');
          const data = Buffer.from(text);
          await handle.write(data);
          const dirs = new Set(batch.flatMap((p) => p.dirs));
          await Promise.all([handle.datasync(), ...[...dirs].map((d) => fsyncDir(d))]);
          this.knownSize = size + data.length;
          batch.forEach((p, i) => p.resolve(seqs[i]));
        } catch (err) {
          batch.forEach((p) => p.reject(err));
        }
      }
    } finally {
      this.flushing = undefined;
    }
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
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }
}
