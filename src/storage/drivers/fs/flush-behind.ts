import { fdatasync } from 'node:fs';
import { promisify } from 'node:util';

const fdatasyncFd = promisify(fdatasync);

/**
 * Flushes a file being written in the background, every `everyBytes`, so that its final fsync
 * finds little left to write. Why: the kernel starts writeback only when a tenth of memory is
 * dirty, so without this a 1 GiB object reaches the disk only at its final fsync, after the CPU
 * has finished hashing and copying it; flushed behind, the disk works while the CPU does. At
 * most one flush is in flight per file; its failure is not lost, since the final fsync reports
 * any write error again (and a failed flush is rethrown by settle()).
 */
export class FlushBehind {
  private unflushed = 0;
  private inFlight?: Promise<void>;
  private error?: unknown;

  constructor(
    private readonly fd: number,
    private readonly everyBytes: number,
  ) {}

  /** Counts bytes just written; starts a background flush once enough have gathered. */
  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < this.everyBytes || this.inFlight) return;
    this.unflushed = 0;
    this.inFlight = fdatasyncFd(this.fd).then(
      () => void (this.inFlight = undefined),
      (err) => void ((this.error ??= err), (this.inFlight = undefined)),
    );
  }

  /** Waits for the flush in flight (the fd must not be closed under it); rethrows a failed one. */
  async settle(): Promise<void> {
    await this.inFlight;
    if (this.error) throw this.error;
  }
}
