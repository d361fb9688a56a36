import type { GatewayUploadTable } from '../tables.ts';
import { parseMetadataLenient } from './metadata.ts';

/**
 * The `.info` document next to each `.bin` (seed 002). It is replaced atomically on every
 * durable step, so a reader never sees half of it.
 */
export function infoDocument(row: GatewayUploadTable, extra: { binPath: string }) {
  return {
    id: row.id,
    size: row.length,
    sizeIsDeferred: row.length === null,
    offset: row.upload_offset,
    metadata: parseMetadataLenient(row.metadata),
    space: row.space,
    private: row.private === 1,
    status: row.status,
    isPartial: row.concat === 'partial',
    isFinal: row.concat?.startsWith('final;') ?? false,
    partialUploads: row.parts ? (JSON.parse(row.parts) as string[]) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    completedAt: row.completed_at,
    digest: row.digest ? { algorithm: row.digest_algorithm, value: row.digest } : null,
    storage: { type: 'coffre-staging', path: extra.binPath },
  };
}
