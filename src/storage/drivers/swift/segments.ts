import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Cuts one stream into consecutive sub-streams of given lengths, pulling from the source only as
 * each sub-stream is read: one segment in flight, memory flat whatever the object's size.
 */
export class Slicer {
  private leftover?: Buffer;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** The next `length` bytes as a stream, with their md5 (hex) once the stream has ended. */
  next(length: number): { stream: Readable; md5(): string } {
    const hash = createHash('md5');
    let remaining = length;
    const self = this;
    const stream = Readable.from(
      (async function* () {
        while (remaining > 0) {
          let chunk = self.leftover;
          self.leftover = undefined;
          if (!chunk) {
            const r = await self.source.next();
            if (r.done) return; // a short source: the size check of the caller reports it
            chunk = r.value;
          }
          if (chunk.length > remaining) {
            self.leftover = chunk.subarray(remaining);
            chunk = chunk.subarray(0, remaining);
          }
          remaining -= chunk.length;
          hash.update(chunk);
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
    return { stream, md5: () => hash.digest('hex') };
  }

  /** True when the source has bytes beyond what was sliced. */
  async hasMore(): Promise<boolean> {
    if (this.leftover && this.leftover.length > 0) return true;
    const r = await this.source.next();
    return !r.done;
  }
}
