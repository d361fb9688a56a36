import type { HandlerIO, ItemStatus, WorkerPlugin } from '../api.ts';
import { readCheckedPackage } from '../../ingest/sip-adapter.ts';
import { describeLocation } from '../../sip/errors.ts';
import type { ContentFormat } from '../../workspace/index.ts';
import { PACKAGE_SUMMARY, type GroupItem, type ObjectItem, type PackageSummary, type UnitItem } from './items.ts';

/**
 * CHECK_MANIFEST: reads and checks the manifest (SEDA: XSD of its version then what a schema
 * cannot say; BagIt: declaration, manifests, Payload-Oxum), then records the units and object
 * groups as the items of the next steps, with archive ids unique across operations.
 * Replay-safe: the items of the operation are replaced as a whole.
 */
const ITEMS_PER_INSERT = 500;

/** `identified` of an object, from the unpack's identification; nothing when there was none. */
function identifiedAtUnpack(format: ContentFormat | null | undefined): Pick<ObjectItem, 'identified'> {
  if (format === undefined) return {};
  return { identified: format && { formatId: format.puid, mimeType: format.mimeType, name: format.name } };
}

export default class CheckManifest implements WorkerPlugin {
  async execute(io: HandlerIO): Promise<ItemStatus> {
    const ws = io.services.workspaces.open(io.operationId);
    const listing = await ws.listing();
    if (!listing) return { globalStatus: 'FATAL', params: { reason: 'the package was not unpacked' } };
    let pkg;
    try {
      pkg = await readCheckedPackage(ws, listing, io.services.config?.sip);
    } catch (err) {
      const e = err as { name?: string; code?: string; message: string; issues?: Array<{ code: string; message: string; where?: any }> };
      if (e.name !== 'SipError') throw err;
      return {
        globalStatus: 'KO',
        itemsStatus: [{ MANIFEST: { globalStatus: 'KO' } }],
        params: { reason: e.message, code: e.code ?? 'KO' },
        detail: { issues: (e.issues ?? []).slice(0, 50).map((i) => ({ code: i.code, message: i.message, where: describeLocation(i.where) })) },
      };
    }
    const op = io.operationId;
    const unitIds = new Map(pkg.units.map((u, i) => [u.id, `${op}-u${i}`]));
    const groupIds = new Map(pkg.groups.map((g, i) => [g.id, `${op}-g${i}`]));
    const objects = new Map(pkg.objects.map((o, i) => [o.id, { o, id: `${op}-o${i}` }]));
    // Formats identified from content while unpacking (absent when the unpack did not identify).
    const formats = new Map(listing.files.filter((f) => f.format !== undefined).map((f) => [f.path, f.format!]));
    const unitItem = (u: (typeof pkg.units)[number]): UnitItem => ({
      manifestId: u.id,
      parentIds: u.parentIds.map((p) => unitIds.get(p) ?? p),
      title: u.title,
      content: u.content,
      management: u.management,
      groupIds: u.groupIds.map((g) => groupIds.get(g) ?? g),
    });
    const groupItem = (g: (typeof pkg.groups)[number]): GroupItem => ({
      manifestId: g.id,
      unitIds: g.unitIds.map((u) => unitIds.get(u) ?? u),
      objects: g.objectIds.map((oid): ObjectItem => {
        const { o, id } = objects.get(oid)!;
        return {
          id, manifestId: o.id, kind: o.kind, version: o.version, path: o.path, size: o.size, declaredSize: o.declaredSize,
          declaredDigest: o.declaredDigest, computedDigest: o.computedDigest, format: o.format, filename: o.filename, metadata: o.metadata,
          ...identifiedAtUnpack(o.kind === 'binary' && o.path ? formats.get(o.path) : undefined),
        };
      }),
    });
    const db = io.services.cdb.db;
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('ingest_item').where('operation_id', '=', op).execute();
      // Items are made and serialised one chunk at a time: never all of them as text at once.
      for (let i = 0; i < pkg.units.length; i += ITEMS_PER_INSERT) {
        const rows = pkg.units.slice(i, i + ITEMS_PER_INSERT).map((u, k) => ({ operation_id: op, kind: 'unit', seq: i + k, item_id: unitIds.get(u.id)!, data: JSON.stringify(unitItem(u)) }));
        await trx.insertInto('ingest_item').values(rows).execute();
      }
      for (let i = 0; i < pkg.groups.length; i += ITEMS_PER_INSERT) {
        const rows = pkg.groups.slice(i, i + ITEMS_PER_INSERT).map((g, k) => ({ operation_id: op, kind: 'objectgroup', seq: i + k, item_id: groupIds.get(g.id)!, data: JSON.stringify(groupItem(g)) }));
        await trx.insertInto('ingest_item').values(rows).execute();
      }
    });
    const summary: PackageSummary = {
      kind: pkg.kind,
      version: pkg.version,
      header: pkg.header as Record<string, unknown>,
      totalSize: pkg.totalSize,
      units: pkg.units.length,
      groups: pkg.groups.length,
      objects: pkg.objects.length,
      binaryObjects: pkg.objects.filter((o) => o.kind === 'binary').length,
      warnings: pkg.warnings.map((w) => ({ code: w.code, message: `${describeLocation(w.where) ? describeLocation(w.where) + ': ' : ''}${w.message}` })),
      unitIds: [...unitIds.entries()],
    };
    await io.output.write(PACKAGE_SUMMARY, JSON.stringify(summary));
    const status = summary.warnings.length > 0 ? 'WARNING' : 'OK';
    return {
      globalStatus: status,
      itemsStatus: [{ MANIFEST: { globalStatus: status } }],
      params: { kind: pkg.kind, version: pkg.version, units: summary.units, objects: summary.objects, reason: summary.warnings[0]?.message ?? '' },
      detail: { kind: pkg.kind, version: pkg.version, units: summary.units, groups: summary.groups, objects: summary.objects, totalSize: summary.totalSize, warnings: summary.warnings.slice(0, 50) },
    };
  }
}
