/**
 * What other components (ingest, workers, storage audits) use of the journals. They get the
 * Logbook from `ctx.services.get('logbook')` (or `openLogbook(cdb, config)` in CLI commands) and
 * import only these types, through src/logbook/index.ts.
 */

/** Status order (DESIGN.md): aggregation keeps the worst. */
export const STATUS_ORDER = ['UNKNOWN', 'STARTED', 'ALREADY_EXECUTED', 'OK', 'WARNING', 'KO', 'FATAL'] as const;
export type Status = (typeof STATUS_ORDER)[number];

export const worstStatus = (a: Status, b: Status): Status =>
  STATUS_ORDER.indexOf(a) >= STATUS_ORDER.indexOf(b) ? a : b;

/** One journal event, with Vitam's field names. */
export interface LogbookEvent {
  evId: string;
  evParentId: string | null;
  evType: string;
  evDateTime: string;
  /** The operation (process) id. */
  evIdProc: string;
  /** The operation type: INGEST, AUDIT, TRACEABILITY, STORAGE… */
  evTypeProc: string;
  outcome: Status;
  /** e.g. `CHECK_DIGEST.OK`, `LFC.CHECK_DIGEST.CALC_CHECK.OK`. */
  outDetail: string;
  /** Human message from the catalogues. */
  outMessg: string;
  /** The agent (server / worker) that wrote it. */
  agId: string;
  /** The object of the event (unit, object group, object id), when there is one. */
  obId: string | null;
  /** Free JSON detail. */
  evDetData: unknown;
  /** The request that caused it. */
  evIdReqst: string | null;
  /** The acting application or user (token subject). */
  agIdApp: string | null;
}

/** What a caller gives; ids and times are filled in by the logbook when absent. */
export type EventInput = Partial<LogbookEvent> & Pick<LogbookEvent, 'evType' | 'outcome'>;

export interface OperationStart {
  /** Provide to make the call idempotent (a replayed start with the same id is a no-op). */
  id?: string;
  type: string; // INGEST, AUDIT, TRACEABILITY…
  evType: string; // e.g. PROCESS_SIP_UNITARY
  requestId?: string;
  application?: string;
  obId?: string;
  detail?: unknown;
}

export type LifecycleKind = 'unit' | 'objectgroup';

export interface Logbook {
  /** Opens an operation and writes its STARTED event; returns its id. */
  startOperation(start: OperationStart): Promise<string>;
  /** Appends events to an operation's journal (batched; order kept). */
  appendOperation(operationId: string, events: EventInput[]): Promise<LogbookEvent[]>;
  /**
   * Writes the operation's closing event and marks it finished with its final status. Its journal
   * is then written to the offers in the background (close() and seals wait for it).
   */
  endOperation(operationId: string, outcome: Status, event: Omit<EventInput, 'outcome'>): Promise<void>;
  /**
   * Appends lifecycle events of a unit or an object group, written during a step: pending until
   * commitStep, kept (marked as undone) after rollbackStep — never dropped.
   */
  appendLifecycle(kind: LifecycleKind, lifecycleId: string, operationId: string, stepId: string, events: EventInput[]): Promise<void>;
  commitStep(operationId: string, stepId: string): Promise<void>;
  rollbackStep(operationId: string, stepId: string, reason: string): Promise<void>;
  /** Message for a code from the catalogues (default, then the given plugin catalogue), placeholders filled. */
  message(code: string, params?: Record<string, string | number>, pluginCatalogue?: Map<string, string>): string;
}
