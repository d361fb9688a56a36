import { z } from 'zod';
import { bytes } from '../config/units.ts';

/**
 * Limits enforced while an archive streams into the workspace. They count the bytes actually
 * written, never the sizes an archive header claims.
 */
export const unpackLimitsSchema = z
  .object({
    /** Entries (files and folders) in one package. */
    maxEntries: z.number().int().positive().default(100_000),
    /** Sum of the uncompressed sizes of every file. */
    maxTotalSize: bytes().default(16 * 2 ** 30),
    /** Uncompressed size of one file. */
    maxEntrySize: bytes().default(8 * 2 ** 30),
    /** Uncompressed / compressed bytes for one zip entry (checked past `ratioThreshold`). */
    maxEntryRatio: z.number().positive().default(100),
    /** Uncompressed bytes / package file size (checked past `ratioThreshold`). */
    maxTotalRatio: z.number().positive().default(100),
    /** Below this many uncompressed bytes a ratio is not judged (small files compress well). */
    ratioThreshold: bytes().default(2 ** 20),
    /** Bytes of a whole entry name (UTF-8). */
    maxNameLength: z.number().int().positive().default(1024),
    /** Bytes of one path segment (UTF-8); 255 is what most filesystems allow. */
    maxSegmentLength: z.number().int().positive().default(255),
    /** Path segments in one name (`a/b/c` is 3). */
    maxDepth: z.number().int().positive().default(32),
  })
  .strict();

export type UnpackLimits = z.output<typeof unpackLimitsSchema>;
export const DEFAULT_UNPACK_LIMITS: UnpackLimits = unpackLimitsSchema.parse({});

/** The `workspace:` configuration section. */
export const workspaceConfigSchema = z
  .object({
    /** Root of the per-operation workspaces; empty means <dataDir>/workspace. */
    root: z.string().optional(),
    /**
     * fsync every unpacked file before the workspace is published. Off by default: a kill -9
     * keeps the page cache, and every later step re-digests what it reads from the workspace.
     */
    fsync: z.boolean().default(false),
    /**
     * STORED (uncompressed) zip entries stay in the package: they are read once by range to be
     * checked and digested, and later steps read them by range, instead of being copied into
     * the workspace (bytes cross the disk once less; no file per entry). False copies them all.
     */
    keepStoredEntries: z.boolean().default(true),
    /** Only STORED entries at least this large stay in the package (smaller ones are copied). */
    inPackageMinSize: bytes().default(0),
    unpack: unpackLimitsSchema.prefault({}),
  })
  .prefault({});

export type WorkspaceConfig = z.output<typeof workspaceConfigSchema>;
