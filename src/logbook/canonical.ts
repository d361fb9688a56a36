import { hash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, `undefined` members
 * dropped. Two writers holding the same event always produce the same bytes, hence the same hash.
 */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && isFlatPlainObject(value)) {
    // The usual evDetData: one level of strings, numbers, booleans and nulls; the same text as the
    // general case below, without its recursion (measured 2x faster on the append path).
    const obj = value as Record<string, unknown>;
    const keys = sortSmall(Object.keys(obj));
    let out = '{';
    for (let i = 0; i < keys.length; i++) {
      const v = obj[keys[i]];
      if (v === undefined) continue;
      if (out.length > 1) out += ',';
      out += jsonString(keys[i]) + ':' + (typeof v === 'string' ? jsonString(v) : JSON.stringify(v));
    }
    return out + '}';
  }
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON());
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

/** JSON.stringify's result for a string, without calling it when nothing needs escaping (the usual case). */
export const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
export const jsonString = (s: string): string => (needsEscape(s) ? JSON.stringify(s) : '"' + s + '"');

/** NEEDS_ESCAPE.test(s); short strings (keys, ids) are checked in JavaScript, cheaper than a regex call. */
function needsEscape(s: string): boolean {
  if (s.length > 32) return NEEDS_ESCAPE.test(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return true;
  }
  return false;
}

/** keys.sort() (UTF-16 code unit order), by insertion for the few keys of a usual evDetData. */
function sortSmall(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    for (; j >= 0 && keys[j] > k; j--) keys[j + 1] = keys[j];
    keys[j + 1] = k;
  }
  return keys;
}

/** A plain object whose values are all strings, finite or not numbers, booleans, null or undefined. */
function isFlatPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    const t = typeof v;
    if (v !== null && t !== 'string' && t !== 'number' && t !== 'boolean' && t !== 'undefined') return false;
  }
  return true;
}

/**
 * Event hashes are SHA-256: the hot path of every ingest hashes each event, SHA-256 runs on the
 * CPU's SHA extensions (measured 1.4x faster than SHA-512 here) and halves the chain columns; its
 * 128-bit collision resistance is far beyond what a forger of one journal needs. The seals, which
 * anchor everything for the long term, use SHA-512 (merkle.ts).
 */
export const EVENT_HASH = 'sha256';

// One-shot hash(): no Hash object per event (twice as fast as createHash on this path).
export const sha256Hex = (text: string): string => hash(EVENT_HASH, text, 'hex');
/** The same, as the 32 bytes stored in the hash columns (binary halves what hex would add to each row). */
export const sha256Bytes = (text: string): Buffer => Buffer.from(hash(EVENT_HASH, text, 'hex'), 'hex');
