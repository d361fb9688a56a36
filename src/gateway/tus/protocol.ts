/** Constants and header parsing of the tus 1.0.0 protocol (protocol.md). */

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'expiration',
  'checksum',
  'checksum-trailer',
  'termination',
  'concatenation',
  'concatenation-unfinished',
];
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'sha512', 'md5'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
export const OFFSET_CONTENT_TYPE = 'application/offset+octet-stream';

/** Request headers a browser client may send (CORS preflight). */
export const ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'Origin', 'X-Requested-With', 'X-Request-ID', 'X-HTTP-Method-Override',
  'Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length', 'Upload-Concat', 'Upload-Checksum',
];
/** Response headers a browser client must be able to read. */
export const EXPOSED_HEADERS = [
  'Location', 'Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size', 'Tus-Checksum-Algorithm',
  'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Defer-Length', 'Upload-Concat', 'Upload-Expires',
];

/** A protocol answer other than success: status, stable code, message, and tus headers to carry. */
export class TusError extends Error {
  override name = 'TusError';
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const DIGITS = /^\d{1,16}$/;

/** A non-negative integer header (Upload-Length, Upload-Offset); undefined when absent. */
export function parseNonNegative(value: string | string[] | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!DIGITS.test(text.trim())) throw new TusError(400, 'INVALID_HEADER', `${name} must be a non-negative integer, got "${text}"`);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n)) throw new TusError(400, 'INVALID_HEADER', `${name} is too large`);
  return n;
}

/**
 * Parses Upload-Metadata: comma-separated "key base64value" pairs; keys unique, non-empty, with
 * no space or comma; values valid Base64 (may be empty, then the space may be left out).
 */
export function parseMetadata(header: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (header === undefined || header.trim() === '') return result;
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    if (parts.length > 2) throw new TusError(400, 'INVALID_METADATA', `Upload-Metadata pair "${pair.trim()}" has more than one space`);
    const [key, value = ''] = parts;
    if (!key) throw new TusError(400, 'INVALID_METADATA', 'Upload-Metadata has an empty key');
    if (Object.hasOwn(result, key)) throw new TusError(400, 'INVALID_METADATA', `Upload-Metadata key "${key}" appears twice`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
      throw new TusError(400, 'INVALID_METADATA', `Upload-Metadata value of "${key}" is not Base64`);
    }
    result[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return result;
}

/** Parses Upload-Checksum: "<algorithm> <base64 digest>". */
export function parseChecksum(header: string): { algorithm: ChecksumAlgorithm; digest: Buffer } {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!m) throw new TusError(400, 'INVALID_CHECKSUM', 'Upload-Checksum must be "<algorithm> <base64 digest>"');
  const algorithm = m[1] as ChecksumAlgorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm)) {
    throw new TusError(400, 'CHECKSUM_ALGORITHM_UNSUPPORTED', `checksum algorithm "${m[1]}" is not supported (use ${CHECKSUM_ALGORITHMS.join(', ')})`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(m[2])) throw new TusError(400, 'INVALID_CHECKSUM', 'the Upload-Checksum digest is not Base64');
  return { algorithm, digest: Buffer.from(m[2], 'base64') };
}

/** Parses Upload-Concat: "partial" or "final;<url> <url>…". */
export function parseConcat(header: string | undefined): { kind: 'partial' } | { kind: 'final'; urls: string[] } | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text === 'partial') return { kind: 'partial' };
  if (text.startsWith('final;')) {
    const urls = text.slice('final;'.length).trim().split(/ +/).filter(Boolean);
    if (urls.length === 0) throw new TusError(400, 'INVALID_CONCAT', 'Upload-Concat: final; lists no partial upload');
    return { kind: 'final', urls };
  }
  throw new TusError(400, 'INVALID_CONCAT', 'Upload-Concat must be "partial" or "final;<url> <url>…"');
}

/** RFC 7231 date (Upload-Expires). */
export const httpDate = (iso: string): string => new Date(iso).toUTCString();
