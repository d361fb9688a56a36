import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { CoffreDb, Database } from '../../db/index.ts';
import { nowIso, tryAcquireLock, releaseLock } from '../../db/index.ts';
import { publish } from '../../bus/index.ts';
import type { Logbook, Status } from '../../logbook/api.ts';
import { worstStatus } from '../../logbook/api.ts';
import type { Logger } from '../../log/index.ts';
import type { JobQueue } from '../../queue/index.ts';
import { WORKFLOW_QUEUE, type BatchPayload, type BatchResult, type ItemFailure } from '../../worker/worker.ts';
import { isFailure, mergeResults, worstOf, type ActionResult } from '../../worker/status.ts';
import type { WorkflowRegistry, WorkflowStep } from './definition.ts';
import type { PluginRegistry } from '../../plugins/registry.ts';

/** Where one step stands, persisted with the operation (so that a restart resumes it). */
export interface StepState {
  name: string;
  behavior: string;
  /** Set once the step's STARTED events are written and its batches enqueued. */
  started?: boolean;
  startedAt?: string;
  batches?: number;
  items?: number;
  status?: Status | 'SKIPPED';
  endedAt?: string;
  actions?: Record<string, ActionResult>;
  failures?: ItemFailure[];
}

export interface OperationParams {
  [key: string]: unknown;
  /** The journal's operation was opened (startOperation). */
  journalStarted?: boolean;
}

export interface CreateOperation {
  id?: string;
  workflowId: string;
  params: Record<string, unknown>;
  depositId?: string;
  submitter?: string;
  space?: string;
}

/**
 * Creates an operation row (RUNNING, step 0). With `trx`, inside the caller's transaction (the
 * bus subscriber). Returns the operation id; with a deposit id already used, the existing one.
 */
export async function createOperation(db: Kysely<Database>, c: CreateOperation): Promise<{ id: string; created: boolean }> {
  const id = c.id ?? newOperationId();
  const now = nowIso();
  const r = await db
    .insertInto('ingest_operation')
    .values({
      id,
      workflow: c.workflowId,
      state: 'RUNNING',
      outcome: 'UNKNOWN',
      step_index: 0,
      rejected: 0,
      steps: '[]',
      params: JSON.stringify(c.params),
      deposit_id: c.depositId ?? null,
      submitter: c.submitter ?? null,
      space: c.space ?? null,
      report: null,
      reply_xml: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('deposit_id').doNothing())
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0) === 1) return { id, created: true };
  const existing = await db.selectFrom('ingest_operation').select('id').where('deposit_id', '=', c.depositId!).executeTakeFirstOrThrow();
  return { id: existing.id, created: false };
}

/** Operation ids: sortable by creation time, safe as folder and object names. */
export function newOperationId(): string {
  return `op${Date.now().toString(36)}${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

export interface CoordinatorDeps {
  cdb: CoffreDb;
  queue: JobQueue;
  logbook: Logbook;
  workflows: WorkflowRegistry;
  log: Logger;
  leaseTtlMs: number;
  pollIntervalMs: number;
  /** Action messages are looked up in the default catalogue, then in the action plugin's. */
  plugins?: PluginRegistry;
  /** Called once an operation is DONE (e.g. to remove its workspace); failures are only logged. */
  onFinished?(operationId: string): Promise<void>;
}

/**
 * Drives operations through their workflow: for each step it writes the step's and actions'
 * STARTED events, cuts the items into batches queued as jobs, waits for the workers, aggregates
 * their statuses (worst wins, each counted), writes the end events and persists where the
 * operation stands. An operation is driven by one coordinator at a time (a lease in the
 * database); when its process dies the lease runs out and another coordinator resumes it from
 * the persisted step — batches already done are not run again, and enqueueing is idempotent.
 */
export class Coordinator {
  readonly id = `${hostname()}:${process.pid}:coord:${randomUUID().slice(0, 8)}`;
  private readonly abort = new AbortController();
  private readonly driving = new Map<string, Promise<void>>();
  private loop?: Promise<void>;

  constructor(private readonly deps: CoordinatorDeps) {}

  start(): void {
    this.loop = this.scan();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.allSettled(this.driving.values());
  }

  /** Looks for RUNNING operations no coordinator holds, and drives them. */
  private async scan(): Promise<void> {
    const { cdb, queue, log } = this.deps;
    while (!this.abort.signal.aborted) {
      try {
        const rows = await cdb.db.selectFrom('ingest_operation').select('id').where('state', '=', 'RUNNING').orderBy('created_at').limit(100).execute();
        for (const { id } of rows) {
          if (this.driving.has(id)) continue;
          if (!(await tryAcquireLock(cdb.db, `operation:${id}`, this.id, this.deps.leaseTtlMs))) continue;
          const p = this.driveHeld(id).finally(() => this.driving.delete(id));
          this.driving.set(id, p);
        }
      } catch (err) {
        log.error({ err }, 'scanning operations failed; retrying');
      }
      await queue.wait(this.deps.pollIntervalMs, this.abort.signal);
    }
  }

  private async driveHeld(id: string): Promise<void> {
    const { cdb, log } = this.deps;
    const renew = setInterval(() => {
      tryAcquireLock(cdb.db, `operation:${id}`, this.id, this.deps.leaseTtlMs).catch(() => {});
    }, Math.max(200, this.deps.leaseTtlMs / 3));
    renew.unref();
    try {
      await this.drive(id);
    } catch (err) {
      if (!this.abort.signal.aborted) log.error({ err, operation: id }, 'driving the operation failed; it will be resumed');
    } finally {
      clearInterval(renew);
      await releaseLock(cdb.db, `operation:${id}`, this.id).catch(() => {});
    }
  }

  /** Runs the operation's remaining steps (resumes from the persisted step). */
  async drive(id: string): Promise<void> {
    const { cdb, logbook, workflows } = this.deps;
    for (;;) {
      if (this.abort.signal.aborted) return;
      const op = await cdb.db.selectFrom('ingest_operation').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      if (op.state !== 'RUNNING') return;
      const workflow = workflows.get(op.workflow);
      const params = JSON.parse(op.params) as OperationParams;
      const steps = JSON.parse(op.steps) as StepState[];
      if (!params.journalStarted) {
        await logbook.startOperation({
          id,
          type: workflow.type,
          evType: workflow.id,
          application: op.submitter ?? undefined,
          obId: op.deposit_id ?? undefined,
          detail: { workflow: workflow.id, depositId: op.deposit_id, package: params.packageName },
        });
        params.journalStarted = true;
        await this.save(id, { params: JSON.stringify(params) });
        continue;
      }
      const index = Number(op.step_index);
      if (index >= workflow.steps.length) {
        await this.finish(id, workflow.id, steps, op.rejected === 1);
        return;
      }
      const step = workflow.steps[index];
      const state: StepState = steps[index] ?? { name: step.name, behavior: step.behavior };
      steps[index] = state;
      if (op.rejected === 1 && step.behavior !== 'FINALLY') {
        state.status = 'SKIPPED';
        await this.save(id, { steps: JSON.stringify(steps), step_index: index + 1 });
        continue;
      }
      if (!state.started) {
        await this.startStep(id, workflow.id, index, step, state);
        await this.save(id, { steps: JSON.stringify(steps) });
      }
      const done = await this.waitForStep(id, step.name);
      if (!done) return; // stopping
      await this.endStep(id, step, state, done);
      const rejected = op.rejected === 1 || (step.behavior === 'BLOCKING' && isFailure(state.status as Status));
      await this.save(id, {
        steps: JSON.stringify(steps),
        step_index: index + 1,
        rejected: rejected ? 1 : 0,
        outcome: worstStatus(op.outcome as Status, state.status as Status),
      });
    }
  }

  private jobPrefix(id: string, step: string) {
    return `${id}:${step}:`;
  }

  private async startStep(id: string, workflowId: string, index: number, step: WorkflowStep, state: StepState) {
    const { cdb, logbook, queue } = this.deps;
    let batches: BatchPayload[];
    let items = 1;
    if (step.distribution.kind === 'REF') {
      batches = [{ operationId: id, workflowId, stepIndex: index, step: step.name, batch: 0, from: 0, to: 0 }];
    } else {
      const row = await cdb.db
        .selectFrom('ingest_item')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('seq').as('maxSeq')])
        .where('operation_id', '=', id)
        .where('kind', '=', step.distribution.items)
        .executeTakeFirstOrThrow();
      items = Number(row.n);
      const max = row.maxSeq === null ? -1 : Number(row.maxSeq);
      const size = step.distribution.batchSize;
      batches = [];
      for (let from = 0, b = 0; from <= max; from += size, b++) {
        batches.push({ operationId: id, workflowId, stepIndex: index, step: step.name, batch: b, from, to: Math.min(max, from + size - 1) });
      }
    }
    // Seed 000 steps 1 and 6: the STARTED events come before any work of the step.
    const [stepEvent] = await logbook.appendOperation(id, [
      { evType: step.name, outcome: 'STARTED', outDetail: `${step.name}.STARTED`, outMessg: this.message(`${step.name}.STARTED`) },
    ]);
    await logbook.appendOperation(
      id,
      step.actions.map((a) => ({
        evParentId: stepEvent?.evId ?? null,
        evType: a.name,
        outcome: 'STARTED' as Status,
        outDetail: `${a.name}.STARTED`,
        outMessg: this.message(`${a.name}.STARTED`, undefined, a.name),
      })),
    );
    await queue.enqueue(batches.map((b) => ({ queue: WORKFLOW_QUEUE, key: `${this.jobPrefix(id, step.name)}${String(b.batch).padStart(8, '0')}`, operationId: id, payload: b })));
    state.started = true;
    state.startedAt = nowIso();
    state.batches = batches.length;
    state.items = items;
  }

  /** Waits until every batch of the step is DONE; returns their results (undefined when stopping). */
  private async waitForStep(id: string, step: string): Promise<BatchResult[] | undefined> {
    const { queue } = this.deps;
    const prefix = this.jobPrefix(id, step);
    while (!this.abort.signal.aborted) {
      if ((await queue.pending(prefix, id)) === 0) return (await queue.jobs(prefix, id)).map((j) => j.result as BatchResult);
      await queue.wait(this.deps.pollIntervalMs, this.abort.signal);
    }
    return undefined;
  }

  private async endStep(id: string, step: WorkflowStep, state: StepState, results: BatchResult[]) {
    const { logbook } = this.deps;
    const actions: Record<string, ActionResult> = {};
    const failures: ItemFailure[] = [];
    for (const r of results) {
      for (const [name, a] of Object.entries(r.actions ?? {})) actions[name] = mergeResults(actions[name], a);
      failures.push(...(r.failures ?? []));
      if (r.status === 'FATAL' && Object.keys(r.actions ?? {}).length === 0) {
        // A batch abandoned without any action result (poison job): FATAL for the step.
        actions[step.actions[0].name] = mergeResults(actions[step.actions[0].name], { status: 'FATAL', counts: { FATAL: 1 } });
      }
    }
    // A list step over no item: every action is OK with nothing counted.
    for (const a of step.actions) actions[a.name] ??= { status: 'OK', counts: {} };
    const status = worstOf(Object.values(actions).map((a) => a.status));
    state.actions = actions;
    state.failures = failures.slice(0, 200);
    state.status = status;
    state.endedAt = nowIso();
    await logbook.appendOperation(id, [
      ...step.actions.map((a) => {
        const r = actions[a.name];
        const firstFailure = failures.find((f) => f.action === a.name);
        const params = r.params ?? (firstFailure ? { reason: `${firstFailure.itemId}: ${firstFailure.message}` } : undefined);
        return {
          evType: a.name,
          outcome: r.status,
          outDetail: `${a.name}.${r.status}`,
          outMessg: this.message(`${a.name}.${r.status}`, params, a.name),
          evDetData: { counts: r.counts, ...(r.detail !== undefined ? { detail: r.detail } : {}) },
        };
      }),
      {
        evType: step.name,
        outcome: status,
        outDetail: `${step.name}.${status}`,
        outMessg: this.message(`${step.name}.${status}`),
        evDetData: { items: state.items, batches: state.batches, ...(failures.length ? { failures: failures.slice(0, 20) } : {}) },
      },
    ]);
    // Lifecycle events written during the step become visible (or are kept as undone).
    if (isFailure(status)) await logbook.rollbackStep(id, step.name, `${step.name} ended ${status}`);
    else await logbook.commitStep(id, step.name);
  }

  private async finish(id: string, workflowId: string, steps: StepState[], rejected: boolean) {
    const { cdb, logbook, queue } = this.deps;
    let outcome = worstOf(steps.map((s) => (s.status && s.status !== 'SKIPPED' ? s.status : 'UNKNOWN')));
    if (rejected && !isFailure(outcome)) outcome = 'KO';
    if (outcome === 'UNKNOWN' || outcome === 'STARTED' || outcome === 'ALREADY_EXECUTED') outcome = 'OK';
    await logbook.endOperation(id, outcome, { evType: workflowId, outDetail: `${workflowId}.${outcome}`, outMessg: this.message(`${workflowId}.${outcome}`) });
    await cdb.db.transaction().execute(async (trx) => {
      await trx.updateTable('ingest_operation').set({ state: 'DONE', outcome, updated_at: nowIso() }).where('id', '=', id).execute();
      await publish(trx, 'operation.completed', { id, workflow: workflowId, status: outcome });
    });
    queue.notify();
    await this.deps.onFinished?.(id).catch((err) => this.deps.log.warn({ err, operation: id }, 'cleaning up after the operation failed'));
  }

  private message(code: string, params?: Record<string, string | number>, action?: string) {
    const catalogue = action ? this.deps.plugins?.get(action)?.catalogue : undefined;
    return this.deps.logbook.message(code, { detail: params?.reason ?? '', ...params }, catalogue);
  }

  private async save(id: string, set: Partial<{ steps: string; step_index: number; rejected: number; outcome: string; params: string }>) {
    await this.deps.cdb.db.updateTable('ingest_operation').set({ ...set, updated_at: nowIso() }).where('id', '=', id).execute();
  }
}
