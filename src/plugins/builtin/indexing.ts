import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { nowIso } from '../../db/index.ts';
import type { GroupItem, UnitItem } from './items.ts';

/** UNIT_METADATA_INDEXATION: the unit, its place in the tree and its metadata, kept for access. */
export class UnitIndexing implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const u = io.item.data as UnitItem;
    // Written with the batch's other units, in a few statements and one commit, when it ends.
    io.services.rows.atBatchEnd([{
      table: 'archive_unit',
      rows: [{
        id: io.item.id,
        operation_id: io.operationId,
        parent_ids: JSON.stringify(u.parentIds),
        title: u.title ?? null,
        metadata: JSON.stringify({ manifestId: u.manifestId, content: u.content, management: u.management ?? null, groupIds: u.groupIds }),
        created_at: nowIso(),
      }],
      conflict: ['id'],
    }]);
    return { globalStatus: 'OK', params: { unit: u.manifestId } };
  }
}

/** OG_METADATA_INDEXATION: the group, its objects (real size, digest, identified format) and their copies. */
export class GroupIndexing implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const g = io.item.data as GroupItem;
    const now = nowIso();
    const strategy = String(io.parameters.strategy ?? 'default');
    const objects = g.objects.map((o) => ({
      id: o.id,
      operation_id: io.operationId,
      group_id: io.item.id,
      path: o.path ?? null,
      physical: o.kind === 'physical' ? 1 : 0,
      size: o.storage?.size ?? o.size ?? null,
      digest: o.storage?.digest ?? o.computedDigest?.value ?? null,
      digest_algorithm: o.storage?.digestAlgorithm ?? o.computedDigest?.algorithm ?? null,
      format_id: o.identified?.formatId ?? o.format?.formatId ?? null,
      mime_type: o.identified?.mimeType ?? o.format?.mimeType ?? null,
      strategy_id: o.kind === 'binary' ? strategy : null,
      stored: o.storage && o.storage.status !== 'KO' ? 1 : 0,
      created_at: now,
    }));
    const copies = g.objects.flatMap((o) => (o.storage?.copies ?? []).filter((c) => c.status !== 'KO')
      .map((c) => ({ object_id: o.id, offer_id: c.offerId, digest: c.digest ?? o.storage!.digest, size: o.storage!.size, created_at: now })));
    // The group, its objects and copies land together, with the batch's other groups, in a few
    // multi-row statements and one commit, when the batch ends.
    io.services.rows.atBatchEnd([
      { table: 'object_group', rows: [{ id: io.item.id, operation_id: io.operationId, unit_ids: JSON.stringify(g.unitIds), created_at: now }], conflict: ['id'] },
      { table: 'archive_object', rows: objects, conflict: ['id'] },
      { table: 'object_copy', rows: copies, conflict: ['object_id', 'offer_id'] },
    ]);
    return { globalStatus: 'OK', params: { group: g.manifestId } };
  }
}
