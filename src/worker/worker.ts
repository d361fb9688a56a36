import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoffreDb } from '../db/index.ts';
import type { Logbook, Status, EventInput } from '../logbook/api.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import type { Logger } from '../log/index.ts';
import type { CoffreConfig } from '../config/index.ts';
import type { JobQueue, Job } from '../queue/index.ts';
import type { Workspaces } from '../workspace/index.ts';
import type { BatchRowWrites, HandlerIO, ItemStatus, RowOp, RowWrites, WorkItem } from '../plugins/api.ts';
import { PluginRegistry } from '../plugins/registry.ts';
import { isStatus, addStatus, isFailure, worstOf, type ActionResult } from './status.ts';
import { lifecycleEvents } from './lifecycle.ts';
import { RowWriter } from '../db/row-writer.ts';
import { forEachLimit } from './limit.ts';

export { forEachLimit } from './limit.ts';
import type { WorkflowRegistry, WorkflowAction } from '../ingest/workflow/definition.ts';

export const WORKFLOW_QUEUE = 'workflow';

/** One batch of one step: the job payload the coordinator enqueues. */
export interface BatchPayload {
  operationId: string;
  workflowId: string;
  stepIndex: number;
  step: string;
  batch: number;
  /** Item sequence numbers, inclusive (REF distributions: 0..0, the operation itself). */
  from: number;
  to: number;
}

export interface ItemFailure {
  itemId: string;
  action: string;
  status: Status;
  message: string;
}

export interface BatchResult {
  status: Status;
  actions: Record<string, ActionResult>;
  /** Items that ended KO/FATAL (at most `maxFailuresReported` per batch), for the report. */
  failures: ItemFailure[];
}

export interface WorkerDeps {
  cdb: CoffreDb;
  queue: JobQueue;
  logbook: Logbook;
  storage?: StorageEngine;
  plugins: PluginRegistry;
  workflows: WorkflowRegistry;
  workspaces: Workspaces;
  log: Logger;
  itemConcurrency: number;
  maxAttempts: number;
  config?: CoffreConfig;
  /** Coalesced row writes shared by the workers of a process (one is made when absent). */
  rows?: RowWrites;
}

const MAX_FAILURES_REPORTED = 50;

/** Runs batches of workflow steps: leases a job, calls the plugins on its items, records the result. */
export class Worker {
  readonly id: string;
  private readonly rows: RowWrites;

  constructor(private readonly deps: WorkerDeps, id?: string) {
    this.id = id ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.rows = deps.rows ?? new RowWriter(deps.cdb);
  }

  /** Leases and runs jobs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { queue, log } = this.deps;
    while (!signal.aborted) {
      let job: Job<BatchPayload> | undefined;
      try {
        job = await queue.lease<BatchPayload>(WORKFLOW_QUEUE, this.id);
      } catch (err) {
        log.error({ err }, 'leasing a job failed; retrying');
      }
      if (!job) {
        await queue.wait(undefined, signal);
        continue;
      }
      await this.runLeased(job);
    }
  }

  /** Runs one leased job, renewing its lease meanwhile, and records its result. */
  async runLeased(job: Job<BatchPayload>): Promise<void> {
    const { queue, log } = this.deps;
    const renew = setInterval(() => {
      queue.renew(job).then((ok) => ok || log.warn({ job: job.key }, 'lease lost; another worker runs this job'), () => {});
    }, Math.max(200, queue.options.leaseTtlMs / 3));
    renew.unref();
    try {
      let result: BatchResult;
      if (job.attempts > this.deps.maxAttempts) {
        result = { status: 'FATAL', actions: {}, failures: [{ itemId: job.payload.operationId, action: job.payload.step, status: 'FATAL', message: `batch abandoned after ${job.attempts - 1} attempts` }] };
      } else {
        result = await this.runBatch(job.payload);
      }
      await queue.complete(job, result);
    } catch (err) {
      // An infrastructure failure (database gone…): leave the job to be leased again.
      log.error({ err, job: job.key }, 'job failed; it will be retried');
      await queue.release(job).catch(() => {});
    } finally {
      clearInterval(renew);
    }
  }

  async runBatch(p: BatchPayload): Promise<BatchResult> {
    const { cdb } = this.deps;
    const op = await cdb.db.selectFrom('ingest_operation').select(['params', 'rejected', 'workflow']).where('id', '=', p.operationId).executeTakeFirst();
    if (!op) throw new Error(`operation ${p.operationId} not found`);
    const workflow = this.deps.workflows.get(p.workflowId);
    const step = workflow.steps[p.stepIndex];
    if (!step || step.name !== p.step) throw new Error(`workflow ${p.workflowId} has no step ${p.step} at ${p.stepIndex}`);
    const params = { ...JSON.parse(op.params), rejected: op.rejected === 1 };
    let items: WorkItem[];
    if (step.distribution.kind === 'REF') {
      items = [{ kind: 'operation', id: p.operationId, seq: 0, data: {} }];
    } else {
      const rows = await cdb.db
        .selectFrom('ingest_item')
        .selectAll()
        .where('operation_id', '=', p.operationId)
        .where('kind', '=', step.distribution.items)
        .where('seq', '>=', p.from)
        .where('seq', '<=', p.to)
        .orderBy('seq')
        .execute();
      items = rows.map((r) => ({ kind: r.kind as WorkItem['kind'], id: r.item_id, seq: Number(r.seq), data: JSON.parse(r.data) }));
    }
    const actions: Record<string, ActionResult> = {};
    const failures: ItemFailure[] = [];
    // Rows the calls leave for the batch's end are written in one go before it is recorded done.
    const atBatchEnd: RowOp[] = [];
    const rows: BatchRowWrites = { write: (ops) => this.rows.write(ops), atBatchEnd: (ops) => void atBatchEnd.push(...ops) };
    // What a call's handler I/O shares with the other calls of the batch is made once.
    const contexts = step.actions.map((action) => this.callContext(p, action, params, rows));
    const runItem = async (item: WorkItem) => {
      for (const ctx of contexts) {
        const { action } = ctx;
        const r = await this.callPlugin(ctx, item);
        const into = addStatus(actions[action.name], r.globalStatus);
        if (step.distribution.kind === 'REF') {
          into.params = r.params;
          into.detail = r.detail;
        }
        actions[action.name] = into;
        if (isFailure(r.globalStatus)) {
          if (failures.length < MAX_FAILURES_REPORTED) {
            failures.push({ itemId: item.data?.manifestId ?? item.id, action: action.name, status: r.globalStatus, message: String(r.params?.reason ?? r.params?.message ?? '') });
          }
          if (action.behavior === 'BLOCKING') break;
        }
      }
    };
    const concurrency = step.distribution.kind === 'LIST' ? step.distribution.concurrency ?? this.deps.itemConcurrency : 1;
    await forEachLimit(items, concurrency, runItem);
    await this.rows.write(atBatchEnd);
    return { status: worstOf(Object.values(actions).map((a) => a.status)), actions, failures };
  }

  /** The handler I/O of one action in one batch, without its item. */
  private callContext(p: BatchPayload, action: WorkflowAction, params: Record<string, unknown>, rows: BatchRowWrites): CallContext {
    const { plugins, logbook, workspaces, cdb, storage, log } = this.deps;
    const entry = plugins.get(action.name);
    if (!entry) throw new Error(`no plugin handles action ${action.name}`);
    const ws = workspaces.open(p.operationId);
    // Catalogue messages read `{detail}`: our plugins give their explanation as `reason`.
    const message = (code: string, mp?: Record<string, string | number>) => logbook.message(code, { detail: mp?.reason ?? '', ...mp }, entry.catalogue);
    const firstMessage = (codes: string[], mp?: Record<string, string | number>) => {
      for (const code of codes) {
        const m = message(code, mp);
        if (m && m !== code) return m;
      }
      return codes[codes.length - 1];
    };
    const io: Omit<HandlerIO, 'item'> = {
      operationId: p.operationId,
      workflowId: p.workflowId,
      step: p.step,
      action: action.name,
      parameters: Object.freeze({ ...params, ...action.parameters }),
      workspace: {
        path: (rel) => ws.resolve(rel),
        openRead: (rel) => ws.openRead(rel),
        size: (rel) => ws.size(rel),
        locate: (rel) => ws.locate(rel),
        read: (rel) => ws.readBytes(rel),
      },
      output: {
        write: async (name, data) => void (await ws.writeOutput(name, data)),
        read: async (name) => (await ws.readOutput(name))?.toString('utf8'),
      },
      journal: async (events: EventInput[]) => void (await logbook.appendOperation(p.operationId, events.map((e) => ({ agId: this.id, ...e })))),
      lifecycle: (kind, id, events) => logbook.appendLifecycle(kind, id, p.operationId, p.step, events.map((e) => ({ agId: this.id, ...e }))),
      message,
      services: { cdb, logbook, storage, workspaces, config: this.deps.config, rows },
      log,
    };
    return { p, action, io, firstMessage };
  }

  /** One plugin call: a fresh instance (seed 004), its item status, its lifecycle events. */
  private async callPlugin({ p, action, io: shared, firstMessage }: CallContext, item: WorkItem): Promise<ItemStatus> {
    const { plugins, logbook, log } = this.deps;
    const { plugin } = plugins.create(action.name);
    const io: HandlerIO = { ...shared, item };
    let result: ItemStatus;
    try {
      result = await plugin.execute(io);
      if (!result || !isStatus(result.globalStatus)) {
        result = { globalStatus: 'FATAL', params: { reason: `plugin ${action.name} returned no valid item status` } };
      }
    } catch (err) {
      log.error({ err, action: action.name, item: item.id }, 'plugin failed');
      result = { globalStatus: 'FATAL', params: { reason: `plugin ${action.name} failed: ${(err as Error).message}` } };
    }
    if (action.lifecycle && (item.kind === 'objectgroup' || item.kind === 'unit')) {
      await logbook.appendLifecycle(item.kind, item.id, p.operationId, p.step,
        lifecycleEvents(action.name, result, firstMessage, item.id).map((e) => ({ agId: this.id, ...e })));
    }
    return result;
  }
}

interface CallContext {
  p: BatchPayload;
  action: WorkflowAction;
  io: Omit<HandlerIO, 'item'>;
  firstMessage(codes: string[], params?: Record<string, string | number>): string;
}

/** A pool of in-process workers (what `coffre serve` and `coffre worker` run). */
export class WorkerPool {
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];

  private readonly deps: WorkerDeps;

  constructor(deps: WorkerDeps, private readonly size: number) {
    // One writer for the whole pool: the rows of every worker's items share commits.
    this.deps = { ...deps, rows: deps.rows ?? new RowWriter(deps.cdb) };
  }

  start(): void {
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(this.deps);
      this.running.push(w.run(this.abort.signal).catch((err) => this.deps.log.error({ err }, 'worker stopped on an error')));
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.running);
    this.running = [];
  }
}
