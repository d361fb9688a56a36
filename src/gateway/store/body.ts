import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext, runInThisContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { BODY_EXECUTOR_SOURCE } from './body-executor.ts';

/**
 * A running digest of an upload's bytes, kept between requests where its bytes were written
 * (on the event loop or in the body thread). It only moves forward, with the bytes written
 * through it or read back from the file.
 */
export interface RunningDigest {
  /** The data now ends at `end` of the file at `path`: reads what the digest has not seen. */
  extendTo(path: string, end: number): Promise<void>;
  /** An independent copy of the current state (to roll back a discarded chunk). */
  copy(): RunningDigest;
  /** The digest; the object cannot be used afterwards. */
  digest(): Promise<Buffer>;
  /** Forgets the state without a digest. */
  drop(): void;
}

export interface ReceiveResult {
  /** Bytes written to the file (all of them, even when the client dropped). */
  received: number;
  /** The client went away before the end of its body. */
  aborted: boolean;
  /** The body held more bytes than allowed (the rest was not read). */
  overflow: boolean;
  /** Where it was written and hashed. */
  lane: 'event loop' | 'body thread';
}

export interface BodyStoreOptions {
  /** A body thread for concurrent bodies and read-backs (gateway.hashWorker). */
  thread: boolean;
  /** Bytes of one body held in memory (handed over, not yet written) before its socket pauses. */
  bufferBytes: number;
}

type Op = Record<string, unknown> & { op: string };
interface Reply {
  op: 'written' | 'closed' | 'digest' | 'extended';
  session?: number;
  key?: number;
  bytes?: number;
  value?: Uint8Array | null;
  length?: number;
  error?: string;
}

/** Batches sent and not yet answered: two keep the executor busy while the next one gathers. */
const MAX_IN_FLIGHT = 2;
/** On the event loop, a read-back (rebuild of a digest) reads this much per turn. */
const LOOP_READ_SLICE = 4 * 2 ** 20;
/**
 * A minor garbage collection after this many bytes written, in the thread and on the event loop.
 * A written chunk is garbage at once, but V8 sees little of it: a chunk is a small object over
 * 64 KiB of memory outside its heap, so the young generation fills slowly and V8 lets up to
 * 64 MB of such memory pile up before it collects (measured: 20-30 MB more RSS without).
 */
const THREAD_COLLECT_EVERY = 4 * 2 ** 20;
const LOOP_COLLECT_EVERY = 8 * 2 ** 20;

/**
 * The bodies of PATCH requests. Each body is written to its file and fed to its digests by one
 * executor (body-executor.ts), in one of two lanes:
 *  - the event loop, with synchronous writes: the cheapest for one body at a time, no hand-off;
 *  - the body thread (gateway.hashWorker), where the socket's chunks are moved (not copied) and
 *    gathered while the thread is busy, so a batch costs one message whatever the number of
 *    uploads: with many concurrent uploads the event loop only parses HTTP.
 * A body goes to the event loop when no other body is being written there, else to the thread;
 * a digest lives where its first bytes were written, and later bodies of that upload follow it.
 * Read-backs of a file prefix (a digest rebuilt after a restart) go to the thread, or on the event
 * loop in slices so that other requests keep their turn.
 */
export class BodyStore {
  private readonly loop: Lane;
  private readonly thread?: Lane;

  constructor(private readonly options: BodyStoreOptions) {
    const executor = runInThisContext(BODY_EXECUTOR_SOURCE)(createRequire(import.meta.url), {
      collectGarbage: minorCollector(),
      collectEvery: LOOP_COLLECT_EVERY,
    }) as { handle(batch: Op[]): Reply[] };
    this.loop = new Lane('event loop', {
      post: (batch, _transfer, answer) => {
        const replies = executor.handle(batch);
        setImmediate(() => answer(replies));
      },
      close: async () => {},
    });
    if (options.thread) this.thread = new Lane('body thread', threadTransport());
  }

  /** A new running digest; refuses an unknown algorithm at once. It is placed on first use. */
  createDigest(algorithm: string): RunningDigest {
    createHash(algorithm);
    return new LaneDigest(this, algorithm);
  }

  async close(): Promise<void> {
    await this.thread?.close();
  }

  /** @internal Where a digest without a place goes for a read-back. */
  laneForReading(): Lane {
    return this.thread ?? this.loop;
  }

  /** @internal Where a digest without a place goes when it is asked for (no bytes: any). */
  laneForDigest(): Lane {
    return this.loop;
  }

  /**
   * Streams a request body into the file at `start`, feeding every byte to `digests`. An upload
   * holds at most `bufferBytes` (plus one socket chunk) in memory: beyond, its socket pauses
   * until its bytes are written. When the client drops, every byte received is still written
   * before this returns, so the upload keeps them. `onFlushed(total)` runs as bytes reach the file.
   */
  receive(
    req: IncomingMessage,
    path: string,
    start: number,
    limit: number,
    digests: RunningDigest[],
    onFlushed?: (flushed: number) => void,
  ): Promise<ReceiveResult> {
    const owned = digests.map((d) => d as LaneDigest);
    const placed = owned.find((d) => d.lane)?.lane;
    const lane = placed ?? (this.thread && this.loop.openSessions > 0 ? this.thread : this.loop);
    for (const d of owned) d.place(lane);
    return lane.receive(req, path, start, limit, owned, onFlushed, this.options.bufferBytes);
  }
}

let collector: ((options: { type: 'minor' }) => void) | undefined;

/**
 * V8's `gc`, for the collections of LOOP_COLLECT_EVERY. It exists in contexts made after the
 * flag (a fresh vm context here, the body thread's) and never in the application's own.
 */
function minorCollector() {
  if (!collector) {
    setFlagsFromString('--expose-gc');
    collector = runInNewContext('gc');
  }
  return collector;
}

interface Transport {
  post(batch: Op[], transfer: ArrayBuffer[], answer: (replies: Reply[]) => void): void;
  close(): Promise<void>;
  /** Set by the lane: called when the transport can no longer work. */
  onFailure?: (err: Error) => void;
}

function threadTransport(): Transport {
  // The thread collects the chunks moved to it itself (see THREAD_COLLECT_EVERY).
  setFlagsFromString('--expose-gc');
  const source = `const { parentPort } = require('node:worker_threads');
const executor = ${BODY_EXECUTOR_SOURCE}(require, { collectGarbage: typeof gc === 'function' ? gc : undefined, collectEvery: ${THREAD_COLLECT_EVERY} });
parentPort.on('message', (batch) => parentPort.postMessage(executor.handle(batch)));`;
  let worker: Worker | undefined;
  const answers: Array<(replies: Reply[]) => void> = [];
  const transport: Transport = {
    post(batch, transfer, answer) {
      if (!worker) {
        // Started on first use. It holds hash states, one read buffer and the chunks in flight.
        worker = new Worker(source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 } });
        worker.unref();
        worker.on('message', (replies: Reply[]) => answers.shift()?.(replies));
        worker.on('error', (err) => transport.onFailure?.(err as Error));
        worker.on('exit', (code) => code !== 0 && transport.onFailure?.(new Error(`the body thread exited with code ${code}`)));
      }
      answers.push(answer);
      worker.postMessage(batch, transfer);
    },
    close: async () => {
      await worker?.terminate();
    },
  };
  return transport;
}

interface Session {
  written(bytes: number, error?: string): void;
  closed(error?: string): void;
}

/** One executor, its queue of operations and the bodies and digests waiting for answers. */
class Lane {
  private queue: Op[] = [];
  private transfer: ArrayBuffer[] = [];
  private inFlight = 0;
  private scheduled = false;
  private nextKey = 1;
  private failed?: Error;
  private readonly sessions = new Map<number, Session>();
  /** Replies awaited per digest, in the order they were asked for. */
  private readonly waiting = new Map<number, Array<(r: Reply) => void>>();

  constructor(
    readonly name: 'event loop' | 'body thread',
    private readonly transport: Transport,
  ) {
    transport.onFailure = (err) => this.fail(err);
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  /** Whether chunks are moved to another thread (then the lane owns them). */
  private get moves(): boolean {
    return this.name === 'body thread';
  }

  newKey(): number {
    return this.nextKey++;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** Queues an operation; the queue leaves in one batch once the executor has room for it. */
  send(op: Op): void {
    if (this.failed) return; // everything waiting was failed already
    this.queue.push(op);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Sends an operation whose reply is awaited (digest, extend). */
  request(op: Op & { key: number }): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      const list = this.waiting.get(op.key) ?? [];
      list.push((r) => (r.error === FAILED ? reject(this.failed) : resolve(r)));
      this.waiting.set(op.key, list);
      this.send(op);
    });
  }

  private pump(): void {
    if (this.failed || this.queue.length === 0 || this.inFlight >= MAX_IN_FLIGHT) return;
    const batch = this.queue;
    const transfer = this.transfer;
    this.queue = [];
    this.transfer = [];
    this.inFlight++;
    this.transport.post(batch, transfer, (replies) => this.answered(replies));
  }

  private answered(replies: Reply[]): void {
    this.inFlight--;
    for (const r of replies) {
      if (r.op === 'written') this.sessions.get(r.session!)?.written(r.bytes!, r.error);
      else if (r.op === 'closed') this.sessions.get(r.session!)?.closed(r.error);
      else {
        const list = this.waiting.get(r.key!);
        const w = list?.shift();
        if (list?.length === 0) this.waiting.delete(r.key!);
        w?.(r);
      }
    }
    this.pump();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const list of this.waiting.values()) for (const w of list) w({ op: 'digest', error: FAILED });
    this.waiting.clear();
    for (const s of [...this.sessions.values()]) s.closed(err.message);
  }

  /**
   * What the executor receives for a chunk. In the thread: its memory, moved (not copied) when
   * the chunk owns all of it, as the socket's chunks do; a copy when it is a view into a shared
   * buffer. On the event loop: the chunk itself.
   */
  private handOver(chunk: Buffer): ArrayBuffer | Buffer {
    if (!this.moves) return chunk;
    const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const buffer = whole ? (chunk.buffer as ArrayBuffer) : (chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer);
    this.transfer.push(buffer);
    return buffer;
  }

  receive(
    req: IncomingMessage,
    path: string,
    start: number,
    limit: number,
    digests: LaneDigest[],
    onFlushed: ((flushed: number) => void) | undefined,
    bufferBytes: number,
  ): Promise<ReceiveResult> {
    const session = this.newKey();
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      let received = 0;
      let flushed = 0;
      let overflow = false;
      let aborted = false;
      let ended = false;
      let failed: string | undefined;
      // The write operation still waiting in the queue: later chunks join it.
      let pending: { op: 'write'; session: number; buffers: Array<ArrayBuffer | Buffer> } | undefined;
      let pendingIn: Op[] | undefined;

      const finish = (wasAborted: boolean) => {
        if (ended) return;
        ended = true;
        aborted = wasAborted;
        req.off('data', onData);
        if (failed) req.resume(); // let the socket drain; the answer closes the connection
        this.send({ op: 'close', session });
      };

      const onData = (chunk: Buffer) => {
        if (ended || this.failed) return;
        if (received + chunk.length > limit) {
          chunk = chunk.subarray(0, limit - received);
          overflow = true;
        }
        if (chunk.length > 0) {
          received += chunk.length;
          const buffer = this.handOver(chunk);
          if (pending && pendingIn === this.queue) pending.buffers.push(buffer);
          else {
            this.send((pending = { op: 'write', session, buffers: [buffer] }));
            pendingIn = this.queue;
          }
          if (received - flushed >= bufferBytes) req.pause();
        }
        if (overflow) finish(false);
      };

      this.sessions.set(session, {
        written: (bytes, error) => {
          flushed += bytes;
          for (const d of digests) d.expected += bytes;
          if (error && !failed) {
            failed = error;
            finish(false);
          }
          if (bytes > 0) onFlushed?.(flushed);
          if (!ended && req.isPaused() && received - flushed < bufferBytes) req.resume();
        },
        closed: (error) => {
          this.sessions.delete(session);
          const err = failed ?? error;
          if (err) reject(new Error(`writing ${path} failed: ${err}`));
          else resolve({ received: flushed, aborted, overflow, lane: this.name });
        },
      });
      this.send({ op: 'open', session, path, position: start, digests: digests.map((d) => d.key) });
      req.on('data', onData);
      req.once('end', () => finish(false));
      req.once('error', () => finish(true));
      req.once('close', () => finish(!req.complete));
      if (req.readableEnded) finish(false);
    });
  }
}

/** The error of a reply made up for a lane that failed. */
const FAILED = '\0failed';

class LaneDigest implements RunningDigest {
  lane?: Lane;
  key = 0;
  /** The bytes this digest must cover when it is asked for (checked against the executor's count). */
  expected = 0;

  constructor(
    private readonly store: BodyStore,
    private readonly algorithm: string,
  ) {}

  /** Creates the digest in `lane` unless it lives somewhere already. */
  place(lane: Lane): void {
    if (this.lane) {
      if (this.lane !== lane) throw new Error(`a digest in the ${this.lane.name} cannot take bytes written in the ${lane.name}`);
      return;
    }
    this.lane = lane;
    this.key = lane.newKey();
    lane.send({ op: 'init', key: this.key, algorithm: this.algorithm });
  }

  async extendTo(path: string, end: number): Promise<void> {
    if (end <= this.expected) return;
    const lane = this.lane ?? (this.place(this.store.laneForReading()), this.lane!);
    this.expected = end;
    // On the event loop the file is read a slice per turn; the thread reads it at once.
    const most = lane.name === 'event loop' ? LOOP_READ_SLICE : undefined;
    for (;;) {
      const r = await lane.request({ op: 'extend', key: this.key, path, end, most });
      if (r.error || (r.length ?? 0) >= end) return; // an error shows when the digest is asked for
    }
  }

  copy(): RunningDigest {
    const twin = new LaneDigest(this.store, this.algorithm);
    if (!this.lane) return twin; // no bytes yet: a copy is a fresh digest
    twin.lane = this.lane;
    twin.key = this.lane.newKey();
    twin.expected = this.expected;
    this.lane.send({ op: 'copy', from: this.key, to: twin.key });
    return twin;
  }

  async digest(): Promise<Buffer> {
    if (!this.lane) this.place(this.store.laneForDigest());
    const r = await this.lane!.request({ op: 'digest', key: this.key });
    if (!r.value || r.length !== this.expected) {
      throw new Error(`the digest covers ${r.length} of ${this.expected} bytes${r.error ? `: ${r.error}` : ''}`);
    }
    return Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }

  drop(): void {
    this.lane?.send({ op: 'drop', key: this.key });
  }
}
