import type { Status } from '../../logbook/api.ts';
import type { HandlerIO } from '../api.ts';

/** What CHECK_MANIFEST records for an object group (the items of the per-object steps). */
export interface GroupItem {
  manifestId: string;
  unitIds: string[];
  objects: ObjectItem[];
}

export interface ObjectItem {
  /** Archive id (unique across operations): `<operationId>-o<seq>`. */
  id: string;
  manifestId: string;
  kind: 'binary' | 'physical';
  version?: string;
  path?: string;
  size?: number;
  declaredSize?: number;
  declaredDigest?: { algorithm: string; value: string };
  computedDigest?: { algorithm: string; value: string };
  format?: { formatId?: string; mimeType?: string; formatLitteral?: string };
  /**
   * The format identified from content (null: not identified): put by CHECK_MANIFEST from the
   * unpack's identification, else by OG_OBJECTS_FORMAT_CHECK.
   */
  identified?: { formatId: string; mimeType: string; name: string } | null;
  filename?: string;
  metadata?: unknown;
  /** Set by OBJ_STORAGE. */
  storage?: { status: Status; digest: string; digestAlgorithm: string; size: number; copies: Array<{ offerId: string; status: string; digest?: string }> };
}

export interface UnitItem {
  manifestId: string;
  parentIds: string[];
  title?: string;
  content: unknown;
  management?: unknown;
  groupIds: string[];
}

/** What CHECK_MANIFEST leaves in the output area for later steps and the report. */
export interface PackageSummary {
  kind: 'seda' | 'bagit';
  version: string;
  header: Record<string, unknown>;
  totalSize: number;
  units: number;
  groups: number;
  objects: number;
  binaryObjects: number;
  warnings: Array<{ code: string; message: string }>;
  /** manifest id → archive id, for the acknowledgement (ArchiveTransferReply). */
  unitIds: Array<[string, string]>;
}

export const PACKAGE_SUMMARY = 'package.json';

export const ok = (params?: Record<string, string | number>, detail?: unknown) => ({ globalStatus: 'OK' as Status, params, detail });

/**
 * Saves what a per-object action learned about an object group (formats, copies) on its item,
 * with the batch's other items when the batch ends (only later steps read it).
 */
export function saveGroupItem(io: HandlerIO, group: GroupItem): void {
  io.services.rows.atBatchEnd([{
    table: 'ingest_item',
    rows: [{ operation_id: io.operationId, kind: 'objectgroup', seq: io.item.seq, item_id: io.item.id, data: JSON.stringify(group) }],
    conflict: ['operation_id', 'kind', 'seq'],
    update: ['data'],
  }]);
}
