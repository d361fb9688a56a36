import { z } from 'zod';
import { bytes, duration } from '../../../config/units.ts';
import { StorageError, type OfferDefinition } from '../../contract.ts';

const MiB = 2 ** 20;

/** The `parameters` of an `s3` offer. Secrets may be given inline or by the name of an env var. */
export const s3ParametersSchema = z
  .object({
    /** Service URL; omitted = AWS. */
    endpoint: z.string().url().optional(),
    region: z.string().min(1).default('us-east-1'),
    bucket: z.string().min(3).max(63),
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** Names of env vars holding the credentials (used when the values are not inline). */
    accessKeyIdEnv: z.string().min(1).default('S3_ACCESS_KEY_ID'),
    secretAccessKeyEnv: z.string().min(1).default('S3_SECRET_ACCESS_KEY'),
    forcePathStyle: z.boolean().default(false),
    /** Prepended to every key, so that several offers or instances can share one bucket. */
    prefix: z
      .string()
      .default('')
      .refine((p) => p === '' || (p.endsWith('/') && !p.startsWith('/')), 'prefix must be empty or end with "/" (and not start with one)'),
    /** Objects above this size go through a multipart upload with parts of this size (S3: ≥ 5 MiB). */
    partSize: bytes().default(8 * MiB).refine((n) => n >= 5 * MiB, 'partSize must be at least 5 MiB (S3 minimum part size)'),
    /** Parts in flight for one multipart upload (memory per upload ≈ partSize × queueSize). */
    queueSize: z.number().int().min(1).max(32).default(4),
    /** Bytes this offer may hold; capacity is unknown when absent. */
    quotaBytes: bytes().optional(),
    /** How long a usage total computed by listing is trusted (own writes are counted in between). */
    usageCacheTtl: duration().default(60_000),
    /** Create the bucket on connect when it does not exist. */
    createBucket: z.boolean().default(true),
    /** TCP connect timeout, and socket idle timeout of one request. */
    connectTimeout: duration().default(5_000),
    requestTimeout: duration().default(60_000),
    /** Keys per listing page. */
    pageSize: z.number().int().min(1).max(1000).default(1000),
  })
  .strict();

export type S3Parameters = z.infer<typeof s3ParametersSchema> & { accessKeyId?: string; secretAccessKey?: string };

export function parseS3Parameters(offer: OfferDefinition): S3Parameters {
  const parsed = s3ParametersSchema.safeParse(offer.parameters ?? {});
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(parameters)'}: ${i.message}`).join('; ');
    throw new StorageError('BAD_REQUEST', `offer ${offer.id}: invalid s3 parameters: ${detail}`, false, offer.id);
  }
  const p = parsed.data;
  const accessKeyId = p.accessKeyId ?? process.env[p.accessKeyIdEnv];
  const secretAccessKey = p.secretAccessKey ?? process.env[p.secretAccessKeyEnv];
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new StorageError(
      'BAD_REQUEST',
      `offer ${offer.id}: give both accessKeyId and secretAccessKey (inline or through ${p.accessKeyIdEnv}/${p.secretAccessKeyEnv}), or neither to use the SDK's default credentials`,
      false,
      offer.id,
    );
  }
  return { ...p, accessKeyId, secretAccessKey };
}
