import type { IncomingMessage } from 'node:http';
import { close, open, writev } from 'node:fs';
import type { RunningDigest } from './hasher.ts';

export interface ReceiveResult {
  /** Bytes written to the file (all of them flushed). */
  received: number;
  /** The client went away before the end of its body. */
  aborted: boolean;
  /** The body held more bytes than allowed (the rest was not read). */
  overflow: boolean;
}

export interface ReceiveOptions {
  /**
   * Bytes gathered before one write (writev of the socket's chunks). Each write is a hand-off
   * to the thread pool; one per 64 KiB socket chunk costs a context switch each on a busy host.
   */
  batchBytes?: number;
  /** A batch that has not filled for this long is written as it is. */
  idleFlushMs?: number;
}

/**
 * Streams a request body into the file at `start`, feeding every byte to the inline hashes.
 * Socket chunks are gathered into batches written with one writev each; while a batch is being
 * written the next one fills, and the socket pauses when that one is full too, so at most two
 * batches per upload are held in memory (back-pressure does the rest). When the client drops,
 * every byte already received is still written before this returns, so the upload keeps them.
 * `onFlushed(total)` runs as bytes reach the file (for checkpoints).
 */
export function receiveBody(
  req: IncomingMessage,
  path: string,
  start: number,
  limit: number,
  hashes: RunningDigest[],
  onFlushed?: (flushed: number) => void,
  options: ReceiveOptions = {},
): Promise<ReceiveResult> {
  const batchBytes = options.batchBytes ?? 256 * 1024;
  const idleFlushMs = options.idleFlushMs ?? 5;
  return new Promise((resolve, reject) => {
    // Its own descriptor: fsync on another descriptor of the same file flushes these bytes too.
    let fd: number | undefined;
    let received = 0;
    let flushed = 0;
    let overflow = false;
    let ended = false;
    let aborted = false;
    let writing = false;
    let settled = false;
    let failed: Error | undefined;
    let batch: Buffer[] = [];
    let batchSize = 0;
    // A batch that stops filling (a slow client, the body's last bytes) is written anyway soon
    // after, so the bytes reach the file and checkpoints while the client is still sending.
    let idle: NodeJS.Timeout | undefined;

    const settle = () => {
      if (settled || writing || (!failed && (!ended || batchSize > 0))) return;
      settled = true;
      const done = () => (failed ? reject(failed) : resolve({ received, aborted, overflow }));
      if (fd === undefined) return done();
      close(fd, (err) => {
        if (err && !failed) failed = err;
        done();
      });
    };

    const fail = (err: Error) => {
      if (failed) return;
      if (idle) clearTimeout(idle);
      failed = err;
      ended = true;
      req.off('data', onData);
      req.resume(); // let the socket drain; the answer closes the connection
      settle();
    };

    const write = (force = false) => {
      if (writing || failed || fd === undefined || batchSize === 0) return;
      if (batchSize < batchBytes && !ended && !force) {
        idle ??= setTimeout(() => {
          idle = undefined;
          write(true);
        }, idleFlushMs);
        return;
      }
      if (idle) clearTimeout(idle);
      idle = undefined;
      const chunks = batch;
      const n = batchSize;
      batch = [];
      batchSize = 0;
      writing = true;
      writev(fd, chunks, start + flushed, (err, written) => {
        writing = false;
        if (err) return fail(err);
        if (written !== n) return fail(new Error(`short write: ${written} of ${n} bytes`));
        flushed += n;
        onFlushed?.(flushed);
        if (!ended && req.isPaused()) req.resume();
        write();
        settle();
      });
    };

    const finish = (wasAborted: boolean) => {
      if (ended) return;
      ended = true;
      aborted = wasAborted;
      req.off('data', onData);
      write();
      settle();
    };

    const onData = (chunk: Buffer) => {
      if (ended) return;
      if (received + chunk.length > limit) {
        chunk = chunk.subarray(0, limit - received);
        overflow = true;
      }
      if (chunk.length > 0) {
        for (const h of hashes) h.update(chunk);
        received += chunk.length;
        batch.push(chunk);
        batchSize += chunk.length;
        write();
        // One batch in flight and one full behind it: wait for the disk.
        if ((writing || fd === undefined) && batchSize >= batchBytes) req.pause();
      }
      if (overflow) finish(false);
    };

    open(path, 'r+', (err, opened) => {
      if (err) return fail(err);
      fd = opened;
      write();
      if (!ended && req.isPaused()) req.resume();
      settle();
    });
    req.on('data', onData);
    req.once('end', () => finish(false));
    req.once('error', () => finish(true));
    req.once('close', () => finish(!req.complete));
    if (req.readableEnded) finish(false);
  });
}
