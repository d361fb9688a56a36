import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { Status } from '../../logbook/api.ts';
import type { GroupItem } from './items.ts';
import type { StepState } from '../../ingest/workflow/coordinator.ts';
import { forEachLimit } from '../../worker/limit.ts';

/** Object groups whose copies are removed at once (each group's objects one after the other). */
const GROUPS_IN_FLIGHT = 16;

/**
 * ROLL_BACK (FINALLY): when the ingest was rejected, removes from every offer the copies already
 * written for it and the metadata already indexed; each object group's lifecycle says which
 * copies were removed. Nothing to do for an accepted ingest, and no offer is asked when no
 * OBJ_STORAGE action ran (a package refused at its checks: none of its objects can have a copy).
 */
export default class RollBack implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    if (!io.parameters.rejected) return { globalStatus: 'OK', params: { removed: 0 }, detail: { rejected: false } };
    const storage = io.services.storage;
    const db = io.services.cdb.db;
    const strategy = String(io.parameters.strategy ?? 'default');
    let removed = 0;
    let failed = 0;
    const failures: string[] = [];
    const op = await db.selectFrom('ingest_operation').select('steps').where('id', '=', io.operationId).executeTakeFirst();
    // Steps that ran record their actions when they end; a rejected operation reaches FINALLY only
    // once every earlier step ended or was skipped.
    const storingRan = (JSON.parse(op?.steps ?? '[]') as StepState[]).some((s) => s.actions && 'OBJ_STORAGE' in s.actions);
    const rows = storingRan && storage
      ? await db.selectFrom('ingest_item').select(['item_id', 'data']).where('operation_id', '=', io.operationId).where('kind', '=', 'objectgroup').orderBy('seq').execute()
      : [];
    await forEachLimit(rows, GROUPS_IN_FLIGHT, async (row) => {
      const g = JSON.parse(row.data) as GroupItem;
      for (const o of g.objects) {
        if (o.kind !== 'binary' || !storage) continue;
        // Every binary object is asked for, stored or not: a write cut short may have left copies.
        const results = await storage.remove(strategy, 'objects', o.id).catch((err) => [{ offerId: '*', removed: false, message: (err as Error).message }]);
        const gone = results.filter((r) => r.removed);
        const bad = results.filter((r) => !r.removed && r.message);
        removed += gone.length;
        if (bad.length) {
          failed += bad.length;
          failures.push(...bad.map((b) => `${o.id} on ${b.offerId}: ${b.message}`));
        }
        if (gone.length || bad.length) {
          const st: Status = bad.length ? 'KO' : 'OK';
          await io.lifecycle('objectgroup', row.item_id, [{
            evType: 'LFC.ROLL_BACK', outcome: st, outDetail: `LFC.ROLL_BACK.${st}`,
            outMessg: io.message(`LFC.ROLL_BACK.${st}`, { objectId: o.id, offers: gone.map((r) => r.offerId).join(', ') }),
            obId: o.id, evDetData: { removedFrom: gone.map((r) => r.offerId), failures: bad },
          }]);
        }
      }
    });
    await db.transaction().execute(async (trx) => {
      const objects = trx.selectFrom('archive_object').select('id').where('operation_id', '=', io.operationId);
      await trx.deleteFrom('object_copy').where('object_id', 'in', objects).execute();
      await trx.deleteFrom('archive_object').where('operation_id', '=', io.operationId).execute();
      await trx.deleteFrom('object_group').where('operation_id', '=', io.operationId).execute();
      await trx.deleteFrom('archive_unit').where('operation_id', '=', io.operationId).execute();
    });
    const status: Status = failed ? 'KO' : 'OK';
    return { globalStatus: status, params: { removed, reason: failures[0] ?? '' }, detail: { rejected: true, removedCopies: removed, failures: failures.slice(0, 50) } };
  }
}
