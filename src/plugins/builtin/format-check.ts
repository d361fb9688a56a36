import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { Status } from '../../logbook/api.ts';
import { worstStatus } from '../../logbook/api.ts';
import { identifyFile } from '../../sip/index.ts';
import { saveGroupItem, type GroupItem } from './items.ts';

/**
 * OG_OBJECTS_FORMAT_CHECK, sub-task FILE_FORMAT: identifies each binary object's format from its
 * first bytes (the SIP component's identification). A format that differs from the declared one, or that cannot be identified, is a
 * WARNING; the identified format is kept for indexing.
 */
export default class FormatCheck implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const group = io.item.data as GroupItem;
    let status: Status = 'OK';
    const notes: string[] = [];
    for (const o of group.objects) {
      if (o.kind !== 'binary' || !o.path) continue;
      const at = await io.workspace.locate(o.path);
      const id = await identifyFile(at.file, at.start, at.size);
      const found = id && { formatId: id.puid, mimeType: id.mimeType, name: id.name };
      o.identified = found ?? null;
      if (!found) {
        status = worstStatus(status, 'WARNING');
        notes.push(`${o.manifestId}: format not identified`);
      } else if (o.format?.formatId && o.format.formatId !== found.formatId) {
        status = worstStatus(status, 'WARNING');
        notes.push(`${o.manifestId}: declared ${o.format.formatId}, identified ${found.formatId} (${found.name})`);
      }
    }
    await saveGroupItem(io, group);
    return { globalStatus: status, itemsStatus: [{ FILE_FORMAT: { globalStatus: status } }], params: { group: group.manifestId, reason: notes[0] ?? '' }, detail: notes.length ? { formats: notes } : undefined };
  }
}
