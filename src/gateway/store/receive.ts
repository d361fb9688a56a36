import type { IncomingMessage } from 'node:http';
import { close, open, write as writeFd } from 'node:fs';
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
  /** A slab's size: the bytes written at once (one hand-off to the thread pool each). */
  slabBytes?: number;
  /** A slab that has not filled for this long is written as it is. */
  idleFlushMs?: number;
}

const SLAB = 128 * 1024;

/**
 * Slabs reused across requests. Socket chunks are copied into a slab, then written with one
 * call: one thread-pool hand-off per slab (128 KiB by default, gateway.writeBuffer) instead of
 * one per 64 KiB socket chunk, and the socket's chunks die young, so the cheap scavenges can
 * free them (holding them until written let tens of MiB of read buffers pile up between
 * collections, which counted in RSS).
 */
class SlabPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep: number) {}
  take(size: number): Buffer {
    const slab = this.free.pop();
    return slab && slab.length === size ? slab : Buffer.allocUnsafeSlow(size);
  }
  release(slab: Buffer): void {
    if (this.free.length < this.keep) this.free.push(slab);
  }
}

const slabs = new SlabPool(16);

/**
 * Streams a request body into the file at `start`, feeding every byte to the inline hashes.
 * While one slab is being written the next one fills; when that one is full too the socket
 * pauses, so an upload holds at most two slabs (plus one socket chunk). When the client drops,
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
  const slabBytes = options.slabBytes ?? SLAB;
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
    let slab: Buffer | undefined;
    let filled = 0;
    // The rest of a chunk that found both slabs busy (the socket is paused meanwhile).
    let spill: Buffer | undefined;
    // A slab that stops filling (a slow client, the body's last bytes) is written soon after
    // anyway, so the bytes reach the file and checkpoints while the client is still sending.
    let idle: NodeJS.Timeout | undefined;

    const settle = () => {
      if (settled || writing || (!failed && (!ended || filled > 0 || spill))) return;
      settled = true;
      if (idle) clearTimeout(idle);
      if (slab) slabs.release(slab);
      const done = () => (failed ? reject(failed) : resolve({ received, aborted, overflow }));
      if (fd === undefined) return done();
      close(fd, (err) => {
        if (err && !failed) failed = err;
        done();
      });
    };

    const fail = (err: Error) => {
      if (failed) return;
      failed = err;
      ended = true;
      req.off('data', onData);
      req.resume(); // let the socket drain; the answer closes the connection
      settle();
    };

    /** Copies bytes into slabs; what does not fit waits in `spill` (the socket is paused). */
    const append = (chunk: Buffer) => {
      while (chunk.length > 0) {
        slab ??= slabs.take(slabBytes);
        const n = chunk.copy(slab, filled);
        filled += n;
        chunk = chunk.subarray(n);
        if (filled === slab.length) {
          if (writing || fd === undefined) {
            if (chunk.length > 0) spill = chunk;
            req.pause();
            return;
          }
          write();
        }
      }
    };

    const write = (force = false) => {
      if (writing || failed || fd === undefined || filled === 0) return;
      if (filled < slab!.length && !ended && !force) {
        idle ??= setTimeout(() => {
          idle = undefined;
          write(true);
        }, idleFlushMs);
        return;
      }
      if (idle) clearTimeout(idle);
      idle = undefined;
      const out = slab!;
      const n = filled;
      slab = undefined;
      filled = 0;
      writing = true;
      writeFd(fd, out, 0, n, start + flushed, (err, written) => {
        writing = false;
        slabs.release(out);
        if (err) return fail(err);
        if (written !== n) return fail(new Error(`short write: ${written} of ${n} bytes`));
        flushed += n;
        onFlushed?.(flushed);
        if (spill) {
          const rest = spill;
          spill = undefined;
          append(rest);
        }
        if (!ended && !spill && req.isPaused()) req.resume();
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
        append(chunk);
        write();
      }
      if (overflow) finish(false);
    };

    open(path, 'r+', (err, opened) => {
      if (err) return fail(err);
      fd = opened;
      write();
      if (!ended && !spill && req.isPaused()) req.resume();
      settle();
    });
    req.on('data', onData);
    req.once('end', () => finish(false));
    req.once('error', () => finish(true));
    req.once('close', () => finish(!req.complete));
    if (req.readableEnded) finish(false);
  });
}
