import { z } from 'zod';
import { bytes, duration } from '../../../config/units.ts';
import { StorageError, type OfferDefinition } from '../../contract.ts';

const MiB = 2 ** 20;

/** The `parameters` of a `swift` offer. Secrets may be given inline or by the name of an env var. */
export const swiftParametersSchema = z
  .object({
    /** tempauth: http://host:8080/auth/v1.0; Keystone: https://keystone/v3 */
    authUrl: z.string().url(),
    /** '1' = tempauth/swauth (X-Auth-User/X-Auth-Key), '3' = Keystone v3 password; default from the URL (…/v3 → 3). */
    authVersion: z.enum(['1', '3']).optional(),
    // v1
    user: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    userEnv: z.string().min(1).default('SWIFT_USER'),
    keyEnv: z.string().min(1).default('SWIFT_KEY'),
    // v3
    username: z.string().min(1).optional(),
    userId: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).default('OS_PASSWORD'),
    userDomainName: z.string().min(1).default('Default'),
    userDomainId: z.string().min(1).optional(),
    projectName: z.string().min(1).optional(),
    projectId: z.string().min(1).optional(),
    projectDomainName: z.string().min(1).default('Default'),
    projectDomainId: z.string().min(1).optional(),
    /** Catalog endpoint choice (v3). */
    region: z.string().min(1).optional(),
    interface: z.enum(['public', 'internal', 'admin']).default('public'),
    /** Overrides the storage URL the auth service returns. */
    storageUrl: z.string().url().optional(),
    /** Coffre container `c` is the Swift container `<containerPrefix>c`. */
    containerPrefix: z.string().regex(/^[A-Za-z0-9_.-]*$/, 'containerPrefix: letters, digits, "_", "." or "-"').default(''),
    /** Segments of a large object go to `<container><segmentContainerSuffix>`. */
    segmentContainerSuffix: z.string().regex(/^[A-Za-z0-9_.+-]+$/).default('_segments'),
    /** Objects above this size are written as a static large object (segments + manifest). */
    largeObjectThreshold: bytes().default(512 * MiB).refine((n) => n <= 5 * 1024 * MiB, 'largeObjectThreshold must be at most 5 GiB (the largest plain object Swift accepts by default)'),
    /** Size of each segment (Swift refuses segments under 1 MiB but the last; at most 1000 per manifest, grown if needed). */
    segmentSize: bytes().default(128 * MiB).refine((n) => n >= MiB, 'segmentSize must be at least 1 MiB'),
    /** Objects per listing page. */
    pageSize: z.number().int().min(1).max(10_000).default(1000),
    /** Renew the token this long before it expires. */
    tokenRenewMargin: duration().default(60_000),
    /** Create containers on first write. */
    createContainers: z.boolean().default(true),
    connectTimeout: duration().default(5_000),
    /** Socket idle timeout of one request. */
    requestTimeout: duration().default(60_000),
  })
  .strict();

export type SwiftParameters = z.infer<typeof swiftParametersSchema> & { authVersion: '1' | '3' };

export function parseSwiftParameters(offer: OfferDefinition): SwiftParameters {
  const parsed = swiftParametersSchema.safeParse(offer.parameters ?? {});
  const bad = (detail: string) => new StorageError('BAD_REQUEST', `offer ${offer.id}: invalid swift parameters: ${detail}`, false, offer.id);
  if (!parsed.success) {
    throw bad(parsed.error.issues.map((i) => `${i.path.join('.') || '(parameters)'}: ${i.message}`).join('; '));
  }
  const p = parsed.data;
  const authVersion = p.authVersion ?? (/\/v3\/?$/.test(new URL(p.authUrl).pathname) ? '3' : '1');
  if (authVersion === '1') {
    const user = p.user ?? process.env[p.userEnv];
    const key = p.key ?? process.env[p.keyEnv];
    if (!user || !key) throw bad(`tempauth needs user and key (inline, or in ${p.userEnv}/${p.keyEnv})`);
    return { ...p, authVersion, user, key };
  }
  const password = p.password ?? process.env[p.passwordEnv];
  if (!(p.username || p.userId) || !password) throw bad(`Keystone v3 needs username (or userId) and password (inline, or in ${p.passwordEnv})`);
  if (!(p.projectName || p.projectId)) throw bad('Keystone v3 needs projectName or projectId');
  return { ...p, authVersion, password };
}
