import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoffreDb } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import type { EventInput, LifecycleKind, Logbook, LogbookEvent, OperationStart, Status } from './api.ts';
import { STATUS_ORDER } from './api.ts';
import { canonicalJson } from './canonical.ts';
import type { LogbookConfig } from './config.ts';
import { defaultCatalogue, loadCatalogueFile, MessageCatalogues, type Catalogue } from './messages.ts';
import { INSERT_COLUMNS, rowHashHex, type TableName } from './rows.ts';
import { insertRows, isUniqueViolation, prepared } from '../db/batch-sql.ts';
import { exportOperation, flushExports } from './export.ts';
import { newEventId } from './eventid.ts';
import { DrainLoop } from '../platform/drain-loop.ts';

/** Extra, optional fields an event input may carry (not stored): placeholders and a plugin catalogue. */
export interface EventInputExtras {
  messageParams?: Record<string, string | number>;
  pluginCatalogue?: Catalogue;
}

export interface LogbookOptions {
  config: LogbookConfig;
  /** The storage engine, looked up when needed (it may start after the logbook). */
  storage?: () => StorageEngine | undefined;
  log?: Logger;
  /** agId of the events this process writes (default: host name). */
  agentId?: string;
}

type JobBase = { resolve(v: unknown): void; reject(e: unknown): void; error?: Error; result?: unknown };
type JobSpec =
  (
    | { t: 'start'; opId: string; start: OperationStart }
    | { t: 'op'; opId: string; events: EventInput[] }
    | { t: 'end'; opId: string; outcome: Status; event: Omit<EventInput, 'outcome'> }
    | { t: 'lfc'; opId: string; kind: LifecycleKind; lfcId: string; stepId: string; events: EventInput[] }
    | { t: 'step'; opId: string; stepId: string; action: 'COMMIT' | 'ROLLBACK'; reason: string | null }
  );
type Job = JobBase & JobSpec;

interface OpInfo {
  id: string;
  type: string;
  ev_type: string;
  request_id: string | null;
  application: string | null;
  status: string | null;
}

interface Head {
  idx: number;
  hash: Buffer;
  /** The same hash in hex, as the next event's canonical text quotes it. */
  hex: string;
}

const MAX_CACHED_HEADS = 200_000;
const MAX_CACHED_CODES = 1000;
const SQLITE_OPERATION =
  'select o.id, o.type, o.ev_type, o.request_id, o.application, e.status from logbook_operation o left join logbook_operation_end e on e.operation_id = o.id where o.id = ?';
const SQLITE_HEAD: Record<TableName, string> = {
  op: 'select idx, hash from logbook_op_event where operation_id = ? order by idx desc limit 1',
  step: 'select idx, hash from logbook_step where operation_id = ? order by idx desc limit 1',
  lfc: 'select idx, hash from logbook_lfc_event where lfc_kind = ? and lfc_id = ? order by idx desc limit 1',
};
const IN_CHUNK = 500;

class UserInputError extends Error {
  override name = 'LogbookInputError';
}

/**
 * The journals over the database. Calls are queued and every queue drain is one transaction:
 * concurrent callers (workers of one process) share a commit, and each INSERT carries up to
 * `batchSize` rows. Chain heads are cached; a unique (chain, idx) index turns a stale cache
 * (another process appended meanwhile) into a retry, never into a forked chain.
 */
export class SqlLogbook implements Logbook {
  readonly catalogues: MessageCatalogues;
  private readonly agentId: string;
  private queue: Job[] = [];
  /** Events in the queue (its jobs' sizes), to tell a full batch from a lone call. */
  private queuedEvents = 0;
  private readonly drains = new DrainLoop(() => this.drain(), () => this.queue.length > 0);
  private heads: Record<TableName, Map<string, Head>> = { op: new Map(), lfc: new Map(), step: new Map() };
  private exportsInFlight = new Set<Promise<unknown>>();
  private outDetails = new Map<string, Map<string, string>>();

  constructor(
    readonly cdb: CoffreDb,
    readonly options: LogbookOptions,
  ) {
    const cats = [defaultCatalogue(options.config.language), ...options.config.catalogues.map(loadCatalogueFile)];
    this.catalogues = new MessageCatalogues(cats);
    this.agentId = options.agentId ?? hostname();
  }

  get config(): LogbookConfig {
    return this.options.config;
  }

  storage(): StorageEngine | undefined {
    return this.options.storage?.();
  }

  message(code: string, params?: Record<string, string | number>, pluginCatalogue?: Map<string, string>): string {
    return this.catalogues.message(code, params, pluginCatalogue);
  }

  startOperation(start: OperationStart): Promise<string> {
    if (!start.type || !start.evType) return Promise.reject(new UserInputError('an operation needs a type and an evType'));
    const opId = start.id ?? randomUUID();
    return this.enqueue<string>({ t: 'start', opId, start });
  }

  appendOperation(operationId: string, events: EventInput[]): Promise<LogbookEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return this.enqueue<LogbookEvent[]>({ t: 'op', opId: operationId, events });
  }

  async endOperation(operationId: string, outcome: Status, event: Omit<EventInput, 'outcome'>): Promise<void> {
    if (!STATUS_ORDER.includes(outcome)) throw new UserInputError(`unknown status ${outcome}`);
    const n = await this.enqueue<number>({ t: 'end', opId: operationId, outcome, event });
    // The journal goes to the offers once the operation is closed, behind the caller: the end is
    // committed with a pending export row, so the copy is owed whatever happens (flushExports,
    // run at start-up and before every seal, writes what a failure or a crash left pending).
    // Why not wait: the copy of a 10,000-object ingest's journal (~100 MB) took ~5 s, which the
    // operation's end waited for with nothing left to do.
    const p = exportOperation(this, n, operationId)
      .catch((err) => this.options.log?.warn({ err, operationId }, 'journal not yet written to the offers; will retry'))
      .finally(() => this.exportsInFlight.delete(p));
    this.exportsInFlight.add(p);
  }

  // Not async: a worker appends a lifecycle per object, and an async wrapper around the queued
  // promise cost one more promise and turn per call (measured ~0.2 µs per event in bench journal).
  appendLifecycle(kind: LifecycleKind, lifecycleId: string, operationId: string, stepId: string, events: EventInput[]): Promise<void> {
    if (kind !== 'unit' && kind !== 'objectgroup') return Promise.reject(new UserInputError(`lifecycle kind must be unit or objectgroup, not ${kind}`));
    if (events.length === 0) return Promise.resolve();
    return this.enqueue<void>({ t: 'lfc', opId: operationId, kind, lfcId: lifecycleId, stepId, events });
  }

  async commitStep(operationId: string, stepId: string): Promise<void> {
    await this.enqueue({ t: 'step', opId: operationId, stepId, action: 'COMMIT', reason: null });
  }

  async rollbackStep(operationId: string, stepId: string, reason: string): Promise<void> {
    await this.enqueue({ t: 'step', opId: operationId, stepId, action: 'ROLLBACK', reason });
  }

  /** Writes every finished operation's journal still missing from the offers (after those under way). */
  async flushExports(): Promise<number> {
    await Promise.allSettled([...this.exportsInFlight]);
    return flushExports(this);
  }

  /** Waits for queued writes and journal exports. */
  async close(): Promise<void> {
    await this.drains.idle();
    await Promise.allSettled([...this.exportsInFlight]);
  }

  /** Forgets cached chain heads (after a rebuild or an outside change). */
  resetCache(): void {
    for (const m of Object.values(this.heads)) m.clear();
  }

  /** Queues a job (a fresh literal of the caller's, completed in place into a Job). */
  private enqueue<T>(spec: JobSpec): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = spec as Job;
      job.resolve = resolve as (v: unknown) => void;
      job.reject = reject;
      this.queue.push(job);
      this.queuedEvents += jobEvents(job);
      this.drains.kick();
    });
  }

  private async drain(): Promise<void> {
    // Let callers of this turn of the event loop join the first batch, unless a full batch is
    // already waiting (the wait would only add latency: measured 2 ms per batch under load).
    await Promise.resolve();
    if (this.queuedEvents < this.config.batchSize) await new Promise<void>((r) => setImmediate(r));
    while (this.queue.length) {
      const jobs = this.queue.splice(0, 1000);
      for (const j of jobs) this.queuedEvents -= jobEvents(j);
      await this.writeJobs(jobs);
    }
  }

  private async writeJobs(jobs: Job[]): Promise<void> {
    try {
      await this.flush(jobs);
      for (const j of jobs) (j.error ? j.reject(j.error) : j.resolve(j.result));
      return;
    } catch (err) {
      if (jobs.length === 1 && !isUniqueViolation(err)) return jobs[0].reject(err);
    }
    // One job may have spoiled the batch, or another process moved a chain head: retry alone.
    for (const job of jobs) {
      delete job.error;
      let lastErr: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          this.resetCache();
          await this.flush([job]);
          lastErr = undefined;
          break;
        } catch (err) {
          lastErr = err;
          if (!isUniqueViolation(err)) break;
        }
      }
      if (lastErr) job.reject(lastErr);
      else if (job.error) job.reject(job.error);
      else job.resolve(job.result);
    }
  }

  /** Writes a batch of jobs in one transaction. */
  private async flush(jobs: Job[]): Promise<void> {
    const { dialect } = this.cdb;
    const chunk = this.config.batchSize;
    const staged: Record<TableName, Map<string, Head>> = { op: new Map(), lfc: new Map(), step: new Map() };
    await this.cdb.db.transaction().execute(async (trx) => {
      const ops = await this.loadOperations(trx, [...new Set(jobs.map((j) => j.opId))]);
      // Heads not cached, fetched in bulk.
      const need: Record<TableName, Set<string>> = { op: new Set(), lfc: new Set(), step: new Set() };
      for (const j of jobs) {
        if ((j.t === 'op' || j.t === 'end') && ops.has(j.opId) && !this.heads.op.has(j.opId)) need.op.add(j.opId);
        if (j.t === 'step' && ops.has(j.opId) && !this.heads.step.has(j.opId)) need.step.add(j.opId);
        if (j.t === 'lfc' && !this.heads.lfc.has(`${j.kind}:${j.lfcId}`)) need.lfc.add(`${j.kind}:${j.lfcId}`);
      }
      const fetched = await this.loadHeads(trx, need);
      const head = (t: TableName, key: string): Head | undefined => staged[t].get(key) ?? this.heads[t].get(key) ?? fetched[t].get(key);

      const rows: Record<'operation' | 'end' | 'export' | TableName, Record<string, unknown>[]> = { operation: [], end: [], export: [], op: [], lfc: [], step: [] };
      let nextExport: number | undefined;
      const now = new Date().toISOString();
      // Links a row after head h of its chain; returns the new head.
      const link = (t: TableName, row: Record<string, unknown>, h: Head | undefined): Head => {
        const idx = h ? h.idx + 1 : 0;
        row.idx = idx;
        row.prev_hash = h ? h.hash : null;
        const hex = rowHashHex(t, row, h ? h.hex : null);
        const hash = Buffer.from(hex, 'hex');
        row.hash = hash;
        rows[t].push(row);
        return { idx, hash, hex };
      };
      const chainRow = (t: TableName, key: string, row: Record<string, unknown>) => {
        staged[t].set(key, link(t, row, head(t, key)));
        return row;
      };

      for (const j of jobs) {
        j.error = undefined;
        let op = ops.get(j.opId);
        if (j.t === 'start') {
          j.result = j.opId;
          if (op) continue; // replayed start: no-op
          const s = j.start;
          op = { id: j.opId, type: s.type, ev_type: s.evType, request_id: s.requestId ?? null, application: s.application ?? null, status: null };
          ops.set(j.opId, op);
          rows.operation.push({ id: op.id, type: op.type, ev_type: op.ev_type, started_at: now, request_id: op.request_id, application: op.application, ob_id: s.obId ?? null });
          this.heads.op.delete(j.opId);
          chainRow('op', j.opId, this.eventRow(op, { evType: s.evType, outcome: 'STARTED', obId: s.obId, evDetData: s.detail, evDateTime: now }));
          continue;
        }
        if (!op) {
          j.error = new UserInputError(`no operation ${j.opId} in the journal`);
          continue;
        }
        if (op.status) {
          j.error = new UserInputError(`operation ${j.opId} has ended (${op.status}); its journal is closed`);
          continue;
        }
        if (j.t === 'op') {
          j.result = j.events.map((e) => toEvent(chainRow('op', j.opId, this.eventRow(op, e))));
        } else if (j.t === 'lfc') {
          const key = `${j.kind}:${j.lfcId}`;
          let h = head('lfc', key);
          for (const e of j.events) h = link('lfc', this.eventRow(op, e, j), h);
          staged.lfc.set(key, h!);
        } else if (j.t === 'step') {
          chainRow('step', j.opId, { operation_id: j.opId, step_id: j.stepId, action: j.action, reason: j.reason, at: now });
        } else if (j.t === 'end') {
          const closing = chainRow('op', j.opId, this.eventRow(op, { ...j.event, evType: j.event.evType ?? op.ev_type, outcome: j.outcome }));
          op.status = j.outcome;
          rows.end.push({ operation_id: j.opId, status: j.outcome, ended_at: now, closing_ev_id: closing.ev_id });
          if (nextExport === undefined) {
            const r = await trx.selectFrom('logbook_export').select((eb) => eb.fn.max('n').as('m')).executeTakeFirst();
            nextExport = Number(r?.m ?? 0);
          }
          nextExport++;
          rows.export.push({ n: nextExport, operation_id: j.opId, created_at: now });
          j.result = nextExport;
        }
      }
      await insertRows(trx, this.cdb, 'logbook_operation', ['id', 'type', 'ev_type', 'started_at', 'request_id', 'application', 'ob_id'], rows.operation, { maxRowsPerStatement: chunk });
      await insertRows(trx, this.cdb, 'logbook_op_event', INSERT_COLUMNS.op, rows.op, { maxRowsPerStatement: chunk });
      await insertRows(trx, this.cdb, 'logbook_lfc_event', INSERT_COLUMNS.lfc, rows.lfc, { maxRowsPerStatement: chunk });
      await insertRows(trx, this.cdb, 'logbook_step', INSERT_COLUMNS.step, rows.step, { maxRowsPerStatement: chunk });
      await insertRows(trx, this.cdb, 'logbook_operation_end', ['operation_id', 'status', 'ended_at', 'closing_ev_id'], rows.end, { maxRowsPerStatement: chunk });
      await insertRows(trx, this.cdb, 'logbook_export', ['n', 'operation_id', 'created_at'], rows.export, { maxRowsPerStatement: chunk });
    });
    // Committed: the staged heads are now the truth.
    for (const t of ['op', 'lfc', 'step'] as TableName[]) {
      if (this.heads[t].size > MAX_CACHED_HEADS) this.heads[t].clear();
      for (const [k, v] of staged[t]) this.heads[t].set(k, v);
    }
  }

  private eventRow(op: OpInfo, e: EventInput, lfc?: { kind: string; lfcId: string; stepId: string }): Record<string, unknown> {
    const extras = e as EventInput & EventInputExtras;
    const outDetail = e.outDetail ?? this.outDetail(e.evType, e.outcome);
    let outMessg = e.outMessg;
    if (outMessg === undefined) {
      const det = e.evDetData;
      const params: Record<string, unknown> = det && typeof det === 'object' && !Array.isArray(det) ? { detail: '', ...(det as object), ...extras.messageParams } : { detail: '', ...extras.messageParams };
      outMessg = this.catalogues.message(outDetail, params, extras.pluginCatalogue).trimEnd();
    }
    // One literal with every column (lifecycle ones included) keeps a single object shape.
    return {
      idx: 0,
      ev_id: e.evId ?? newEventId(),
      ev_parent_id: e.evParentId ?? null,
      ev_type: e.evType,
      ev_date_time: e.evDateTime ?? new Date().toISOString(),
      operation_id: op.id,
      ev_type_proc: e.evTypeProc ?? op.type,
      outcome: e.outcome,
      out_detail: outDetail,
      out_messg: outMessg,
      ag_id: e.agId ?? this.agentId,
      ob_id: e.obId ?? null,
      ev_det_data: e.evDetData === undefined || e.evDetData === null ? null : canonicalJson(e.evDetData),
      ev_id_reqst: e.evIdReqst ?? op.request_id,
      ag_id_app: e.agIdApp ?? op.application,
      lfc_kind: lfc?.kind,
      lfc_id: lfc?.lfcId,
      step_id: lfc?.stepId,
      hash: null,
      prev_hash: null,
    };
  }

  /**
   * `${evType}.${outcome}`, the same string each time: a new string per event cost its building,
   * then hashing it again for each lookup of its cached bytes (eventbytes.ts).
   */
  private outDetail(evType: string, outcome: string): string {
    let byOutcome = this.outDetails.get(evType);
    if (!byOutcome) {
      if (this.outDetails.size >= MAX_CACHED_CODES) this.outDetails.clear();
      this.outDetails.set(evType, (byOutcome = new Map()));
    }
    let code = byOutcome.get(outcome);
    if (code === undefined) byOutcome.set(outcome, (code = `${evType}.${outcome}`));
    return code;
  }

  private async loadOperations(trx: CoffreDb['db'], ids: string[]): Promise<Map<string, OpInfo>> {
    const out = new Map<string, OpInfo>();
    if (this.cdb.sqlite) {
      // One cached statement, one index seek per id: cheaper than compiling an IN query per batch.
      const st = prepared(this.cdb, SQLITE_OPERATION);
      for (const id of ids) {
        const r = st.get(id) as OpInfo | undefined;
        if (r) out.set(r.id, r);
      }
      return out;
    }
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const rows = await trx
        .selectFrom('logbook_operation as o')
        .leftJoin('logbook_operation_end as e', 'e.operation_id', 'o.id')
        .select(['o.id', 'o.type', 'o.ev_type', 'o.request_id', 'o.application', 'e.status'])
        .where('o.id', 'in', ids.slice(i, i + IN_CHUNK))
        .execute();
      for (const r of rows) out.set(r.id, r as OpInfo);
    }
    return out;
  }

  private async loadHeads(trx: CoffreDb['db'], need: Record<TableName, Set<string>>): Promise<Record<TableName, Map<string, Head>>> {
    const out: Record<TableName, Map<string, Head>> = { op: new Map(), lfc: new Map(), step: new Map() };
    if (this.cdb.sqlite) {
      // Each head is the last entry of the unique (chain, idx) index: one seek with a cached statement.
      const found = (r: { idx: number; hash: Buffer } | undefined): Head | undefined =>
        r && { idx: Number(r.idx), hash: r.hash, hex: r.hash.toString('hex') };
      for (const t of ['op', 'step'] as const) {
        const st = prepared(this.cdb, SQLITE_HEAD[t]);
        for (const id of need[t]) {
          const h = found(st.get(id) as { idx: number; hash: Buffer } | undefined);
          if (h) out[t].set(id, h);
        }
      }
      const st = prepared(this.cdb, SQLITE_HEAD.lfc);
      for (const key of need.lfc) {
        const colon = key.indexOf(':');
        const h = found(st.get(key.slice(0, colon), key.slice(colon + 1)) as { idx: number; hash: Buffer } | undefined);
        if (h) out.lfc.set(key, h);
      }
      return out;
    }
    for (const t of ['op', 'step'] as const) {
      const ids = [...need[t]];
      const table = t === 'op' ? 'logbook_op_event' : 'logbook_step';
      for (let i = 0; i < ids.length; i += IN_CHUNK) {
        const rows = await trx
          .selectFrom(`${table} as e` as 'logbook_op_event as e')
          .innerJoin(
            (eb) =>
              eb
                .selectFrom(table as 'logbook_op_event')
                .select(['operation_id', (x) => x.fn.max('idx').as('m')])
                .where('operation_id', 'in', ids.slice(i, i + IN_CHUNK))
                .groupBy('operation_id')
                .as('h'),
            (j) => j.onRef('h.operation_id', '=', 'e.operation_id').onRef('h.m', '=', 'e.idx'),
          )
          .select(['e.operation_id', 'e.idx', 'e.hash'])
          .execute();
        for (const r of rows) out[t].set(r.operation_id, { idx: Number(r.idx), hash: r.hash, hex: Buffer.from(r.hash).toString('hex') });
      }
    }
    // Grouped by kind so that the lookup walks the (lfc_kind, lfc_id, idx) index.
    const byKind = new Map<string, string[]>();
    for (const k of need.lfc) {
      const kind = k.slice(0, k.indexOf(':'));
      let list = byKind.get(kind);
      if (!list) byKind.set(kind, (list = []));
      list.push(k.slice(kind.length + 1));
    }
    for (const [kind, all] of byKind) for (let i = 0; i < all.length; i += IN_CHUNK) {
      const ids = all.slice(i, i + IN_CHUNK);
      const rows = await trx
        .selectFrom('logbook_lfc_event as e')
        .innerJoin(
          (eb) =>
            eb
              .selectFrom('logbook_lfc_event')
              .select(['lfc_kind', 'lfc_id', (x) => x.fn.max('idx').as('m')])
              .where('lfc_kind', '=', kind)
              .where('lfc_id', 'in', ids)
              .groupBy(['lfc_kind', 'lfc_id'])
              .as('h'),
          (j) => j.onRef('h.lfc_kind', '=', 'e.lfc_kind').onRef('h.lfc_id', '=', 'e.lfc_id').onRef('h.m', '=', 'e.idx'),
        )
        .select(['e.lfc_kind', 'e.lfc_id', 'e.idx', 'e.hash'])
        .execute();
      for (const r of rows) out.lfc.set(`${r.lfc_kind}:${r.lfc_id}`, { idx: Number(r.idx), hash: r.hash, hex: Buffer.from(r.hash).toString('hex') });
    }
    return out;
  }
}

const jobEvents = (j: JobSpec): number => (j.t === 'lfc' || j.t === 'op' ? j.events.length : 1);

/** A stored row as the API's event. */
export function toEvent(row: Record<string, any>): LogbookEvent {
  return {
    evId: row.ev_id,
    evParentId: row.ev_parent_id,
    evType: row.ev_type,
    evDateTime: row.ev_date_time,
    evIdProc: row.operation_id,
    evTypeProc: row.ev_type_proc,
    outcome: row.outcome,
    outDetail: row.out_detail,
    outMessg: row.out_messg,
    agId: row.ag_id,
    obId: row.ob_id,
    evDetData: row.ev_det_data === null || row.ev_det_data === undefined ? null : JSON.parse(row.ev_det_data),
    evIdReqst: row.ev_id_reqst,
    agIdApp: row.ag_id_app,
  };
}
