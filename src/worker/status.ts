import { STATUS_ORDER, worstStatus, type Status } from '../logbook/api.ts';

export type StatusCounts = Partial<Record<Status, number>>;

/** An action's result over many items: the worst status and how many items ended with each. */
export interface ActionResult {
  status: Status;
  counts: StatusCounts;
  /** Message placeholders (for one-item REF distributions: the plugin's own). */
  params?: Record<string, string | number>;
  detail?: unknown;
}

export const isFailure = (s: Status): boolean => s === 'KO' || s === 'FATAL';

export function addStatus(into: ActionResult | undefined, status: Status): ActionResult {
  const r = into ?? { status: 'UNKNOWN' as Status, counts: {} };
  r.status = worstStatus(r.status, status);
  r.counts[status] = (r.counts[status] ?? 0) + 1;
  return r;
}

/** Merges the results of several batches of one action. */
export function mergeResults(a: ActionResult | undefined, b: ActionResult): ActionResult {
  if (!a) return { ...b, counts: { ...b.counts } };
  const counts: StatusCounts = { ...a.counts };
  for (const [k, v] of Object.entries(b.counts) as [Status, number][]) counts[k] = (counts[k] ?? 0) + v;
  return { status: worstStatus(a.status, b.status), counts, params: a.params ?? b.params, detail: a.detail ?? b.detail };
}

export const worstOf = (statuses: Status[]): Status => statuses.reduce<Status>((w, s) => worstStatus(w, s), 'UNKNOWN');

export const isStatus = (s: unknown): s is Status => typeof s === 'string' && (STATUS_ORDER as readonly string[]).includes(s);
