import { open } from 'node:fs/promises';

/**
 * Format identification from content (magic bytes), returning PRONOM identifiers. A small,
 * documented table, not DROID/Siegfried: enough to check what a package declares for common
 * formats. Where PRONOM splits a format by version and the bytes show the version (PDF, GIF,
 * JFIF) the version's PUID is given; otherwise the generic one, as noted.
 *
 * | format | PUID | how |
 * |---|---|---|
 * | PDF 1.0 … 1.7, 2.0 | fmt/14, fmt/15, fmt/16, fmt/17, fmt/18, fmt/19, fmt/20, fmt/276, fmt/1129 | `%PDF-1.x` header |
 * | PNG | fmt/11 (PNG 1.0; 1.1 and 1.2 not told apart) | 89 50 4E 47 0D 0A 1A 0A |
 * | JPEG (JFIF 1.00 / 1.01 / 1.02) | fmt/42 / fmt/43 / fmt/44 | FF D8 FF + JFIF APP0 version |
 * | JPEG (Exif, or raw stream) | fmt/645 (Exif 2.2.1, version not read) / fmt/41 | FF D8 FF + Exif APP1 / other |
 * | GIF 87a / 89a | fmt/3 / fmt/4 | `GIF87a` / `GIF89a` |
 * | TIFF | fmt/353 | `II*\0` or `MM\0*` |
 * | ODF text / spreadsheet / presentation | fmt/291 / fmt/295 / fmt/293 (ODF 1.2; versions not told apart) | zip whose first entry is `mimetype` |
 * | OOXML docx / xlsx / pptx | fmt/412 / fmt/214 / fmt/215 | zip with `[Content_Types].xml` and a `word/`, `xl/` or `ppt/` part near the start |
 * | ZIP | x-fmt/263 | `PK\3\4` (other zips) |
 * | GZIP | x-fmt/266 | 1F 8B |
 * | XML 1.0 | fmt/101 | `<?xml` (after an optional BOM) |
 * | Plain text | x-fmt/111 | valid UTF-8 (or ASCII) without control characters other than tab/CR/LF/FF |
 */
export interface FormatIdentity {
  /** PRONOM unique identifier, e.g. fmt/276. */
  puid: string;
  mimeType: string;
  name: string;
}

/** How many leading bytes identification looks at. */
export const FORMAT_SNIFF_BYTES = 8192;

const PDF_PUIDS: Record<string, string> = {
  '1.0': 'fmt/14', '1.1': 'fmt/15', '1.2': 'fmt/16', '1.3': 'fmt/17', '1.4': 'fmt/18',
  '1.5': 'fmt/19', '1.6': 'fmt/20', '1.7': 'fmt/276', '2.0': 'fmt/1129',
};
const ODF: Record<string, FormatIdentity> = {
  'application/vnd.oasis.opendocument.text': { puid: 'fmt/291', mimeType: 'application/vnd.oasis.opendocument.text', name: 'OpenDocument Text' },
  'application/vnd.oasis.opendocument.spreadsheet': { puid: 'fmt/295', mimeType: 'application/vnd.oasis.opendocument.spreadsheet', name: 'OpenDocument Spreadsheet' },
  'application/vnd.oasis.opendocument.presentation': { puid: 'fmt/293', mimeType: 'application/vnd.oasis.opendocument.presentation', name: 'OpenDocument Presentation' },
};

const starts = (b: Buffer, sig: number[] | string, offset = 0) => {
  const bytes = typeof sig === 'string' ? Buffer.from(sig, 'latin1') : Buffer.from(sig);
  return b.length >= offset + bytes.length && b.subarray(offset, offset + bytes.length).equals(bytes);
};

/** Identifies a format from the first bytes of a file (FORMAT_SNIFF_BYTES are enough). */
export function identifyFormat(head: Buffer): FormatIdentity | undefined {
  if (starts(head, '%PDF-')) {
    const version = /^%PDF-(\d\.\d)/.exec(head.toString('latin1', 0, 16))?.[1];
    return { puid: (version && PDF_PUIDS[version]) || 'fmt/276', mimeType: 'application/pdf', name: `Portable Document Format${version ? ` ${version}` : ''}` };
  }
  if (starts(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { puid: 'fmt/11', mimeType: 'image/png', name: 'Portable Network Graphics' };
  if (starts(head, [0xff, 0xd8, 0xff])) {
    if (starts(head, 'JFIF\0', 6)) {
      const puid = { 0: 'fmt/42', 1: 'fmt/43', 2: 'fmt/44' }[head[12]] ?? 'fmt/44';
      return { puid, mimeType: 'image/jpeg', name: `JPEG File Interchange Format 1.0${head[12]}` };
    }
    if (starts(head, 'Exif\0', 6)) return { puid: 'fmt/645', mimeType: 'image/jpeg', name: 'Exchangeable Image File Format (Compressed)' };
    return { puid: 'fmt/41', mimeType: 'image/jpeg', name: 'Raw JPEG Stream' };
  }
  if (starts(head, 'GIF87a')) return { puid: 'fmt/3', mimeType: 'image/gif', name: 'Graphics Interchange Format 87a' };
  if (starts(head, 'GIF89a')) return { puid: 'fmt/4', mimeType: 'image/gif', name: 'Graphics Interchange Format 89a' };
  if (starts(head, [0x49, 0x49, 0x2a, 0x00]) || starts(head, [0x4d, 0x4d, 0x00, 0x2a])) return { puid: 'fmt/353', mimeType: 'image/tiff', name: 'Tagged Image File Format' };
  if (starts(head, [0x50, 0x4b, 0x03, 0x04])) return identifyZip(head);
  if (starts(head, [0x1f, 0x8b])) return { puid: 'x-fmt/266', mimeType: 'application/gzip', name: 'GZIP Format' };
  const body = starts(head, [0xef, 0xbb, 0xbf]) ? head.subarray(3) : head;
  if (/^\s*<\?xml[\s?]/.test(body.toString('latin1', 0, 64))) return { puid: 'fmt/101', mimeType: 'application/xml', name: 'Extensible Markup Language 1.0' };
  if (head.length > 0 && isPlainText(head)) return { puid: 'x-fmt/111', mimeType: 'text/plain', name: 'Plain Text File' };
  return undefined;
}

function identifyZip(head: Buffer): FormatIdentity {
  // ODF: the first entry is an uncompressed "mimetype" whose content is the media type.
  const nameLength = head.readUInt16LE(26);
  const extraLength = head.readUInt16LE(28);
  const firstName = head.toString('latin1', 30, 30 + nameLength);
  if (firstName === 'mimetype') {
    const start = 30 + nameLength + extraLength;
    const size = head.readUInt32LE(18);
    const media = head.toString('latin1', start, start + Math.min(size, 100));
    if (ODF[media]) return ODF[media];
  }
  const text = head.toString('latin1');
  if (text.includes('[Content_Types].xml')) {
    if (text.includes('word/')) return { puid: 'fmt/412', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', name: 'Microsoft Word for Windows 2007 onwards' };
    if (text.includes('xl/')) return { puid: 'fmt/214', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', name: 'Microsoft Excel for Windows 2007 onwards' };
    if (text.includes('ppt/')) return { puid: 'fmt/215', mimeType: 'application/vnd.openxmlformats-officedocument.presentationml.presentation', name: 'Microsoft Powerpoint for Windows 2007 onwards' };
  }
  return { puid: 'x-fmt/263', mimeType: 'application/zip', name: 'ZIP Format' };
}

function isPlainText(head: Buffer): boolean {
  for (const byte of head) if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c) return false;
  // Valid UTF-8, allowing a sequence cut at the end of the sniffed window.
  const decoded = new TextDecoder('utf-8', { fatal: false }).decode(head);
  const bad = decoded.indexOf('\uFFFD');
  return bad === -1 || bad >= decoded.length - 2;
}

/** Reads the first bytes of a file and identifies it. */
export async function identifyFile(path: string, start = 0, size = Infinity): Promise<FormatIdentity | undefined> {
  const handle = await open(path, 'r');
  try {
    // A range of a larger file (an entry left in its package): never read past its end.
    const head = Buffer.alloc(Math.max(0, Math.min(FORMAT_SNIFF_BYTES, size)));
    const { bytesRead } = await handle.read(head, 0, head.length, start);
    return identifyFormat(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
