import { NEEDS_ESCAPE } from './canonical.ts';

/**
 * The canonical text of an event (see canonicalRowText in rows.ts, its one definition), written
 * as UTF-8 bytes into a scratch buffer for hashing, fast. Measured on the append path, in order of
 * cost: every call into native code (a regex test, a Buffer write) costs ~60-100 ns here and a
 * JavaScript loop over a string ~3 ns per character, so
 * - columns that repeat from one event to the next within a batch (the operation, the lifecycle,
 *   the agent, the step, the time to the millisecond) are grouped in runs of adjacent keys, and a
 *   run whose values are the same as in the last event written copies that event's bytes;
 * - short codes (evType, outDetail, outcome) come from a per-column cache of their bytes;
 * - evDetData (already JSON) and long strings are written by one native call, short ones by a
 *   JavaScript loop; key prefixes are inlined byte stores.
 * Only primitive values are remembered (a string cannot change behind the cache).
 */

/** Node's Buffer has these fast writers (no encoding argument to parse); @types/node omits them. */
export type Scratch = Buffer & { utf8Write(text: string, offset: number): number; latin1Write(text: string, offset: number): number };

/** How a column's value is written. */
export type ColumnKind =
  | 'repeat' // usually the same as in the event before: remembered with its neighbours
  | 'code' // one of few values: bytes cached per value
  | 'json' // already JSON text (evDetData)
  | 'hex' // prev_hash, given as hex
  | 'text'; // anything else

const REPEATING = new Set(['ag_id', 'ag_id_app', 'ev_date_time', 'operation_id', 'ev_id_reqst', 'ev_parent_id', 'ev_type_proc', 'lfc_id', 'lfc_kind', 'step_id', 'action', 'reason', 'at']);
const CODES = new Set(['ev_type', 'out_detail', 'outcome']);

export function columnKind(col: string): ColumnKind {
  if (col === 'prev_hash') return 'hex';
  if (col === 'ev_det_data') return 'json';
  if (CODES.has(col)) return 'code';
  if (REPEATING.has(col)) return 'repeat';
  return 'text';
}

/** Writes JSON.stringify(v) of a string at n: a JavaScript copy for short plain-ASCII text, else one native write. */
function putString(S: Scratch, n: number, v: string): number {
  const len = v.length;
  if (len <= 40) {
    let i = 0;
    for (; i < len; i++) {
      const c = v.charCodeAt(i);
      if (c < 0x20 || c === 34 || c === 92 || c >= 0x80) break;
      S[n + 1 + i] = c;
    }
    if (i === len) {
      S[n] = 34;
      S[n + 1 + len] = 34;
      return n + len + 2;
    }
  }
  if (NEEDS_ESCAPE.test(v)) return n + S.utf8Write(JSON.stringify(v), n);
  S[n] = 34;
  n += 1 + S.utf8Write(v, n + 1);
  S[n] = 34;
  return n + 1;
}

/** Copies remembered bytes at n. */
function putBytes(S: Scratch, n: number, b: Uint8Array): number {
  const len = b.length;
  if (len > 32) S.set(b, n);
  else for (let i = 0; i < len; i++) S[n + i] = b[i];
  return n + len;
}

/** A copy of S[from, to) to remember. */
const keep = (S: Scratch, from: number, to: number): Uint8Array => Uint8Array.prototype.slice.call(S, from, to);

const MAX_CODE_LENGTH = 128;
const MAX_CODES = 1024;

/** Bytes of "key prefix + value" for the values of one code column. */
function putCode(S: Scratch, n: number, cache: Map<string, Uint8Array>, prefix: Uint8Array, v: unknown, col: string, value: (col: string, v: unknown) => string): number {
  if (typeof v === 'string' && v.length <= MAX_CODE_LENGTH) {
    const b = cache.get(v);
    if (b !== undefined) return putBytes(S, n, b);
    const start = n;
    n = putString(S, putBytes(S, n, prefix), v);
    if (cache.size >= MAX_CODES) cache.clear();
    cache.set(v, keep(S, start, n));
    return n;
  }
  n = putBytes(S, n, prefix);
  return v === null || v === undefined ? putBytes(S, n, NULL) : n + S.utf8Write(value(col, v), n);
}

const NULL = Buffer.from('null');
const UNSET = Symbol('unset');

export type EventWriter = (row: Record<string, unknown>, prevHex: string | null, S: Scratch) => number;

/**
 * Generates the writer of one table from its fields (in canonical order): straight-line code, one
 * block per field or run, so that the order stays defined in one place (rows.ts). `value(v)` is the
 * JSON text of a value that is not a string (numbers, Uint8Array…), as canonicalRowText writes it.
 * The writer returns the byte length, or -1 when the row may not fit in S.
 */
export function eventWriter(fields: [string, string][], value: (col: string, v: unknown) => string): EventWriter {
  const lines: string[] = ['let n = 0, v, len = 0;'];
  for (const [, col] of fields) if (col !== 'prev_hash') lines.push(`v = row[${JSON.stringify(col)}]; if (typeof v === 'string') len += v.length;`);
  lines.push('if (len * 6 + 2048 > S.length) return -1;');
  const state: Record<string, unknown> = {};
  const bytesOf = (text: string): string => [...Buffer.from(text)].map((b) => `S[n++] = ${b};`).join(' ');
  const prefixOf = (i: number) => (i ? ',"' : '{"') + fields[i][0] + '":';
  /** One field written in full (no memory of earlier events, except code caches). */
  const field = (i: number): string => {
    const [, col] = fields[i];
    const c = JSON.stringify(col);
    const nul = `if (v === null || v === undefined) { ${bytesOf('null')} }`;
    switch (columnKind(col)) {
      case 'hex':
        return `${bytesOf(prefixOf(i))} if (prevHex === null) { ${bytesOf('null')} } else { S[n++] = 34; n += S.latin1Write(prevHex, n); S[n++] = 34; }`;
      case 'json':
        return `${bytesOf(prefixOf(i))} v = row[${c}]; ${nul} else n += S.utf8Write(typeof v === 'string' ? v : String(value(${c}, v)), n);`;
      case 'code':
        state[`code${i}`] = new Map();
        state[`prefix${i}`] = Buffer.from(prefixOf(i));
        return `n = putCode(S, n, st.code${i}, st.prefix${i}, row[${c}], ${c}, value);`;
      default:
        return `${bytesOf(prefixOf(i))} v = row[${c}]; ${nul} else if (typeof v === 'string') n = putString(S, n, v); else n += S.utf8Write(value(${c}, v), n);`;
    }
  };
  for (let i = 0; i < fields.length; ) {
    if (columnKind(fields[i][1]) !== 'repeat') {
      lines.push(field(i++));
      continue;
    }
    // A run of adjacent repeating columns: the bytes of the last event's run are reused when its
    // values are the same.
    let end = i;
    while (end < fields.length && columnKind(fields[end][1]) === 'repeat') end++;
    const r = `run${i}`;
    const cols = fields.slice(i, end).map(([, col]) => JSON.stringify(col));
    cols.forEach((_, k) => (state[`${r}v${k}`] = UNSET));
    state[`${r}b`] = new Uint8Array(0);
    const same = cols.map((c, k) => `row[${c}] === st.${r}v${k}`).join(' && ');
    const primitive = cols.map((c) => `(typeof row[${c}] !== 'object' || row[${c}] === null)`).join(' && ');
    const written: string[] = [];
    for (let k = i; k < end; k++) written.push(field(k));
    lines.push(
      `if (${same}) n = putBytes(S, n, st.${r}b);`,
      `else { const start = n; ${written.join(' ')}`,
      `  if (${primitive}) { ${cols.map((c, k) => `st.${r}v${k} = row[${c}];`).join(' ')} st.${r}b = keep(S, start, n); }`,
      `  else { ${cols.map((_, k) => `st.${r}v${k} = UNSET;`).join(' ')} } }`,
    );
    i = end;
  }
  lines.push('S[n++] = 125; return n;');
  const make = new Function('st', 'value', 'putString', 'putBytes', 'putCode', 'keep', 'UNSET', `return (row, prevHex, S) => {\n${lines.join('\n')}\n};`);
  return make(state, value, putString, putBytes, putCode, keep, UNSET) as EventWriter;
}
