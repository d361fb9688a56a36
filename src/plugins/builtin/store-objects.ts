import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import type { Status } from '../../logbook/api.ts';
import { worstStatus } from '../../logbook/api.ts';
import { saveGroupItem, type GroupItem } from './items.ts';

/** Objects up to this size are read into memory before their write (the others stream). */
const READ_AT_ONCE = 64 * 1024;

/**
 * OBJ_STORAGE (seed 000, StoreObjects steps 6–13), for one object group:
 *   6  operation journal: storing of the group STARTED
 *   for each binary object:
 *     7  its lifecycle: STARTED
 *     8–11 the storage engine reads the strategy, streams the object once from the workspace
 *          to every offer (digest checked)
 *     12 its lifecycle: OK / ALREADY_EXECUTED / KO with the copies
 *   13 operation journal: end of the group's storing (worst of its objects)
 * Idempotent: a replayed batch finds the copies in place (ALREADY_EXISTS on every offer) and says
 * ALREADY_EXECUTED.
 */
export default class StoreObjects implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const storage = io.services.storage;
    if (!storage) return { globalStatus: 'FATAL', params: { reason: 'no storage engine in this worker' } };
    const group = io.item.data as GroupItem;
    const groupId = io.item.id;
    const strategyId = String(io.parameters.strategy ?? 'default');
    // Step 6, like step 7, is queued before the writes start (the journal keeps its queue order)
    // and awaited with the others: no journal round trip sits in front of the writes.
    const pending: Promise<void>[] = [];
    // Awaited together at the end; marked handled now, so that an early failure is not an
    // unhandled rejection while the writes run (Promise.all still reports it).
    const track = (p: Promise<void>) => {
      p.catch(() => {});
      pending.push(p);
    };
    track(
      io.journal([{ evType: 'OBJ_STORAGE', outcome: 'STARTED', outDetail: 'OBJ_STORAGE.STARTED', outMessg: io.message('OBJ_STORAGE.STARTED'), obId: groupId, evDateTime: new Date().toISOString() }]),
    );
    let status: Status = 'OK';
    let stored = 0;
    const reasons: string[] = [];
    for (const o of group.objects) {
      if (o.kind !== 'binary' || !o.path) continue;
      // Step 7 is queued before the write starts (the journal keeps the order of its queue and
      // the event carries the time it was queued); it is awaited with the others at the end.
      track(io.lifecycle('objectgroup', groupId, [{ evType: 'LFC.OBJ_STORAGE', outcome: 'STARTED', outDetail: 'LFC.OBJ_STORAGE.STARTED', outMessg: io.message('LFC.OBJ_STORAGE.STARTED'), obId: o.id, evDateTime: new Date().toISOString() }]));
      // The object's bytes: its workspace file, or its range of the package. A small object is
      // read at once through the package's shared handle (no open, stream and close per object).
      const { file, start, size } = await io.workspace.locate(o.path);
      let bytes: Buffer | undefined;
      const open = () => bytes ? Readable.from(bytes.length ? [bytes] : [], { objectMode: false }) : createReadStream(file, { start, end: start + size - 1, highWaterMark: 1024 * 1024 });
      // The unpack's SHA-512 of these bytes: the engine hashes in the same algorithm to check it.
      const expected = o.computedDigest?.algorithm === 'SHA-512' ? o.computedDigest.value : undefined;
      let objectStatus: Status;
      let detail: unknown;
      try {
        if (size <= READ_AT_ONCE) bytes = await io.workspace.read(o.path);
        const r = await storage.write({ strategyId, container: 'objects', id: o.id, source: { size, open, ...(bytes ? { bytes } : {}) }, ...(expected ? { expectedDigest: expected, digestAlgorithm: 'sha512' as const } : {}) });
        objectStatus = r.status === 'OK' ? (r.copies.every((c) => c.status === 'ALREADY_EXISTS') ? 'ALREADY_EXECUTED' : 'OK') : 'KO';
        o.storage = { status: objectStatus, digest: r.digest, digestAlgorithm: r.digestAlgorithm, size: r.size, copies: r.copies.map((c) => ({ offerId: c.offerId, status: c.status, digest: c.digest })) };
        detail = { strategyId, digest: r.digest, digestAlgorithm: r.digestAlgorithm, copies: r.copies };
        if (objectStatus === 'KO') reasons.push(`${o.manifestId}: ${r.message ?? r.copies.filter((c) => c.status === 'KO').map((c) => `${c.offerId}: ${c.message ?? 'KO'}`).join('; ')}`);
      } catch (err) {
        objectStatus = 'KO';
        detail = { error: (err as Error).message };
        reasons.push(`${o.manifestId}: ${(err as Error).message}`);
      }
      if (objectStatus !== 'KO') stored++;
      status = worstStatus(status, objectStatus === 'ALREADY_EXECUTED' ? 'OK' : objectStatus);
      track(io.lifecycle('objectgroup', groupId, [{ evType: 'LFC.OBJ_STORAGE', outcome: objectStatus, outDetail: `LFC.OBJ_STORAGE.${objectStatus}`, outMessg: io.message(`LFC.OBJ_STORAGE.${objectStatus}`, { objectId: o.id }), obId: o.id, evDetData: detail, evDateTime: new Date().toISOString() }]));
    }
    await Promise.all(pending);
    // Keep where each object went, for indexing and for a rollback.
    saveGroupItem(io, group);
    const replayed = group.objects.some((o) => o.storage?.status === 'ALREADY_EXECUTED');
    const final: Status = status === 'OK' && replayed && group.objects.every((o) => o.kind !== 'binary' || o.storage?.status === 'ALREADY_EXECUTED') ? 'ALREADY_EXECUTED' : status;
    await io.journal([{ evType: 'OBJ_STORAGE', outcome: final, outDetail: `OBJ_STORAGE.${final}`, outMessg: io.message(`OBJ_STORAGE.${final}`, { reason: reasons[0] ?? '' }), obId: groupId, evDetData: { objects: stored, failures: reasons.slice(0, 10) } }]);
    return { globalStatus: final, params: { group: group.manifestId, reason: reasons[0] ?? '' } };
  }
}
