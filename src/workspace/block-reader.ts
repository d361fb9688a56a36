import { close, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';

const readAsync = promisify(read);

/**
 * Bytes read at once for small reads, and blocks kept (the central directory and the data; 8, as
 * the storage step's workers read from several parts of one package at once).
 */
const BLOCK_SIZE = 256 * 1024;
const CACHED_BLOCKS = 8;
/** Reads larger than this bypass the blocks (a big entry's bytes are read once, in order). */
const MAX_CACHED_READ = 64 * 1024;

/**
 * Random access to a package file through a few cached blocks, for yauzl and for the entries left
 * in the package. Each central-directory record, local header and small entry used to cost a
 * thread-pool round trip of its own (4 per entry: 10,000 entries took 3 s of waiting, 0.8 s of
 * work); consecutive records and entries lie next to each other, so one 256 KiB read now serves
 * hundreds of them. Owns the file descriptor: closed when yauzl releases its last reference.
 */
export class BlockReader extends yauzl.RandomAccessReader {
  /** Blocks by index, least recently used first; a block being read is shared by its readers. */
  private readonly blocks = new Map<number, Promise<Buffer>>();

  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    super();
  }

  static async open(path: string): Promise<BlockReader> {
    const fd = await promisify(open)(path, 'r');
    try {
      const { size } = await promisify(fstat)(fd);
      return new BlockReader(fd, size);
    } catch (err) {
      close(fd, () => {});
      throw err;
    }
  }

  /** `length` bytes from `position` (fewer at the end of the file). */
  async readAt(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.size);
    if (end <= position) return Buffer.alloc(0);
    if (end - position > MAX_CACHED_READ) return this.readDirect(position, end - position);
    const first = Math.floor(position / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    if (first === last) {
      const block = await this.block(first);
      return block.subarray(position - first * BLOCK_SIZE, end - first * BLOCK_SIZE);
    }
    const out = Buffer.allocUnsafe(end - position);
    for (let b = first; b <= last; b++) {
      const block = await this.block(b);
      const from = Math.max(position, b * BLOCK_SIZE);
      const to = Math.min(end, b * BLOCK_SIZE + block.length);
      block.copy(out, from - position, from - b * BLOCK_SIZE, to - b * BLOCK_SIZE);
    }
    return out;
  }

  /** The bytes of [start, start + size) in chunks of at most `chunk` bytes (a range of the package). */
  async *range(start: number, size: number, chunk = 1024 * 1024): AsyncGenerator<Buffer> {
    if (size <= MAX_CACHED_READ) {
      const bytes = await this.readAt(start, size);
      if (bytes.length) yield bytes;
      return;
    }
    yield* this.direct(start, size, chunk);
  }

  /**
   * A range read in order, bypassing the blocks. The next chunk is read while the caller works on
   * this one (a big entry's digest: reading and hashing overlap instead of taking turns).
   */
  private async *direct(start: number, size: number, chunk: number): AsyncGenerator<Buffer> {
    const readFrom = (done: number) => {
      const p = this.readDirect(start + done, Math.min(chunk, size - done));
      p.catch(() => {}); // awaited below, unless the caller stops first
      return p;
    };
    let next = size > 0 ? readFrom(0) : undefined;
    let done = 0;
    while (next) {
      const bytes = await next;
      if (bytes.length === 0) return;
      done += bytes.length;
      next = done < size ? readFrom(done) : undefined;
      yield bytes;
    }
  }

  private block(index: number): Promise<Buffer> {
    let p = this.blocks.get(index);
    if (p) {
      // Most recently used last.
      this.blocks.delete(index);
      this.blocks.set(index, p);
      return p;
    }
    p = this.readDirect(index * BLOCK_SIZE, BLOCK_SIZE);
    p.catch(() => this.blocks.get(index) === p && this.blocks.delete(index));
    this.blocks.set(index, p);
    if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    return p;
  }

  private async readDirect(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - position)));
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await readAsync(this.fd, buf, done, buf.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === buf.length ? buf : buf.subarray(0, done);
  }

  // ---- yauzl's RandomAccessReader ----

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    this.readAt(position, length).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        callback(null, bytes.length);
      },
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // Not fs.createReadStream over the shared descriptor: destroying it would close the descriptor.
    return Readable.from(this.direct(start, end - start, 256 * 1024), { objectMode: false });
  }

  override close(callback: (err: Error | null) => void): void {
    this.blocks.clear();
    close(this.fd, (err) => callback(err ?? null));
  }

  /** Takes a reference for a user other than yauzl (package-files.ts); release() drops it. */
  hold(): this {
    (this as unknown as { ref(): void }).ref();
    return this;
  }

  /** Drops one reference (yauzl's when opening the zip failed, or a hold()): the file closes at zero. */
  release(): void {
    (this as unknown as { unref(): void }).unref();
  }
}
