import type { EventColumns, LogbookLfcEventTable, LogbookStepTable } from './tables.ts';
import { hash } from 'node:crypto';
import { EVENT_HASH, jsonString, sha256Bytes, sha256Hex } from './canonical.ts';
import { eventWriter, type EventWriter, type Scratch } from './eventbytes.ts';

/**
 * The canonical JSON of a stored event, rebuilt from its columns: what its `hash` covers.
 * Keys in sorted order (canonicalJson's order), `evDetData` inserted as stored (it is already
 * canonical JSON), `prevHash` included so that each hash seals the whole chain before it.
 * Writing and verifying both go through here: one definition of what is hashed.
 */
const OP_FIELDS: [string, keyof EventColumns][] = [
  ['agId', 'ag_id'],
  ['agIdApp', 'ag_id_app'],
  ['evDateTime', 'ev_date_time'],
  ['evDetData', 'ev_det_data'],
  ['evId', 'ev_id'],
  ['evIdProc', 'operation_id'],
  ['evIdReqst', 'ev_id_reqst'],
  ['evParentId', 'ev_parent_id'],
  ['evType', 'ev_type'],
  ['evTypeProc', 'ev_type_proc'],
  ['obId', 'ob_id'],
  ['outDetail', 'out_detail'],
  ['outMessg', 'out_messg'],
  ['outcome', 'outcome'],
  ['prevHash', 'prev_hash'],
];
const LFC_FIELDS: [string, keyof LogbookLfcEventTable][] = [
  ...OP_FIELDS,
  ['lfcId', 'lfc_id'],
  ['lfcKind', 'lfc_kind'],
  ['stepId', 'step_id'],
].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) as [string, keyof LogbookLfcEventTable][];
const STEP_FIELDS: [string, keyof LogbookStepTable][] = [
  ['action', 'action'],
  ['at', 'at'],
  ['operationId', 'operation_id'],
  ['prevHash', 'prev_hash'],
  ['reason', 'reason'],
  ['stepId', 'step_id'],
];

export type TableName = 'op' | 'lfc' | 'step';

export const TABLES: Record<TableName, { sql: 'logbook_op_event' | 'logbook_lfc_event' | 'logbook_step'; fields: [string, string][] }> = {
  op: { sql: 'logbook_op_event', fields: OP_FIELDS },
  lfc: { sql: 'logbook_lfc_event', fields: LFC_FIELDS },
  step: { sql: 'logbook_step', fields: STEP_FIELDS },
};


/** One value's JSON text, as the canonical form writes it. */
function valueText(col: string, v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (col === 'ev_det_data') return v as string;
  if (typeof v === 'string') return jsonString(v);
  if (v instanceof Uint8Array) return '"' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') + '"';
  return JSON.stringify(v);
}

type TextFn = (row: Record<string, unknown>, prevHex: string | null | undefined, value: typeof valueText) => string;

/**
 * Per table, one function that writes the fields in their fixed order as a single expression
 * (a template, no key sorting, no loop): generated once from the field lists above, so that the
 * order stays defined in one place. `prevHex`, when given, stands for `prev_hash` already in hex.
 */
const TEXT: Record<TableName, TextFn> = {} as Record<TableName, TextFn>;
for (const t of Object.keys(TABLES) as TableName[]) {
  const parts = TABLES[t].fields.map(([key, col], i) => {
    const prefix = JSON.stringify((i ? ',"' : '{"') + key + '":');
    const value = col === 'prev_hash' ? `(prevHex === undefined ? value('prev_hash', row.prev_hash) : prevHex === null ? 'null' : '"' + prevHex + '"')` : `value(${JSON.stringify(col)}, row[${JSON.stringify(col)}])`;
    return `${prefix} + ${value}`;
  });
  TEXT[t] = new Function('row', 'prevHex', 'value', `return ${parts.join(' + ')} + '}';`) as TextFn;
}

export function canonicalRowText(table: TableName, row: Record<string, unknown>, prevHex?: string | null): string {
  return TEXT[table](row, prevHex, valueText);
}

/**
 * The same canonical text, written as bytes into a scratch buffer instead of built as a string
 * (eventbytes.ts): hashing a string first flattens the rope of its ~40 pieces and re-encodes it.
 */
const WRITE = {} as Record<TableName, EventWriter>;
for (const t of Object.keys(TABLES) as TableName[]) WRITE[t] = eventWriter(TABLES[t].fields, valueText);
const SCRATCH = Buffer.allocUnsafe(64 * 1024) as Scratch;
/** SCRATCH.subarray(0, n), made once per usual length n: a view per event cost a Buffer object per event. */
const VIEWS: (Buffer | undefined)[] = new Array(4096).fill(undefined);
const head = (n: number): Buffer => (n < VIEWS.length ? (VIEWS[n] ??= SCRATCH.subarray(0, n)) : SCRATCH.subarray(0, n));

/** SHA-256 (hex) of the row's canonical text, `prevHex` standing for its prev_hash. */
export function rowHashHex(table: TableName, row: Record<string, unknown>, prevHex: string | null): string {
  const n = WRITE[table](row, prevHex, SCRATCH);
  return n < 0 ? sha256Hex(canonicalRowText(table, row, prevHex)) : hash(EVENT_HASH, head(n), 'hex');
}

/** The row's hash (32 bytes); in the canonical JSON, hashes read as lower-case hex. */
export const rowHash = (table: TableName, row: Record<string, unknown>): Buffer => sha256Bytes(canonicalRowText(table, row));

/** Hash columns as hex (null stays null). */
export const hex = (v: unknown): string | null => (v === null || v === undefined ? null : Buffer.from(v as Uint8Array).toString('hex'));

/** Equality of two hash columns (bytes or null). */
export const sameHash = (a: unknown, b: unknown): boolean =>
  a === null || a === undefined || b === null || b === undefined ? (a ?? null) === (b ?? null) : Buffer.from(a as Uint8Array).equals(Buffer.from(b as Uint8Array));

/** The columns of each table in insert order (seq last: it is given only on rebuild). */
export const EVENT_COLUMNS = [
  'idx', 'ev_id', 'ev_parent_id', 'ev_type', 'ev_date_time', 'operation_id', 'ev_type_proc', 'outcome', 'out_detail',
  'out_messg', 'ag_id', 'ob_id', 'ev_det_data', 'ev_id_reqst', 'ag_id_app', 'hash', 'prev_hash',
] as const;
export const INSERT_COLUMNS: Record<TableName, readonly string[]> = {
  op: EVENT_COLUMNS,
  lfc: [...EVENT_COLUMNS, 'lfc_kind', 'lfc_id', 'step_id'],
  step: ['idx', 'operation_id', 'step_id', 'action', 'reason', 'at', 'hash', 'prev_hash'],
};

/** Chain key of a row: which chain it belongs to. */
export function chainKey(table: TableName, row: { operation_id: string; lfc_kind?: string; lfc_id?: string }): string {
  return table === 'lfc' ? `${row.lfc_kind}:${row.lfc_id}` : row.operation_id;
}

export function chainLabel(table: TableName, key: string): string {
  return table === 'op' ? `operation ${key}` : table === 'step' ? `step records of operation ${key}` : `lifecycle ${key}`;
}
