import { z } from 'zod';
import { duration } from '../config/units.ts';

/** Journal settings (`logbook:`). */
export const logbookConfigSchema = z
  .object({
    /** Language of the default message catalogue (outMessg). */
    language: z.enum(['fr', 'en']).default('fr'),
    /** Most events written in one INSERT statement (one transaction holds all pending batches). */
    batchSize: z.number().int().min(1).max(2000).default(500),
    /** How often `coffre serve` seals the journals (0 = never). */
    sealInterval: duration().default(24 * 3600 * 1000),
    /** Storage strategy that receives the journals and seal proofs. */
    strategy: z.string().min(1).default('default'),
    /** RFC 3161 time-stamping authority URL (optional): each seal root also gets its token; the
     *  Ed25519 instance signature is always made. */
    tsaUrl: z.string().url().optional(),
    /** Extra message catalogues (`.properties` files) consulted after the default one. */
    catalogues: z.array(z.string()).default([]),
    /** Rows read per page by seal, verify and export. */
    pageSize: z.number().int().min(100).max(100_000).default(10_000),
  })
  .prefault({});

export type LogbookConfig = z.output<typeof logbookConfigSchema>;
