import { z } from 'zod';
import { bytes, duration } from '../config/units.ts';

/** A POSIX mode written as a number (0o770 = 504) or as octal text ("0770", "770"). */
const mode = (fallback: number) =>
  z
    .union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'a mode is octal text like "0770"')])
    .default(fallback)
    .transform((v) => (typeof v === 'number' ? v : parseInt(v, 8)));

/** A POSIX user or group: a name from /etc/passwd or /etc/group, or a numeric id. */
const posixId = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const digestAlgorithms = ['sha256', 'sha512', 'sha1', 'md5'] as const;

/** The gateway's section of the configuration (`gateway:`). */
export const gatewayConfigSchema = z
  .object({
    /** Serve tus at all (a node may run workers only). */
    enabled: z.boolean().default(true),
    /** Root of the staging layout (tusd/, public/, <space>/); default <dataDir>/staging. */
    stagingDir: z.string().optional(),
    /** Largest upload accepted (Tus-Max-Size; 413 beyond). */
    maxUploadSize: bytes().default(64 * 2 ** 30),
    /** Largest Upload-Metadata header accepted, in bytes. */
    maxMetadataSize: bytes().default(16 * 1024),
    /** Most partial uploads one final upload may concatenate. */
    maxConcatParts: z.number().int().positive().default(1000),
    /** Bytes a space may hold in staging (declared lengths of live and completed uploads). */
    spaceQuota: bytes().default(2 ** 40),
    /** Per-space overrides of spaceQuota. */
    quotas: z.record(z.string(), bytes()).default({}),
    /** An unfinished upload expires this long after its last write (then 410). */
    expireAfter: duration().default(7 * 86_400_000),
    /** How often the cleaner removes expired unfinished uploads. */
    cleanerInterval: duration().default(3_600_000),
    /** Whole-file digest computed while receiving and written to .info and deposit.completed. */
    digestAlgorithm: z.enum(digestAlgorithms).default('sha256'),
    /**
     * A body thread (worker) that writes PATCH bodies and hashes them (SHA-256 of every byte)
     * when more than one body arrives at a time: one body is written and hashed on the event
     * loop (synchronous writes, no hand-off: the cheapest), the others in the thread, where the
     * socket's chunks are moved (not copied) and batched, so that the event loop only parses
     * HTTP. The thread also rebuilds digests after a restart. false: everything on the event loop
     * (a rebuild reads 4 MiB per turn). Digests are the same either way (bench/upload.ts).
     */
    hashWorker: z.boolean().default(true),
    /**
     * Bytes of one PATCH body held in memory (handed to the writer, not yet in the file) before
     * its socket pauses; memory for bodies is about this x concurrent uploads.
     */
    writeBuffer: bytes().default(256 * 1024),
    /**
     * Unless fsync is 'never', flush received bytes to disk this often during a PATCH, in the
     * background while the body keeps arriving: the flush before completion then only has the
     * tail to write, and the disk works while the network does.
     */
    syncBytes: bytes().default(8 * 2 ** 20),
    /** During a long PATCH, make the received bytes durable (and visible to HEAD) this often. */
    checkpointBytes: bytes().default(64 * 2 ** 20),
    /**
     * When received bytes are fsynced: 'completion' (at every checkpoint, in the background
     * while the body keeps arriving, and before an upload is announced complete: what
     * deposit.completed promises survives a power loss, and so do checkpointed offsets),
     * 'always' (also at every PATCH end), 'never'. The .info file and directories are always
     * replaced with fsync.
     */
    fsync: z.enum(['completion', 'always', 'never']).default('completion'),
    dirMode: mode(0o770),
    fileMode: mode(0o660),
    /** Space → POSIX owner, applied with chown when running as root (seed 002's layout). */
    owners: z.record(z.string(), z.object({ user: posixId, group: posixId.optional() })).default({}),
    /** Group of public files (seed 002: `users`); default the owner's group. */
    publicGroup: posixId.optional(),
    /** Lease on an upload while a request writes it (renewed; expires if the node dies). */
    lockTtl: duration().default(30_000),
    /** How long a PATCH waits for another request on the same upload before 423. */
    lockWait: duration().default(10_000),
    /** Identifies this node's leases; a restarted node takes back its own stale leases. */
    nodeId: z.string().min(1).optional(),
    /** Origins allowed by CORS ("*" for any). */
    corsOrigins: z.array(z.string()).default(['*']),
  })
  .prefault({});

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
