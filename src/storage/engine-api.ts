import type { Readable } from 'node:stream';
import type { ByteRange, Capacity, DigestAlgorithm, ListEntry, WriteLogEntry } from './contract.ts';

/**
 * What other components (journals, ingest, access, referee) use of the storage engine. They get
 * it from `ctx.services.get('storage')` (or `openStorage()` for CLI commands) and import only
 * these types, through src/storage/index.ts.
 */

export type CheckStatus = 'OK' | 'KO';

export interface OfferCheck {
  offerId: string;
  driver: string;
  available: boolean;
  usableBytes: number | null;
  totalBytes: number | null;
  /** True when the offer cannot tell its capacity (the check passes, flagged). */
  capacityUnknown: boolean;
  status: CheckStatus;
  /** Readable reason when KO (unavailable, not enough room: needed vs usable, timeout…). */
  message?: string;
}

export interface StrategyCheck {
  strategyId: string;
  neededBytes: number;
  status: CheckStatus;
  offers: OfferCheck[];
}

/** Where the bytes come from; `open()` may be called again to retry only the offers that failed. */
export interface ObjectSource {
  size: number;
  open(): Readable;
  /** The whole source, when the caller holds it already (a small object): then open() is not called. */
  bytes?: Buffer;
}

export interface WriteRequest {
  strategyId?: string; // default 'default'
  container: string; // e.g. 'objects', 'logbooks', 'traceability', 'manifests'
  id: string;
  source: ObjectSource;
  digestAlgorithm?: DigestAlgorithm; // default from configuration (storage.digestAlgorithm, sha256)
  /** Optional: the digest the caller expects (e.g. from a manifest); a mismatch fails the write. */
  expectedDigest?: string;
}

export type CopyStatus = 'OK' | 'ALREADY_EXISTS' | 'KO';

export interface CopyResult {
  offerId: string;
  status: CopyStatus;
  digest?: string;
  size?: number;
  attempts: number;
  message?: string;
}

export interface WriteResult {
  /** OK only when every active offer of the strategy holds a verified copy. */
  status: 'OK' | 'KO';
  container: string;
  id: string;
  strategyId: string;
  size: number;
  digest: string;
  digestAlgorithm: DigestAlgorithm;
  copies: CopyResult[];
  message?: string;
}

export interface ReadRequest {
  strategyId?: string;
  container: string;
  id: string;
  range?: ByteRange;
  /** Check the digest while streaming (whole-object reads only); the stream errors on mismatch. */
  verifyDigest?: boolean;
}

export interface ReadResult {
  body: Readable;
  size: number;
  offerId: string;
}

export interface RemoveResult {
  offerId: string;
  removed: boolean;
  message?: string;
}

export interface OfferStatus extends Capacity {
  id: string;
  driver: string;
  available: boolean;
  objects: number | null;
}

/** Differences between two offers' copies of a container, by id and digest. */
export interface OfferDiff {
  container: string;
  offerA: string;
  offerB: string;
  /** Objects compared (present on at least one side). */
  compared: number;
  onlyInA: string[];
  onlyInB: string[];
  different: { id: string; digestA: string | null; digestB: string | null }[];
}

export interface StorageEngine {
  strategyIds(): string[];
  /** Availability and capacity of every active offer of a strategy for `bytes` (seed 000 steps 2–4). */
  check(strategyId: string, bytes: number): Promise<StrategyCheck>;
  /** Streams the source once to every active offer in parallel (seed 000 steps 8–11). */
  write(request: WriteRequest): Promise<WriteResult>;
  read(request: ReadRequest): Promise<ReadResult>;
  exists(strategyId: string, container: string, id: string): Promise<Record<string, boolean>>;
  remove(strategyId: string, container: string, id: string): Promise<RemoveResult[]>;
  offersStatus(): Promise<OfferStatus[]>;
  close(): Promise<void>;
}

/** What operators and the referee use besides the StorageEngine: listings, write logs, diffs. */
export interface StorageEngineAdmin extends StorageEngine {
  /** Objects of a container on one offer (default: the strategy's referent, else its first by rank). */
  list(strategyId: string, container: string, options?: { offerId?: string }): AsyncIterable<ListEntry>;
  /** An offer's own write log (sequence, container, id, write or delete) from a sequence on. */
  writeLog(offerId: string, options?: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry>;
  /** What differs between two offers in a container, by id and digest. */
  diff(offerA: string, offerB: string, container: string): Promise<OfferDiff>;
}
