import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, type Connection, type Driver, type OfferDefinition, type PutRequest } from '../../contract.ts';

/**
 * A fault-injecting wrapper around a real driver, for tests. Faults are set per offer id and can
 * be switched at any time: `faulty.faults('offer-2').unavailable = true`.
 */
export interface Faults {
  /** isAvailable() answers false and every operation fails with UNAVAILABLE (retryable). */
  unavailable: boolean;
  /** Delay added before each operation and between chunks of a put, in ms. */
  slowMs: number;
  /** A put fails (retryable IO error) once this many bytes went through; null = never. */
  failAfterBytes: number | null;
  /** How many puts fail that way before puts work again (Infinity = all). */
  failTimes: number;
  /** Flip one byte of every put (the offer stores and reports the corrupted bytes). */
  corrupt: boolean;
  /** Store the bytes faithfully but report another digest (from put and digest()). */
  wrongDigest: boolean;
  /** The offer reports no room left and refuses puts with FULL. */
  full: boolean;
}

const noFaults = (): Faults => ({ unavailable: false, slowMs: 0, failAfterBytes: null, failTimes: Infinity, corrupt: false, wrongDigest: false, full: false });

export interface FaultyDriver extends Driver {
  /** The switchable faults of one offer. */
  faults(offerId: string): Faults;
  /** Puts attempted per offer (to see retries). */
  putAttempts(offerId: string): number;
  reset(): void;
}

const lie = (digest: string) => (digest[0] === '0' ? '1' : '0') + digest.slice(1);

/** Wraps `inner`; offers using the wrapper give the inner driver's parameters. */
export function createFaultyDriver(inner: Driver, name = 'faulty'): FaultyDriver {
  const table = new Map<string, Faults>();
  const attempts = new Map<string, number>();
  const faults = (offerId: string) => {
    let f = table.get(offerId);
    if (!f) table.set(offerId, (f = noFaults()));
    return f;
  };
  const gate = async (offer: OfferDefinition) => {
    const f = faults(offer.id);
    if (f.slowMs) await sleep(f.slowMs);
    if (f.unavailable) throw new StorageError('UNAVAILABLE', `offer ${offer.id} is unavailable (injected fault)`, true, offer.id);
  };

  const wrap = (conn: Connection): Connection => {
    const offer = conn.offer;
    const f = () => faults(offer.id);
    return {
      offer,
      async capacity() {
        await gate(offer);
        if (f().full) return { usableBytes: 0, totalBytes: (await conn.capacity()).totalBytes };
        return conn.capacity();
      },
      async put(request: PutRequest) {
        attempts.set(offer.id, (attempts.get(offer.id) ?? 0) + 1);
        try {
          await gate(offer);
        } catch (err) {
          request.body.destroy();
          throw err;
        }
        const faultsNow = f();
        if (faultsNow.full) {
          request.body.destroy();
          throw new StorageError('FULL', `offer ${offer.id} is full (injected fault)`, false, offer.id);
        }
        let body: Readable = request.body;
        const failAt = faultsNow.failAfterBytes !== null && faultsNow.failTimes > 0 ? faultsNow.failAfterBytes : null;
        if (failAt !== null) faultsNow.failTimes--;
        let seen = 0;
        let flipped = false;
        if (failAt !== null || faultsNow.corrupt || faultsNow.slowMs) {
          const slow = faultsNow.slowMs;
          const corrupt = faultsNow.corrupt;
          const t = new Transform({
            async transform(chunk: Buffer, _enc, done) {
              if (slow) await sleep(slow);
              seen += chunk.length;
              if (failAt !== null && seen >= failAt) {
                done(new StorageError('IO', `offer ${offer.id} failed after ${failAt} bytes (injected fault)`, true, offer.id));
                return;
              }
              if (corrupt && !flipped && chunk.length) {
                chunk = Buffer.from(chunk);
                chunk[0] ^= 0xff;
                flipped = true;
              }
              done(null, chunk);
            },
          });
          request.body.on('error', (err) => t.destroy(err));
          body = request.body.pipe(t);
        }
        // Bytes it alters are no longer the bytes the engine hashed: the inner driver must hash
        // what it stores, so that the corruption shows in the digest it reports.
        const sourceDigest = faultsNow.corrupt ? undefined : request.sourceDigest;
        let failure: unknown;
        body.on('error', (err) => (failure = err));
        try {
          const result = await conn.put({ ...request, body, sourceDigest, bytes: body === request.body ? request.bytes : undefined });
          if (failure) throw failure;
          return f().wrongDigest ? { ...result, digest: lie(result.digest) } : result;
        } catch (err) {
          throw failure instanceof StorageError ? failure : err;
        }
      },
      async get(container, id, range) {
        await gate(offer);
        return conn.get(container, id, range);
      },
      async exists(container, id) {
        await gate(offer);
        return conn.exists(container, id);
      },
      async digest(container, id, options) {
        await gate(offer);
        const d = await conn.digest(container, id, options);
        return d && f().wrongDigest ? lie(d) : d;
      },
      async remove(container, id) {
        await gate(offer);
        return conn.remove(container, id);
      },
      list: (container, options) => conn.list(container, options),
      writeLog: (options) => conn.writeLog(options),
      close: () => conn.close(),
    };
  };

  return {
    name,
    version: `${inner.version}+faulty`,
    capabilities: inner.capabilities,
    async isAvailable(offer) {
      const f = faults(offer.id);
      if (f.slowMs) await sleep(f.slowMs);
      return !f.unavailable && inner.isAvailable(offer);
    },
    async connect(offer) {
      await gate(offer);
      return wrap(await inner.connect(offer));
    },
    faults,
    putAttempts: (offerId) => attempts.get(offerId) ?? 0,
    reset() {
      table.clear();
      attempts.clear();
    },
  };
}
