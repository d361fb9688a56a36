import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { Status } from '../../logbook/api.ts';
import { worstStatus } from '../../logbook/api.ts';
import { identifyFile } from '../../sip/index.ts';
import { saveGroupItem, type GroupItem } from './items.ts';

/**
 * OG_OBJECTS_FORMAT_CHECK, sub-task FILE_FORMAT: each binary object's format, identified from its
 * first bytes (the SIP component's identification), against the declared one. The identification
 * is made once, while unpacking (CHECK_MANIFEST puts it on the item as `identified`); an object
 * without it is identified here by reading its head. A format that differs from the declared one,
 * or that cannot be identified, is a WARNING; the identified format is kept for indexing.
 */
export default class FormatCheck implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const group = io.item.data as GroupItem;
    let status: Status = 'OK';
    const notes: string[] = [];
    let identifiedHere = false;
    for (const o of group.objects) {
      if (o.kind !== 'binary' || !o.path) continue;
      if (o.identified === undefined) {
        const at = await io.workspace.locate(o.path);
        const id = await identifyFile(at.file, at.start, at.size);
        o.identified = id ? { formatId: id.puid, mimeType: id.mimeType, name: id.name } : null;
        identifiedHere = true;
      }
      const found = o.identified;
      if (!found) {
        status = worstStatus(status, 'WARNING');
        notes.push(`${o.manifestId}: format not identified`);
      } else if (o.format?.formatId && o.format.formatId !== found.formatId) {
        status = worstStatus(status, 'WARNING');
        notes.push(`${o.manifestId}: declared ${o.format.formatId}, identified ${found.formatId} (${found.name})`);
      }
    }
    // Only what this call learned needs saving (the item already holds the unpack's identification).
    if (identifiedHere) saveGroupItem(io, group);
    return { globalStatus: status, itemsStatus: [{ FILE_FORMAT: { globalStatus: status } }], params: { group: group.manifestId, reason: notes[0] ?? '' }, detail: notes.length ? { formats: notes } : undefined };
  }
}
