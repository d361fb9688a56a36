import { createHash } from 'node:crypto';
import type { DigestAlgorithm } from '../../contract.ts';
import { readSegment } from './inline-segments.ts';

/**
 * Small objects whose bytes are durable in a segment (inline-segments.ts) but whose own file the
 * next checkpoint has yet to write (checkpoint.ts). Why wait: writing the file is four system
 * calls (create, write, close, digest link) that need no sync; done at the put they were a third
 * of the event loop's time per object, while the checkpoint's thread writes a whole batch in one
 * go. Meanwhile every read of the offer looks here first and reads the bytes from the segment.
 */
export interface PendingObject {
  container: string;
  id: string;
  size: number;
  algorithm: DigestAlgorithm;
  digest: string;
  /** The segment file and where the bytes start in it. */
  segment: string;
  offset: number;
  /** The object's file and digest link, once written. */
  file: string;
  link: string;
  /** Taken by a running checkpoint: its file is being written (a remove waits for the checkpoint). */
  taken: boolean;
}

export class PendingObjects {
  private readonly byKey = new Map<string, PendingObject>();

  private static key(container: string, id: string): string {
    return `${container}\0${id}`;
  }

  get(container: string, id: string): PendingObject | undefined {
    return this.byKey.get(PendingObjects.key(container, id));
  }

  add(p: PendingObject): void {
    this.byKey.set(PendingObjects.key(p.container, p.id), p);
  }

  /** Forgets `p` (its file is written, or it was removed), unless a newer write of its id replaced it. */
  delete(p: PendingObject): void {
    const key = PendingObjects.key(p.container, p.id);
    if (this.byKey.get(key) === p) this.byKey.delete(key);
  }

  /** The pending objects of a container (a snapshot, for listing). */
  inContainer(container: string): PendingObject[] {
    const found: PendingObject[] = [];
    for (const p of this.byKey.values()) if (p.container === container) found.push(p);
    return found;
  }
}

/** A pending object's bytes, read from its segment (at most 64 KiB). */
export function pendingBytes(p: PendingObject): Buffer {
  const bytes = readSegment(p.segment, p.offset, p.size);
  if (!bytes) throw Object.assign(new Error(`segment ${p.segment} lacks the bytes of ${p.container}/${p.id}`), { code: 'EIO' });
  return bytes;
}

/** A pending object's digest: the one its put computed, or computed again from its bytes. */
export function pendingDigest(p: PendingObject, algorithm: DigestAlgorithm, noCache: boolean): string {
  if (!noCache && algorithm === p.algorithm) return p.digest;
  return createHash(algorithm).update(pendingBytes(p)).digest('hex');
}
