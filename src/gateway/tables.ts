/** One tus upload, from creation to completion, termination or expiry. */
export interface GatewayUploadTable {
  id: string;
  /** The space that created it: only it (or an admin) may see it. */
  space: string;
  /** 1 when the `private` metadata is "true": linked into <space>/ instead of public/. */
  private: number;
  /** Declared length; null while deferred (or for a final upload whose parts are unfinished). */
  length: number | null;
  /** The last durable offset. */
  upload_offset: number;
  /** uploading | complete | terminated | expired */
  status: string;
  /** The Upload-Metadata header as received (empty when none). */
  metadata: string;
  /** null, 'partial', or 'final;<urls>' as received. */
  concat: string | null;
  /** JSON array of part ids of a final upload. */
  parts: string | null;
  digest_algorithm: string;
  digest: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  completed_at: string | null;
}

/** Tables owned by the gateway component (Kysely row types). */
export interface GatewayTables {
  gateway_upload: GatewayUploadTable;
}
