import { closeSync, constants, openSync, readdirSync, readSync, unlinkSync, writevSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where small objects' bytes wait for a checkpoint (see checkpoint.ts). A small object's put
 * appends its bytes to the current segment file and its record to the write log in the same
 * group commit: one datasync of each, shared by every put of the batch, makes the bytes durable;
 * the object's own file is written later, by the next checkpoint (pending.ts). After a crash, the
 * replay writes from its segment any object whose file is missing or lost its bytes
 * (recovery.ts). Segments are removed once a checkpoint has written and synced every object kept
 * in them; the next write starts a new one.
 *
 * Segment files: `<folder>/<first sequence>.seg`, raw bytes one object after another (the record
 * gives the segment, offset and size).
 */

export interface InlinePlace {
  segment: string;
  offset: number;
}

interface Segment {
  name: string;
  /** Open while it may still be synced (no descriptor for a segment found at start). */
  fd?: number;
  /** Its size once `queued` is written. */
  size: number;
  /** The last sequence written to it (0 for a segment found at start: older than anything new). */
  lastSequence: number;
  /** Bytes given since the last takeSync(), written by it in one call. */
  queued: Buffer[];
  /** Its name is not durable yet: the folder must be synced with its first flush. */
  newName: boolean;
}

/** A flush's part: the descriptors to datasync, and whether the folder must be synced (a new segment). */
export interface SegmentSync {
  fds: number[];
  folder?: string;
}

export class InlineSegments {
  private current?: Segment;
  private readonly older: Segment[] = [];

  constructor(private readonly dir: string) {
    try {
      for (const name of readdirSync(dir)) if (name.endsWith('.seg')) this.older.push({ name, size: 0, lastSequence: 0, queued: [], newName: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Takes an object's bytes for the record of `sequence` (written with the others of its flush, see takeSync). */
  write(sequence: number, data: Buffer): InlinePlace {
    let seg = this.current;
    if (!seg) {
      const name = `${sequence}.seg`;
      const fd = openSync(join(this.dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
      seg = this.current = { name, fd, size: 0, lastSequence: sequence, queued: [], newName: true };
    }
    const offset = seg.size;
    seg.queued.push(data);
    seg.size += data.length;
    seg.lastSequence = sequence;
    return { segment: seg.name, offset };
  }

  /**
   * Writes the bytes given since the last call (page cache only: one system call for a whole
   * flush) and says what the flush must sync with its lines. Only the current segment takes
   * bytes, and the write log calls this in the same turn as write(), so nothing stays queued.
   */
  takeSync(): SegmentSync {
    const seg = this.current;
    if (!seg?.queued.length) return { fds: [] };
    const queuedBytes = seg.queued.reduce((n, b) => n + b.length, 0);
    writeAllAt(seg.fd!, seg.queued, seg.size - queuedBytes);
    seg.queued = [];
    const folder = seg.newName ? this.dir : undefined;
    seg.newName = false;
    return { fds: [seg.fd!], folder };
  }

  /**
   * Called once a checkpoint line says every write before sequence `from` is durable in its own
   * file: the current segment is ended (the next write starts another), and segments that hold
   * nothing from `from` on are removed. (A segment with a sync under way holds a write not yet
   * released, so its last sequence is at least `from`.)
   */
  release(from: number): void {
    if (this.current && this.current.size > 0) {
      this.older.push(this.current);
      this.current = undefined;
    }
    for (let i = this.older.length - 1; i >= 0; i--) {
      const seg = this.older[i];
      if (seg.lastSequence >= from) continue;
      try {
        unlinkSync(join(this.dir, seg.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (seg.fd !== undefined) closeSync(seg.fd);
      this.older.splice(i, 1);
    }
  }

  close(): void {
    for (const seg of this.current ? [...this.older, this.current] : this.older) {
      if (seg.fd !== undefined) closeSync(seg.fd);
      seg.fd = undefined;
    }
  }
}

/** `size` bytes of a segment from `offset`; undefined when the segment is missing or ends before them. */
export function readSegment(path: string, offset: number, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const bytes = Buffer.allocUnsafe(size);
    for (let got = 0; got < size; ) {
      const n = readSync(fd, bytes, got, size - got, offset + got);
      if (n === 0) return undefined;
      got += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** Most buffers one writev takes (IOV_MAX on Linux). */
const MAX_BUFFERS_PER_WRITE = 1024;

/** Writes buffers one after another from `position`, in as few calls as the kernel allows. */
function writeAllAt(fd: number, buffers: Buffer[], position: number): void {
  let pos = position;
  for (let i = 0; i < buffers.length; ) {
    let group = buffers.slice(i, i + MAX_BUFFERS_PER_WRITE);
    i += group.length;
    let left = group.reduce((n, b) => n + b.length, 0);
    while (left > 0) {
      const n = writevSync(fd, group, pos);
      pos += n;
      left -= n;
      if (left > 0) group = rest(group, n); // a short write: go on where it stopped
    }
  }
}

/** The buffers that remain once `n` bytes of them are written. */
function rest(buffers: Buffer[], n: number): Buffer[] {
  let skip = n;
  let i = 0;
  while (skip >= buffers[i].length) skip -= buffers[i++].length;
  return [buffers[i].subarray(skip), ...buffers.slice(i + 1)];
}
