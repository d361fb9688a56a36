import type { QueueTables } from '../queue/tables.ts';

/** One ingest (or other workflow) operation and where its workflow stands. */
export interface IngestOperationTable {
  id: string;
  workflow: string;
  /** RUNNING until the last step (FINALLY included) has ended, then DONE. */
  state: string;
  /** Worst status so far (UNKNOWN while nothing ended). */
  outcome: string;
  /** Index of the step to run (or resume). */
  step_index: number;
  /** 1 once a blocking step ended KO/FATAL: only FINALLY steps run from then on. */
  rejected: number;
  /** JSON: per-step state (started, status, counts, actions). */
  steps: string;
  /** JSON: operation parameters (package path, strategy, kind…). */
  params: string;
  deposit_id: string | null;
  submitter: string | null;
  space: string | null;
  /** JSON acknowledgement report (every package). */
  report: string | null;
  /** SEDA ArchiveTransferReply (SEDA packages). */
  reply_xml: string | null;
  created_at: string;
  updated_at: string;
}

/** Items of an operation a step is distributed over (units, object groups), in manifest order. */
export interface IngestItemTable {
  operation_id: string;
  kind: string;
  seq: number;
  item_id: string;
  /** JSON description of the item (for object groups: their objects). */
  data: string;
}

export interface ArchiveUnitTable {
  id: string;
  operation_id: string;
  parent_ids: string;
  title: string | null;
  metadata: string;
  created_at: string;
}

export interface ObjectGroupTable {
  id: string;
  operation_id: string;
  unit_ids: string;
  created_at: string;
}

export interface ArchiveObjectTable {
  id: string;
  operation_id: string;
  group_id: string;
  path: string | null;
  physical: number;
  size: number | null;
  digest: string | null;
  digest_algorithm: string | null;
  format_id: string | null;
  mime_type: string | null;
  strategy_id: string | null;
  /** 1 once every copy is verified (set by OBJ_STORAGE, read by ROLL_BACK and indexing). */
  stored: number;
  created_at: string;
}

export interface ObjectCopyTable {
  object_id: string;
  offer_id: string;
  digest: string | null;
  size: number | null;
  created_at: string;
}

/** Tables owned by the ingest component (Kysely row types); the queue's are composed here. */
export interface IngestTables extends QueueTables {
  ingest_operation: IngestOperationTable;
  ingest_item: IngestItemTable;
  archive_unit: ArchiveUnitTable;
  object_group: ObjectGroupTable;
  archive_object: ArchiveObjectTable;
  object_copy: ObjectCopyTable;
}
