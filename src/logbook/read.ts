import type { CoffreDb } from '../db/index.ts';
import type { LogbookEvent } from './api.ts';
import { toEvent } from './logbook.ts';

export interface OperationSummary {
  id: string;
  type: string;
  evType: string;
  status: string;
  startedAt: string;
  endedAt: string | null;
  requestId: string | null;
  application: string | null;
}

export interface EventNode extends LogbookEvent {
  events: EventNode[];
}

export interface OperationDetail extends OperationSummary {
  /** The events as a tree: an event whose evParentId names another event sits in its `events`. */
  events: EventNode[];
  eventCount: number;
}

export interface ListFilter {
  status?: string;
  type?: string;
  since?: string;
  limit?: number;
}

const summary = (r: any): OperationSummary => ({
  id: r.id,
  type: r.type,
  evType: r.ev_type,
  status: r.status ?? 'STARTED',
  startedAt: r.started_at,
  endedAt: r.ended_at ?? null,
  requestId: r.request_id,
  application: r.application,
});

export async function listOperations(cdb: CoffreDb, f: ListFilter = {}): Promise<OperationSummary[]> {
  let q = cdb.db
    .selectFrom('logbook_operation as o')
    .leftJoin('logbook_operation_end as e', 'e.operation_id', 'o.id')
    .select(['o.id', 'o.type', 'o.ev_type', 'o.started_at', 'o.request_id', 'o.application', 'e.status', 'e.ended_at']);
  if (f.type) q = q.where('o.type', '=', f.type);
  if (f.since) q = q.where('o.started_at', '>=', f.since);
  if (f.status === 'STARTED' || f.status === 'RUNNING') q = q.where('e.status', 'is', null);
  else if (f.status) q = q.where('e.status', '=', f.status);
  const rows = await q.orderBy('o.started_at', 'desc').orderBy('o.id').limit(f.limit ?? 1000).execute();
  return rows.map(summary);
}

export function eventTree(events: LogbookEvent[]): EventNode[] {
  const nodes = new Map<string, EventNode>();
  for (const e of events) nodes.set(e.evId, { ...e, events: [] });
  const roots: EventNode[] = [];
  for (const e of events) {
    const n = nodes.get(e.evId)!;
    const parent = e.evParentId ? nodes.get(e.evParentId) : undefined;
    if (parent && parent !== n) parent.events.push(n);
    else roots.push(n);
  }
  return roots;
}

export async function showOperation(cdb: CoffreDb, id: string): Promise<OperationDetail | undefined> {
  const r = await cdb.db
    .selectFrom('logbook_operation as o')
    .leftJoin('logbook_operation_end as e', 'e.operation_id', 'o.id')
    .select(['o.id', 'o.type', 'o.ev_type', 'o.started_at', 'o.request_id', 'o.application', 'e.status', 'e.ended_at'])
    .where('o.id', '=', id)
    .executeTakeFirst();
  if (!r) return undefined;
  const rows = await cdb.db.selectFrom('logbook_op_event').selectAll().where('operation_id', '=', id).orderBy('idx').execute();
  const events = rows.map(toEvent);
  return { ...summary(r), events: eventTree(events), eventCount: events.length };
}

export type LifecycleEventState = 'COMMITTED' | 'PENDING' | 'ROLLED_BACK';

export interface LifecycleView {
  id: string;
  kind: string;
  events: (LogbookEvent & { stepId: string; state: LifecycleEventState; rollbackReason?: string })[];
}

/** A unit's or object group's lifecycle, each event with the state of the step that wrote it. */
export async function showLifecycle(cdb: CoffreDb, id: string): Promise<LifecycleView[]> {
  const rows = await cdb.db.selectFrom('logbook_lfc_event').selectAll().where('lfc_id', '=', id).orderBy('lfc_kind').orderBy('idx').execute();
  if (!rows.length) return [];
  const opIds = [...new Set(rows.map((r) => r.operation_id))];
  const steps = await cdb.db.selectFrom('logbook_step').selectAll().where('operation_id', 'in', opIds).orderBy('seq').execute();
  const state = new Map<string, { action: string; reason: string | null }>();
  for (const s of steps) state.set(`${s.operation_id}\u0000${s.step_id}`, { action: s.action, reason: s.reason });
  const out = new Map<string, LifecycleView>();
  for (const r of rows) {
    let v = out.get(r.lfc_kind);
    if (!v) out.set(r.lfc_kind, (v = { id, kind: r.lfc_kind, events: [] }));
    const st = state.get(`${r.operation_id}\u0000${r.step_id}`);
    v.events.push({
      ...toEvent(r),
      stepId: r.step_id,
      state: !st ? 'PENDING' : st.action === 'COMMIT' ? 'COMMITTED' : 'ROLLED_BACK',
      ...(st?.action === 'ROLLBACK' ? { rollbackReason: st.reason ?? '' } : {}),
    });
  }
  return [...out.values()];
}
