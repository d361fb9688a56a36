import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Kysely } from 'kysely';
import type { CoffreDb } from '../db/index.ts';
import type { Database } from '../db/tables.ts';
import { StorageError, type Connection, type DigestAlgorithm, type ListEntry, type PutResult, type WriteLogEntry } from './contract.ts';
import type {
  CopyResult,
  OfferCheck,
  OfferDiff,
  OfferStatus,
  ReadRequest,
  ReadResult,
  RemoveResult,
  StorageEngineAdmin,
  StrategyCheck,
  WriteRequest,
  WriteResult,
} from './engine-api.ts';
import type { Referential, Strategy, StorageConfig } from './config.ts';
import type { DriverRegistry } from './registry.ts';
import { OfferRuntime, asStorageError, withTimeout } from './runtime.ts';
import { Fanout } from './fanout.ts';
import { RecordWriter } from './records.ts';
import { SMALL_OBJECT_BYTES, putOfBytes, smallSourceBytes } from './small-object.ts';

/** What the first attempt of a write gives: each offer's outcome, and the source's size and digest (or why it could not be read). */
interface FirstAttempt {
  settled: PromiseSettledResult<PutResult>[];
  read: { size: number; digest: string } | Error;
}

export interface EngineSettings {
  fanoutBufferBytes: number;
  hashThreadMinBytes: number;
  checkCacheTtlMs: number;
  retryBaseDelayMs: number;
}

export const engineSettings = (c: StorageConfig): EngineSettings => ({
  fanoutBufferBytes: c.fanoutBufferBytes,
  hashThreadMinBytes: c.hashThreadMinBytes,
  checkCacheTtlMs: c.checkCacheTtl,
  retryBaseDelayMs: c.retryBaseDelay,
});

const HEX = /^[0-9a-f]+$/i;

/** The storage engine: checks, multi-offer writes, reads with fallback, records in the database. */
export class Engine implements StorageEngineAdmin {
  readonly runtimes = new Map<string, OfferRuntime>();
  readonly db: Kysely<Database>;
  private readonly records: RecordWriter;
  private readonly checkCache = new Map<string, { at: number; check: Promise<OfferCheck>; writtenSince?: number }>();

  constructor(
    readonly referential: Referential,
    registry: DriverRegistry,
    cdb: CoffreDb,
    private readonly settings: EngineSettings,
  ) {
    this.db = cdb.db;
    for (const offer of referential.offers.values()) {
      this.runtimes.set(offer.id, new OfferRuntime(offer, registry.get(offer.driver), settings.retryBaseDelayMs));
    }
    this.records = new RecordWriter(cdb);
  }

  strategyIds(): string[] {
    return [...this.referential.strategies.keys()];
  }

  strategy(id: string): Strategy {
    const s = this.referential.strategies.get(id);
    if (!s) throw new StorageError('BAD_REQUEST', `unknown strategy "${id}" (known: ${this.strategyIds().join(', ')})`, false);
    return s;
  }

  runtime(offerId: string): OfferRuntime {
    const rt = this.runtimes.get(offerId);
    if (!rt) throw new StorageError('BAD_REQUEST', `unknown offer "${offerId}" (known: ${[...this.runtimes.keys()].join(', ')})`, false);
    return rt;
  }

  private activeOffers(strategy: Strategy): OfferRuntime[] {
    return strategy.offers.filter((o) => o.active).map((o) => this.runtime(o.id));
  }

  // ---- check ---------------------------------------------------------------------------------

  async check(strategyId: string, bytes: number): Promise<StrategyCheck> {
    const strategy = this.strategy(strategyId);
    const offers = await Promise.all(this.activeOffers(strategy).map((rt) => this.checkOffer(rt, bytes, false)));
    return { strategyId, neededBytes: bytes, status: offers.every((o) => o.status === 'OK') ? 'OK' : 'KO', offers };
  }

  /**
   * One offer's availability and room, within its check timeout. Writes reuse an answer younger
   * than checkCacheTtl, and concurrent writes share one probe in flight.
   */
  private async checkOffer(rt: OfferRuntime, bytes: number, useCache: boolean): Promise<OfferCheck> {
    let entry = this.checkCache.get(rt.id);
    if (!useCache || !entry || Date.now() - entry.at >= this.settings.checkCacheTtlMs) {
      const probing = this.probe(rt);
      entry = { at: Date.now(), check: probing };
      this.checkCache.set(rt.id, entry);
    }
    const base = await entry.check;
    if (base.status === 'KO') return base;
    const usable = base.usableBytes === null ? null : base.usableBytes - (entry.writtenSince ?? 0);
    if (usable !== null && usable < bytes) {
      return { ...base, usableBytes: usable, status: 'KO', message: `offer ${rt.id} has not enough room: ${bytes} bytes needed, ${usable} usable` };
    }
    return base;
  }

  private async probe(rt: OfferRuntime): Promise<OfferCheck> {
    const result: OfferCheck = { offerId: rt.id, driver: rt.driver.name, available: false, usableBytes: null, totalBytes: null, capacityUnknown: true, status: 'KO' };
    const work = (async () => {
      const avail = await rt.isAvailable();
      if (!avail.available) return { ...result, message: avail.message };
      const capacity = await rt.attempt('capacity', 0, (c) => c.capacity());
      const unknown = capacity.usableBytes === null;
      return { ...result, available: true, usableBytes: capacity.usableBytes, totalBytes: capacity.totalBytes, capacityUnknown: unknown, status: 'OK' as const, ...(unknown ? { message: `offer ${rt.id} cannot tell its capacity (passes, flagged)` } : {}) };
    })();
    try {
      return await withTimeout(work, rt.offer.limits.checkTimeoutMs, rt.id, 'check');
    } catch (err) {
      return { ...result, message: `offer ${rt.id} did not answer the check: ${(err as Error).message}` };
    }
  }

  // ---- write ---------------------------------------------------------------------------------

  async write(request: WriteRequest): Promise<WriteResult> {
    const strategyId = request.strategyId ?? 'default';
    const strategy = this.strategy(strategyId);
    const algorithm: DigestAlgorithm = request.digestAlgorithm ?? this.referential.digestAlgorithm;
    const { container, id, source } = request;
    const offers = this.activeOffers(strategy);
    const base = { container, id, strategyId, size: source.size, digestAlgorithm: algorithm };

    // Nothing is written unless every active offer is available and has room (seed 000, step 4).
    const checks = await Promise.all(offers.map((rt) => this.checkOffer(rt, source.size, true)));
    const failed = checks.filter((c) => c.status === 'KO');
    if (failed.length) {
      return {
        ...base,
        status: 'KO',
        digest: '',
        copies: checks.map((c) => ({ offerId: c.offerId, status: 'KO', attempts: 0, message: c.status === 'KO' ? c.message : 'not written: another offer failed the check' })),
        message: `storage check failed, nothing written: ${failed.map((c) => c.message).join('; ')}`,
      };
    }

    // First attempt: one read of the source for every offer (a small object is read whole first).
    const bytes = source.size <= SMALL_OBJECT_BYTES ? await smallSourceBytes(source).catch((err: Error) => err) : undefined;
    let first: FirstAttempt;
    if (bytes === undefined) first = await this.firstStreamed(offers, request, algorithm);
    else if (bytes instanceof Error) first = { settled: [], read: bytes }; // unreadable or of another size: nothing written
    else first = await this.firstOfBytes(offers, request, algorithm, bytes);
    const { settled, read } = first;
    if (read instanceof Error) {
      return {
        ...base,
        status: 'KO',
        digest: '',
        copies: offers.map((rt) => ({ offerId: rt.id, status: 'KO', attempts: settled.length ? 1 : 0, message: read.message })),
        message: `object ${container}/${id}: ${read.message}`,
      };
    }
    const { digest, size } = read;
    if (size !== source.size) {
      await this.discardNew(offers, settled, container, id);
      return { ...base, status: 'KO', digest, copies: offers.map((rt) => ({ offerId: rt.id, status: 'KO', attempts: 1, message: `the source gave ${size} bytes, ${source.size} announced` })), message: `object ${container}/${id}: the source gave ${size} bytes, ${source.size} announced` };
    }
    if (request.expectedDigest && request.expectedDigest.toLowerCase() !== digest) {
      await this.discardNew(offers, settled, container, id);
      return {
        ...base,
        status: 'KO',
        digest,
        copies: offers.map((rt) => ({ offerId: rt.id, status: 'KO', attempts: 1, message: 'digest differs from the expected one' })),
        message: `object ${container}/${id}: its ${algorithm} digest ${digest} differs from the expected ${request.expectedDigest}`,
      };
    }

    // Verify each copy; retry, with a new read of the source, only the offers that failed.
    const copies = await Promise.all(
      offers.map(async (rt, i): Promise<CopyResult> => {
        const s = settled[i];
        let outcome = s.status === 'fulfilled' ? await this.verify(rt, s.value, digest, size, container, id) : asStorageError(s.reason, rt.id);
        let attempts = 1;
        while (outcome instanceof StorageError && outcome.retryable && attempts < rt.offer.limits.maxAttempts) {
          await rt.backoff(attempts);
          attempts++;
          // Small objects: the same bytes again; others: a new read of the source.
          const put = bytes instanceof Buffer ? putOfBytes({ container, id, size, digestAlgorithm: algorithm }, bytes) : { container, id, body: source.open(), size, digestAlgorithm: algorithm };
          try {
            const result = await rt.attempt('write', size, (conn) => conn.put(put), () => put.body.destroy());
            outcome = await this.verify(rt, result, digest, size, container, id);
          } catch (err) {
            put.body.destroy();
            outcome = asStorageError(err, rt.id);
          }
        }
        if (outcome instanceof StorageError) {
          return { offerId: rt.id, status: 'KO', attempts, message: `offer ${rt.id}: ${outcome.code}: ${outcome.message}` };
        }
        return { offerId: rt.id, status: outcome.alreadyExisted ? 'ALREADY_EXISTS' : 'OK', digest: outcome.digest, size: outcome.size, attempts };
      }),
    );

    const ok = copies.filter((c) => c.status !== 'KO');
    const status = ok.length === copies.length ? 'OK' : 'KO';
    if (ok.length) {
      const now = new Date().toISOString();
      await this.records.save({
        object: { container, id, strategy_id: strategyId, size, digest, digest_algorithm: algorithm, status, created_at: now, updated_at: now },
        copies: ok.map((c) => ({ container, object_id: id, offer_id: c.offerId, size, digest, written_at: now })),
      });
      for (const c of ok) {
        // Keep the cached room honest between checks.
        const cached = this.checkCache.get(c.offerId);
        if (cached && c.status === 'OK') cached.writtenSince = (cached.writtenSince ?? 0) + size;
      }
    }
    const failedCopies = copies.filter((c) => c.status === 'KO');
    return {
      ...base,
      size,
      status,
      digest,
      copies,
      ...(failedCopies.length ? { message: `object ${container}/${id} has no verified copy on ${failedCopies.map((c) => c.offerId).join(', ')}: ${failedCopies.map((c) => c.message).join('; ')}` } : {}),
    };
  }

  /** The source read once and fanned out to every offer as it is read, hashed in the same pass. */
  private async firstStreamed(offers: OfferRuntime[], request: WriteRequest, algorithm: DigestAlgorithm): Promise<FirstAttempt> {
    const { container, id, source } = request;
    const fan = new Fanout(source.open(), offers.map((o) => o.id), algorithm, { bufferBytes: this.settings.fanoutBufferBytes, size: source.size, hashThreadMinBytes: this.settings.hashThreadMinBytes });
    // Drivers that store the branch's bytes unchanged may adopt this digest (PutRequest.sourceDigest).
    const sourceDigest = fan.done.then((r) => r.digest);
    sourceDigest.catch(() => {}); // a read failure is reported from fan.done below
    const puts = offers.map((rt) =>
      rt
        .attempt('write', source.size, (conn) => conn.put({ container, id, body: fan.branch(rt.id), size: source.size, digestAlgorithm: algorithm, sourceDigest }), () => fan.detach(rt.id))
        .finally(() => fan.detach(rt.id)),
    );
    const [settled, read] = await Promise.all([Promise.allSettled(puts), fan.done.then((r) => r, (err: Error) => err)]);
    return { settled, read };
  }

  /** A small object already read: its digest, then the same buffer to every offer. */
  private async firstOfBytes(offers: OfferRuntime[], request: WriteRequest, algorithm: DigestAlgorithm, bytes: Buffer): Promise<FirstAttempt> {
    const { container, id } = request;
    const digest = createHash(algorithm).update(bytes).digest('hex');
    // A digest other than the expected one: nothing is written (the caller is told below).
    if (request.expectedDigest && request.expectedDigest.toLowerCase() !== digest) return { settled: [], read: { size: bytes.length, digest } };
    const sourceDigest = Promise.resolve(digest);
    const puts = offers.map((rt) => {
      const put = putOfBytes({ container, id, size: bytes.length, digestAlgorithm: algorithm, sourceDigest }, bytes);
      return rt.attempt('write', bytes.length, (conn) => conn.put(put), () => put.body.destroy());
    });
    return { settled: await Promise.allSettled(puts), read: { size: bytes.length, digest } };
  }

  /** Checks what an offer says it stored; a copy it reports wrongly is removed (when new) and retried. */
  private async verify(rt: OfferRuntime, result: PutResult, digest: string, size: number, container: string, id: string): Promise<PutResult | StorageError> {
    if (result.size === size && typeof result.digest === 'string' && result.digest.toLowerCase() === digest) return result;
    const what = result.size !== size ? `size ${result.size} instead of ${size}` : `digest ${String(result.digest).slice(0, 16)}… instead of ${digest.slice(0, 16)}…`;
    if (result.alreadyExisted) {
      return new StorageError('CONFLICT', `an object ${container}/${id} already there reports ${what}`, false, rt.id);
    }
    await rt.run('remove', 0, (c) => c.remove(container, id)).catch(() => {});
    return new StorageError(result.size !== size ? 'SIZE_MISMATCH' : 'DIGEST_MISMATCH', `the offer reported ${what}`, true, rt.id);
  }

  /** Removes the copies a failed write just made (never ones that were already there; none when nothing was written). */
  private async discardNew(offers: OfferRuntime[], settled: PromiseSettledResult<PutResult>[], container: string, id: string) {
    await Promise.all(
      offers.map(async (rt, i) => {
        const s = settled[i];
        if (s?.status === 'fulfilled' && !s.value.alreadyExisted) await rt.run('remove', 0, (c) => c.remove(container, id)).catch(() => {});
      }),
    );
  }

  // ---- read ----------------------------------------------------------------------------------

  async read(request: ReadRequest): Promise<ReadResult> {
    const strategy = this.strategy(request.strategyId ?? 'default');
    const { container, id, range } = request;
    // Active offers first, each group by rank: inactive ones may still hold a copy.
    const order = [...strategy.offers.filter((o) => o.active), ...strategy.offers.filter((o) => !o.active)];
    const record = request.verifyDigest ? await this.objectRecord(container, id) : undefined;
    const errors: string[] = [];
    for (const so of order) {
      const rt = this.runtime(so.id);
      try {
        const got = await rt.run('read', 0, (c) => c.get(container, id, range));
        let body = got.body;
        if (request.verifyDigest && !range) {
          const expected = record?.digest ?? got.digest;
          const algorithm = (record?.digest_algorithm as DigestAlgorithm | undefined) ?? this.referential.digestAlgorithm;
          if (!expected) {
            got.body.destroy();
            throw new StorageError('DIGEST_MISMATCH', `no recorded digest to check ${container}/${id} against`, false, rt.id);
          }
          body = verifying(got.body, algorithm, expected, `${container}/${id} from offer ${rt.id}`);
        }
        const size = range ? (range.end === undefined ? got.size - range.start : Math.min(range.end, got.size - 1) - range.start + 1) : got.size;
        return { body, size, offerId: rt.id };
      } catch (err) {
        const e = asStorageError(err, rt.id);
        if (e.code === 'BAD_REQUEST') throw e;
        errors.push(`${rt.id}: ${e.message}`);
      }
    }
    const notFound = errors.length > 0 && errors.every((e) => /not on offer|NOT_FOUND|not found/i.test(e));
    throw new StorageError(notFound ? 'NOT_FOUND' : 'UNAVAILABLE', `object ${container}/${id} could not be read from any offer of strategy ${strategy.id}: ${errors.join('; ')}`, false);
  }

  async objectRecord(container: string, id: string) {
    return this.db.selectFrom('storage_object').selectAll().where('container', '=', container).where('id', '=', id).executeTakeFirst();
  }

  // ---- exists, remove, list, log, diff ---------------------------------------------------------

  async exists(strategyId: string, container: string, id: string): Promise<Record<string, boolean>> {
    const strategy = this.strategy(strategyId);
    const out: Record<string, boolean> = {};
    await Promise.all(
      strategy.offers.map(async (so) => {
        out[so.id] = await this.runtime(so.id).run('exists', 0, (c) => c.exists(container, id));
      }),
    );
    return out;
  }

  async remove(strategyId: string, container: string, id: string): Promise<RemoveResult[]> {
    const strategy = this.strategy(strategyId);
    const results = await Promise.all(
      strategy.offers.map(async (so): Promise<RemoveResult> => {
        try {
          return { offerId: so.id, removed: await this.runtime(so.id).run('remove', 0, (c) => c.remove(container, id)) };
        } catch (err) {
          return { offerId: so.id, removed: false, message: (err as Error).message };
        }
      }),
    );
    const gone = results.filter((r) => !r.message).map((r) => r.offerId);
    await this.db.transaction().execute(async (trx) => {
      if (gone.length) await trx.deleteFrom('storage_copy').where('container', '=', container).where('object_id', '=', id).where('offer_id', 'in', gone).execute();
      const left = await trx.selectFrom('storage_copy').select('offer_id').where('container', '=', container).where('object_id', '=', id).execute();
      if (left.length === 0) await trx.deleteFrom('storage_object').where('container', '=', container).where('id', '=', id).execute();
    });
    return results;
  }

  list(strategyId: string, container: string, options: { offerId?: string } = {}): AsyncIterable<ListEntry> {
    const strategy = this.strategy(strategyId);
    const offerId = options.offerId ?? (strategy.offers.find((o) => o.referent) ?? strategy.offers[0]).id;
    return this.runtime(offerId).iterate((c) => c.list(container));
  }

  writeLog(offerId: string, options: { fromSequence?: number; limit?: number } = {}): AsyncIterable<WriteLogEntry> {
    const rt = this.runtime(offerId);
    if (!rt.driver.capabilities.writeLog) throw new StorageError('BAD_REQUEST', `offer ${offerId} (driver ${rt.driver.name}) keeps no write log`, false, offerId);
    return rt.iterate((c) => c.writeLog(options));
  }

  async diff(offerA: string, offerB: string, container: string): Promise<OfferDiff> {
    const a = this.runtime(offerA);
    const b = this.runtime(offerB);
    const algorithm = this.referential.digestAlgorithm;
    // Listed digests are the kept ones; ask the offer when a listing has none.
    const collect = async (rt: OfferRuntime) => {
      const map = new Map<string, string | null>();
      const missing: string[] = [];
      for await (const e of rt.iterate((c) => c.list(container))) {
        if (e.digest && HEX.test(e.digest) && e.digest.length === digestLength(algorithm)) map.set(e.id, e.digest);
        else missing.push(e.id);
      }
      for (const id of missing) map.set(id, await rt.run('digest', 0, (c: Connection) => c.digest(container, id, { algorithm })));
      return map;
    };
    const [ma, mb] = await Promise.all([collect(a), collect(b)]);
    const diff: OfferDiff = { container, offerA, offerB, compared: 0, onlyInA: [], onlyInB: [], different: [] };
    for (const [id, da] of ma) {
      diff.compared++;
      if (!mb.has(id)) diff.onlyInA.push(id);
      else if (mb.get(id) !== da) diff.different.push({ id, digestA: da, digestB: mb.get(id) ?? null });
    }
    for (const id of mb.keys()) {
      if (!ma.has(id)) {
        diff.compared++;
        diff.onlyInB.push(id);
      }
    }
    diff.onlyInA.sort();
    diff.onlyInB.sort();
    return diff;
  }

  async offersStatus(): Promise<OfferStatus[]> {
    const counts = await this.db.selectFrom('storage_copy').select(['offer_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('offer_id').execute();
    const byOffer = new Map(counts.map((c) => [c.offer_id, Number(c.n)]));
    return Promise.all(
      [...this.runtimes.values()].map(async (rt): Promise<OfferStatus> => {
        const probe = await this.probe(rt);
        return { id: rt.id, driver: rt.driver.name, available: probe.available, usableBytes: probe.usableBytes, totalBytes: probe.totalBytes, objects: byOffer.get(rt.id) ?? 0 };
      }),
    );
  }

  async close(): Promise<void> {
    await this.records.drain();
    await Promise.all([...this.runtimes.values()].map((rt) => rt.close()));
  }
}

const digestLength = (a: DigestAlgorithm) => ({ md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128 })[a];

/** Passes the bytes through and fails the stream at the end when their digest is not `expected`. */
function verifying(body: NodeJS.ReadableStream & { destroy(err?: Error): void }, algorithm: DigestAlgorithm, expected: string, what: string) {
  const hash = createHash(algorithm);
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const actual = hash.digest('hex');
      if (actual !== expected.toLowerCase()) done(new StorageError('DIGEST_MISMATCH', `${what}: ${algorithm} digest ${actual.slice(0, 16)}… differs from the recorded ${expected.slice(0, 16)}…`, false));
      else done();
    },
  });
  body.on('error', (err: Error) => t.destroy(err));
  t.on('close', () => body.destroy());
  return body.pipe(t);
}
