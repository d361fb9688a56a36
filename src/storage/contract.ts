import type { Readable } from 'node:stream';

/**
 * The storage driver contract (seed 001): a Driver checks an offer and opens Connections; a
 * Connection is bound to the parameters it was opened with (URL, account, credentials never change
 * on it: open another connection instead). Drivers declare what they can do in `capabilities`;
 * callers never probe for methods.
 */

export type DigestAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** An offer as the referential defines it; `parameters` belong to its driver. */
export interface OfferDefinition {
  id: string;
  driver: string;
  parameters: Record<string, unknown>;
  limits: OfferLimits;
}

export interface OfferLimits {
  /** Most open connections to this offer. */
  maxConnections: number;
  /** Most operations in flight on this offer. */
  maxConcurrency: number;
  /** Timeout floor for one operation, in ms; grows with the size (see bytesPerSecondFloor). */
  timeoutMs: number;
  /** Slowest throughput the timeout allows for big objects (timeout = max(floor, size / this)). */
  minBytesPerSecond: number;
  /** Timeout of an availability or capacity check, in ms. */
  checkTimeoutMs: number;
  /** Attempts for an operation failing with a retryable error (1 = no retry). */
  maxAttempts: number;
}

export interface DriverCapabilities {
  /** get() honours byte ranges. */
  ranges: boolean;
  /** capacity() can report usable bytes (else it returns null for them). */
  capacity: boolean;
  /** digest() can answer from a stored value without reading the object. */
  cachedDigest: boolean;
  /** writeLog() lists the offer's own writes and deletes in order. */
  writeLog: boolean;
  /** The backend reports changes by itself (seed 003: drivers watch their backend). */
  watch: boolean;
}

export interface Capacity {
  /** Bytes that can still be written; null when the offer cannot tell. */
  usableBytes: number | null;
  totalBytes: number | null;
}

export interface PutRequest {
  container: string;
  id: string;
  body: Readable;
  /** Exact size the body will have; the driver refuses a body of another size. */
  size: number;
  digestAlgorithm: DigestAlgorithm;
  /**
   * The digest (`digestAlgorithm`, hex) the engine computes over these very bytes in the pass that
   * feeds `body`; it resolves once the source is read to its end (rejects if reading fails).
   * Why: hashing a GiB costs about as much as writing it, and the engine hashes anyway; a driver
   * that receives the bytes in-process and writes them unchanged to its medium (fs) may report
   * this digest instead of hashing the same bytes a second time, after counting the bytes
   * itself (size stays checked). A driver whose bytes travel to a server (s3, swift) must not:
   * it reports what the server acknowledged (ETag/MD5, its own digest of what it sent), since
   * only that tells a copy went across intact. Anything between the engine and a driver that
   * alters the bytes (a transform, the fault wrapper's corruption) must drop this field.
   * Absent on retries, which read the source again: the driver hashes those bytes itself.
   */
  sourceDigest?: Promise<string>;
  /**
   * The whole body in memory, for small objects only (the engine reads objects up to
   * SMALL_OBJECT_BYTES at once: a stream per offer cost more than their bytes). The very bytes
   * `body` gives; a driver may write these and never touch `body`. Like `sourceDigest`, anything
   * that alters the bytes on their way must drop this field.
   */
  bytes?: Buffer;
}

/** What the offer stored, as the offer computed it (the engine checks it against its own). */
export interface PutResult {
  size: number;
  digest: string;
  /** True when an identical object was already there (idempotent write). */
  alreadyExisted: boolean;
}

export interface ByteRange {
  start: number;
  /** Inclusive; omitted = to the end. */
  end?: number;
}

export interface GetResult {
  body: Readable;
  /** Size of the whole object. */
  size: number;
  /** Digest kept with the object, when the offer has one. */
  digest?: string;
}

export interface ListEntry {
  id: string;
  size: number;
  digest?: string;
}

export interface WriteLogEntry {
  sequence: number;
  container: string;
  id: string;
  action: 'write' | 'delete';
  at: string;
}

export interface Connection {
  readonly offer: Readonly<OfferDefinition>;
  capacity(): Promise<Capacity>;
  put(request: PutRequest): Promise<PutResult>;
  get(container: string, id: string, range?: ByteRange): Promise<GetResult>;
  exists(container: string, id: string): Promise<boolean>;
  /** The object's digest: the kept value, or recomputed from the bytes when `noCache`. null if absent. */
  digest(container: string, id: string, options: { algorithm: DigestAlgorithm; noCache?: boolean }): Promise<string | null>;
  /** Removes an object; false when it was not there. */
  remove(container: string, id: string): Promise<boolean>;
  /** Every object of a container, page by page (the driver pages; the caller just iterates). */
  list(container: string, options?: { pageSize?: number }): AsyncIterable<ListEntry>;
  /** The offer's write log from a sequence on (only when capabilities.writeLog). */
  writeLog(options: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry>;
  close(): Promise<void>;
}

export interface Driver {
  readonly name: string;
  readonly version: string;
  readonly capabilities: DriverCapabilities;
  /** Whether the offer answers now (a cheap round trip); never throws. */
  isAvailable(offer: OfferDefinition): Promise<boolean>;
  connect(offer: OfferDefinition): Promise<Connection>;
}

export type StorageErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT' // an object with this id exists with other content
  | 'UNAVAILABLE'
  | 'FULL'
  | 'SIZE_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'TIMEOUT'
  | 'BAD_REQUEST'
  | 'IO';

/** Every driver failure; `retryable` tells the engine whether trying again may help. */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(
    public readonly code: StorageErrorCode,
    message: string,
    public readonly retryable: boolean,
    public readonly offerId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
