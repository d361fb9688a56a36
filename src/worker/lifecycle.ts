import { randomUUID } from 'node:crypto';
import type { EventInput } from '../logbook/api.ts';
import type { ItemStatus } from '../plugins/api.ts';

/**
 * Lifecycle events of one plugin call (seed 004): one `LFC.<ACTION>` event, then one
 * `LFC.<ACTION>.<SUBTASK>` event per sub-task, children of the first.
 *
 * outDetail: the seed shows `LFC.CHECK_DIGEST..OK` for the parent (the sub-task slot left empty)
 * and `LFC.CHECK_DIGEST.CALC_CHECK.OK` for a sub-task; we write both literally as the seed shows.
 * Messages are looked up under the outDetail, then the same code with the empty slot removed
 * (`LFC.CHECK_DIGEST.OK`), then without the `LFC.` prefix (`CHECK_DIGEST.OK`).
 */
export function lifecycleEvents(
  action: string,
  result: ItemStatus,
  message: (codes: string[], params?: Record<string, string | number>) => string,
  obId: string,
): EventInput[] {
  const parentId = randomUUID();
  const parentDetail = `LFC.${action}..${result.globalStatus}`;
  const events: EventInput[] = [
    {
      evId: parentId,
      evType: `LFC.${action}`,
      outcome: result.globalStatus,
      outDetail: parentDetail,
      outMessg: message([parentDetail, `LFC.${action}.${result.globalStatus}`, `${action}.${result.globalStatus}`], result.params),
      obId,
      evDetData: result.detail ?? null,
    },
  ];
  for (const entry of result.itemsStatus ?? []) {
    for (const [sub, status] of Object.entries(entry)) {
      const code = `LFC.${action}.${sub}.${status.globalStatus}`;
      events.push({
        evParentId: parentId,
        evType: `LFC.${action}.${sub}`,
        outcome: status.globalStatus,
        outDetail: code,
        outMessg: message([code, `${action}.${sub}.${status.globalStatus}`], { ...result.params, ...status.params }),
        obId,
        evDetData: status.detail ?? null,
      });
    }
  }
  return events;
}
