import { PassThrough, type Readable } from 'node:stream';
import type { DigestAlgorithm } from './contract.ts';
import { createDigester, type Digester } from './hashing.ts';

/**
 * Reads a source once and feeds every branch the same chunks (no copies), computing the digest
 * in the same pass. Backpressure: the next chunk is read only when every live branch has room,
 * so the slowest offer sets the pace and memory stays within one buffer per branch. A branch
 * whose offer failed is detached and no longer holds the others back.
 */
export class Fanout {
  private readonly branches = new Map<string, PassThrough>();
  readonly done: Promise<{ size: number; digest: string }>;

  constructor(source: Readable, ids: string[], algorithm: DigestAlgorithm, options: { bufferBytes: number; size: number; hashThreadMinBytes: number }) {
    for (const id of ids) this.branches.set(id, new PassThrough({ highWaterMark: options.bufferBytes }));
    this.done = this.pump(source, createDigester(algorithm, options.size, { threadMinBytes: options.hashThreadMinBytes }));
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

  private async pump(source: Readable, hash: Digester): Promise<{ size: number; digest: string }> {
    let size = 0;
    let digest: string;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        // The hash (possibly in another thread) and the branches take the chunk side by side.
        const hashing = hash.update(chunk);
        let waits: Promise<void>[] | undefined = hashing ? [hashing] : undefined;
        for (const b of this.branches.values()) {
          if (!b.destroyed && !b.write(chunk)) (waits ??= []).push(roomIn(b));
        }
        if (waits) await Promise.all(waits);
      }
      for (const b of this.branches.values()) if (!b.destroyed) b.end();
      digest = await hash.digest();
    } catch (err) {
      hash.abort();
      const e = new Error(`reading the source failed: ${(err as Error).message}`, { cause: err });
      for (const id of [...this.branches.keys()]) this.detach(id, e);
      throw e;
    }
    return { size, digest };
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
