/**
 * Tables owned by the logbook component (Kysely row types). Every event table is append-only:
 * no code path updates or deletes a row. Each event carries `hash` (SHA-256 of its canonical
 * JSON, which includes `prev_hash`) and `prev_hash` (the hash of the event before it in the
 * same chain): one chain per operation, one per lifecycle, one per operation's step records.
 */

/** One row per operation, written once when it starts. */
export interface LogbookOperationTable {
  id: string;
  type: string;
  ev_type: string;
  started_at: string;
  request_id: string | null;
  application: string | null;
  ob_id: string | null;
}

/** The operation's final status, written once when it ends (its closing event is in the chain). */
export interface LogbookOperationEndTable {
  operation_id: string;
  status: string;
  ended_at: string;
  /** evId of the closing event: the last of the operation's chain. */
  closing_ev_id: string;
}

/** Columns every journal event shares (Vitam's names in snake case). */
export interface EventColumns {
  seq: number;
  idx: number;
  ev_id: string;
  ev_parent_id: string | null;
  ev_type: string;
  ev_date_time: string;
  operation_id: string;
  ev_type_proc: string;
  outcome: string;
  out_detail: string;
  out_messg: string;
  ag_id: string;
  ob_id: string | null;
  /** Canonical JSON (or null). */
  ev_det_data: string | null;
  ev_id_reqst: string | null;
  ag_id_app: string | null;
  /** SHA-256, 32 bytes. */
  hash: Buffer;
  prev_hash: Buffer | null;
}

/** Operation journal events; chain = operation_id, ordered by idx. */
export type LogbookOpEventTable = EventColumns;

/** Lifecycle events; chain = (lfc_kind, lfc_id), ordered by idx. */
export interface LogbookLfcEventTable extends EventColumns {
  lfc_kind: string;
  lfc_id: string;
  step_id: string;
}

/** Step commit / rollback records; chain = operation_id, ordered by idx. */
export interface LogbookStepTable {
  seq: number;
  idx: number;
  operation_id: string;
  step_id: string;
  action: string; // COMMIT | ROLLBACK
  reason: string | null;
  at: string;
  hash: Buffer;
  prev_hash: Buffer | null;
}

/** One row per traceability seal. */
export interface LogbookSealTable {
  n: number;
  operation_id: string;
  created_at: string;
  /** JSON: {op:[from,to], lfc:[from,to], step:[from,to]} (from exclusive, to inclusive). */
  ranges: string;
  leaf_count: number;
  merkle_root: string;
  prev_seal_root: string | null;
  month_seal_root: string | null;
  year_seal_root: string | null;
  seal_root: string;
  signature: string;
  proof_id: string;
  proof_size: number;
  tsa_token: string | null;
}

/** Finished operations in export order: journal n goes to `logbooks/journal-<n>`. */
export interface LogbookExportTable {
  n: number;
  operation_id: string;
  created_at: string;
}

/** Exports whose copy the offers confirmed. */
export interface LogbookExportDoneTable {
  n: number;
  digest: string;
  written_at: string;
}

export interface LogbookTables {
  logbook_operation: LogbookOperationTable;
  logbook_operation_end: LogbookOperationEndTable;
  logbook_op_event: LogbookOpEventTable;
  logbook_lfc_event: LogbookLfcEventTable;
  logbook_step: LogbookStepTable;
  logbook_seal: LogbookSealTable;
  logbook_export: LogbookExportTable;
  logbook_export_done: LogbookExportDoneTable;
}
