import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { GroupItem } from './items.ts';

/** CHECK_OBJECT_SIZE: a declared size that differs from the bytes is a WARNING; the real size is kept. */
export default class CheckObjectSize implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const group = io.item.data as GroupItem;
    const wrong: string[] = [];
    for (const o of group.objects) {
      if (o.kind !== 'binary' || !o.path) continue;
      const real = await io.workspace.size(o.path);
      if (o.declaredSize !== undefined && o.declaredSize !== real) wrong.push(`${o.manifestId}: declared ${o.declaredSize} bytes, real ${real} bytes (kept)`);
    }
    const status = wrong.length ? 'WARNING' : 'OK';
    return { globalStatus: status, itemsStatus: [{ SIZE_CHECK: { globalStatus: status } }], params: { group: group.manifestId, reason: wrong[0] ?? '' }, detail: wrong.length ? { sizes: wrong } : undefined };
  }
}
