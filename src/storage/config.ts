import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { bytes, duration } from '../config/units.ts';
import type { DigestAlgorithm, OfferDefinition, OfferLimits } from './contract.ts';

/**
 * The storage referential (offers and strategies) and the engine settings (`storage:`).
 * The referential is checked as a whole when the configuration loads: an invalid one refuses to
 * load and the message names the fault (duplicate id, unknown offer, ranks not distinct…).
 */

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const idSchema = (what: string) => z.string().regex(ID, `${what} ids use letters, digits, '.', '_' and '-' (at most 64, not starting with a sign)`);

export const DIGEST_ALGORITHMS = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const;

const limitsSchema = z
  .object({
    /** Most open connections to the offer. */
    maxConnections: z.number().int().positive().default(16),
    /** Most operations in flight on the offer. */
    maxConcurrency: z.number().int().positive().default(16),
    /** Timeout floor of one operation; it grows with the size (size / minBytesPerSecond). */
    timeout: duration().default(60_000),
    /** Slowest throughput a big transfer may have before it times out. */
    minBytesPerSecond: bytes().default(1024 * 1024),
    /** Timeout of an availability or capacity check. */
    checkTimeout: duration().default(5_000),
    /** Attempts of an operation failing with a retryable error (1 = no retry). */
    maxAttempts: z.number().int().min(1).max(20).default(3),
  })
  .prefault({});

const offerSchema = z.object({
  id: idSchema('offer'),
  driver: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()).default({}),
  limits: limitsSchema,
});

const strategyOfferSchema = z.object({
  id: z.string().min(1),
  rank: z.number().int().nonnegative(),
  active: z.boolean().default(true),
  referent: z.boolean().default(false),
});

const strategySchema = z.object({
  id: idSchema('strategy'),
  offers: z.array(strategyOfferSchema).min(1, 'a strategy needs at least one offer'),
});

export const storageConfigSchema = z
  .object({
    /** The offers; none configured = the embedded default (two `fs` offers in the data folder). */
    offers: z.array(offerSchema).default([]),
    strategies: z.array(strategySchema).default([]),
    /** External drivers: driver name → module path (loaded at start-up; must export `driver`). */
    drivers: z.record(z.string(), z.string().min(1)).default({}),
    /**
     * The digest the engine computes of every object it stores. SHA-256 by default: as strong for
     * integrity as SHA-512, and about twice as fast on processors with SHA extensions (x86 SHA-NI,
     * ARMv8), so that hashing keeps pace with writing two copies; it is also the gateway's.
     * `sha512` follows Vitam's choice.
     */
    digestAlgorithm: z.enum(DIGEST_ALGORITHMS).default('sha256'),
    /** Bytes buffered per offer while fanning a write out (the slowest offer sets the pace). */
    fanoutBufferBytes: bytes().default(1024 * 1024),
    /** Objects of at least this size are hashed in a worker thread, beside the I/O (smaller: inline). */
    hashThreadMinBytes: bytes().default(8 * 1024 * 1024),
    /** How long an offer's availability/capacity answer is reused by writes (0 = check every write). */
    checkCacheTtl: duration().default(1_000),
    /** First delay between retries (doubles each attempt, with jitter). */
    retryBaseDelay: duration().default(200),
  })
  .superRefine((value, ctx) => {
    for (const fault of referentialFaults(value)) ctx.addIssue({ code: 'custom', message: fault });
  })
  .prefault({});

export type StorageConfig = z.output<typeof storageConfigSchema>;
export type StorageConfigInput = z.input<typeof storageConfigSchema>;

export interface StrategyOffer {
  id: string;
  rank: number;
  active: boolean;
  referent: boolean;
}

export interface Strategy {
  id: string;
  /** Sorted by rank. */
  offers: StrategyOffer[];
}

export interface Referential {
  offers: Map<string, OfferDefinition>;
  strategies: Map<string, Strategy>;
  digestAlgorithm: DigestAlgorithm;
}

/** Every fault of a referential, each naming what is wrong; empty when it is valid. */
export function referentialFaults(value: Pick<StorageConfig, 'offers' | 'strategies' | 'drivers'>): string[] {
  const faults: string[] = [];
  const offerIds = new Set<string>();
  for (const o of value.offers) {
    if (offerIds.has(o.id)) faults.push(`offer "${o.id}" is defined twice`);
    offerIds.add(o.id);
  }
  if (value.offers.length === 0 && value.strategies.length > 0) {
    faults.push('strategies are configured but no offers: define the offers they use');
  }
  if (value.offers.length > 0 && !value.strategies.some((s) => s.id === 'default')) {
    faults.push('the strategy "default" is required');
  }
  const strategyIds = new Set<string>();
  for (const s of value.strategies) {
    if (strategyIds.has(s.id)) faults.push(`strategy "${s.id}" is defined twice`);
    strategyIds.add(s.id);
    const seen = new Set<string>();
    const ranks = new Map<number, string>();
    for (const so of s.offers) {
      if (!offerIds.has(so.id) && value.offers.length > 0) faults.push(`strategy "${s.id}" uses unknown offer "${so.id}"`);
      if (seen.has(so.id)) faults.push(`strategy "${s.id}" lists offer "${so.id}" twice`);
      seen.add(so.id);
      const other = ranks.get(so.rank);
      if (other !== undefined) faults.push(`strategy "${s.id}": offers "${other}" and "${so.id}" have the same rank ${so.rank}`);
      ranks.set(so.rank, so.id);
    }
    const referents = s.offers.filter((o) => o.referent).map((o) => o.id);
    if (referents.length > 1) faults.push(`strategy "${s.id}" has ${referents.length} referent offers (${referents.join(', ')}); at most one`);
    if (!s.offers.some((o) => o.active)) faults.push(`strategy "${s.id}" has no active offer`);
  }
  for (const name of Object.keys(value.drivers)) {
    if (name === 'fs' || name === 's3' || name === 'swift') faults.push(`drivers.${name}: "${name}" is a built-in driver and cannot be replaced`);
  }
  return faults;
}

const toLimits = (l: StorageConfig['offers'][number]['limits']): OfferLimits => ({
  maxConnections: l.maxConnections,
  maxConcurrency: l.maxConcurrency,
  timeoutMs: l.timeout,
  minBytesPerSecond: l.minBytesPerSecond,
  checkTimeoutMs: l.checkTimeout,
  maxAttempts: l.maxAttempts,
});

export const DEFAULT_LIMITS: OfferLimits = toLimits(limitsSchema.parse({}));

/**
 * The referential the engine uses: the configured one, or the embedded default (strategy
 * `default` over two `fs` offers at <dataDir>/offers/offer-1 and offer-2). Relative `path`
 * parameters of `fs` offers are taken from the data folder.
 */
export function resolveReferential(storage: StorageConfig, dataDir: string): Referential {
  const faults = referentialFaults(storage);
  if (faults.length) throw new Error(`invalid storage referential: ${faults.join('; ')}`);
  const offers = new Map<string, OfferDefinition>();
  const strategies = new Map<string, Strategy>();
  if (storage.offers.length === 0) {
    for (const id of ['offer-1', 'offer-2']) {
      offers.set(id, { id, driver: 'fs', parameters: { path: join(dataDir, 'offers', id) }, limits: { ...DEFAULT_LIMITS } });
    }
    strategies.set('default', {
      id: 'default',
      offers: [
        { id: 'offer-1', rank: 1, active: true, referent: true },
        { id: 'offer-2', rank: 2, active: true, referent: false },
      ],
    });
  } else {
    for (const o of storage.offers) {
      const parameters = { ...o.parameters };
      if (o.driver === 'fs' && typeof parameters.path === 'string' && !isAbsolute(parameters.path)) {
        parameters.path = resolve(dataDir, parameters.path);
      }
      offers.set(o.id, { id: o.id, driver: o.driver, parameters, limits: toLimits(o.limits) });
    }
    for (const s of storage.strategies) {
      strategies.set(s.id, { id: s.id, offers: [...s.offers].sort((a, b) => a.rank - b.rank) });
    }
  }
  return { offers, strategies, digestAlgorithm: storage.digestAlgorithm };
}
