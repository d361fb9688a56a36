import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { DigestAlgorithm } from './contract.ts';

/**
 * Reads a source once and feeds every branch the same chunks (no copies), computing the digest
 * in the same pass. Backpressure: the next chunk is read only when every live branch has room,
 * so the slowest offer sets the pace and memory stays within one buffer per branch. A branch
 * whose offer failed is detached and no longer holds the others back.
 */
export class Fanout {
  private readonly branches = new Map<string, PassThrough>();
  readonly done: Promise<{ size: number; digest: string }>;

  constructor(source: Readable, ids: string[], algorithm: DigestAlgorithm, bufferBytes: number) {
    for (const id of ids) this.branches.set(id, new PassThrough({ highWaterMark: bufferBytes }));
    this.done = this.pump(source, algorithm);
    this.done.catch(() => {}); // observed by the engine; avoid an unhandled rejection meanwhile
  }

  branch(id: string): Readable {
    return this.branches.get(id)!;
  }

  /** Stops feeding a branch (its offer failed or gave up). */
  detach(id: string, err?: Error): void {
    const b = this.branches.get(id);
    if (!b) return;
    this.branches.delete(id);
    if (!b.destroyed) b.destroy(err);
  }

  private async pump(source: Readable, algorithm: DigestAlgorithm): Promise<{ size: number; digest: string }> {
    const hash = createHash(algorithm);
    let size = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        let waits: Promise<void>[] | undefined;
        for (const b of this.branches.values()) {
          if (!b.destroyed && !b.write(chunk)) (waits ??= []).push(roomIn(b));
        }
        if (waits) await Promise.all(waits);
      }
    } catch (err) {
      const e = new Error(`reading the source failed: ${(err as Error).message}`, { cause: err });
      for (const id of [...this.branches.keys()]) this.detach(id, e);
      throw e;
    }
    for (const b of this.branches.values()) if (!b.destroyed) b.end();
    return { size, digest: hash.digest('hex') };
  }
}

const roomIn = (b: PassThrough) =>
  new Promise<void>((resolve) => {
    const done = () => {
      b.off('drain', done);
      b.off('close', done);
      resolve();
    };
    b.on('drain', done);
    b.on('close', done);
  });
