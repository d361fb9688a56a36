import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import tar from 'tar-stream';
import { WorkspaceError } from './errors.ts';
import type { EntryType, UnpackSink } from './sink.ts';
import { BlockReader } from './block-reader.ts';

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

/** Tells a zip, a tar or a gzipped tar apart from their first bytes. */
export async function detectArchiveKind(path: string): Promise<ArchiveKind> {
  const handle = await openFile(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) {
      return 'zip';
    }
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
    if (bytesRead === 512 && (head.toString('latin1', 257, 262) === 'ustar' || tarChecksumOk(head))) return 'tar';
    throw new WorkspaceError('UNKNOWN_ARCHIVE_FORMAT', 'the package is neither a zip nor a tar (nor a tar.gz) archive');
  } finally {
    await handle.close();
  }
}

/** A pre-POSIX tar header has no magic; its checksum is what identifies it. */
function tarChecksumOk(header: Buffer): boolean {
  const stored = parseInt(header.toString('latin1', 148, 156).replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum === stored;
}

function corrupt(err: unknown, entry?: string): WorkspaceError {
  if (err instanceof WorkspaceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WorkspaceError('CORRUPT_ARCHIVE', `unreadable archive: ${message}`, entry);
}

/** The type of a zip entry, from the Unix mode its creator may have stored. */
function zipEntryType(entry: yauzl.Entry, name: string): EntryType {
  const madeOnUnix = entry.versionMadeBy >> 8 === 3;
  const mode = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0o170000 : 0;
  if (mode === 0o120000) return 'link';
  if (mode === 0o040000 || (mode === 0 && name.endsWith('/'))) return 'directory';
  if (mode === 0o100000 || mode === 0) return name.endsWith('/') ? 'directory' : 'file';
  return 'special';
}

/**
 * Streams every entry of a zip into the sink, one at a time (never a whole entry in memory).
 * STORED (uncompressed) entries of at least `inPackageMinSize` bytes are not copied: they stay in
 * the package, read once by range to be counted and digested (see UnpackSink.keepInPackage).
 */
export async function unpackZip(path: string, sink: UnpackSink, maxEntries: number, inPackageMinSize = Infinity): Promise<void> {
  // One reader for yauzl and the entries left in the package: small reads share cached blocks.
  const reader = await BlockReader.open(path);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(reader, reader.size, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false });
  } catch (err) {
    reader.release(); // yauzl took a reference it does not give back on failure; this closes the file
    throw corrupt(err);
  }
  try {
    if (zip.entryCount > maxEntries) {
      throw new WorkspaceError('TOO_MANY_ENTRIES', `the package declares ${zip.entryCount} entries, more than ${maxEntries}`);
    }
    for (;;) {
      const entry = await nextZipEntry(zip);
      if (entry === undefined) break;
      const raw = yauzl.getFileNameLowLevel(
        entry.generalPurposeBitFlag, entry.fileName as unknown as Buffer, entry.extraFields, true);
      const type = zipEntryType(entry, raw);
      const name = sink.admit(raw, type);
      if (entry.isEncrypted()) throw new WorkspaceError('ENCRYPTED_ENTRY', 'encrypted entries are not accepted', raw);
      if (type === 'directory') {
        await sink.makeDirectory(name);
        continue;
      }
      if (entry.compressionMethod === 0 && entry.uncompressedSize >= inPackageMinSize) {
        await keepStoredEntry(reader, entry, name, raw, sink);
        continue;
      }
      let stream: Readable;
      try {
        stream = await openZipEntry(zip, entry);
      } catch (err) {
        throw corrupt(err, raw);
      }
      try {
        await sink.writeFile(name, stream, entry.compressedSize);
      } catch (err) {
        stream.destroy();
        throw corrupt(err, raw);
      }
    }
  } finally {
    zip.close(); // releases the reader (and its file) once no entry stream holds it
  }
}

/** Where a STORED entry's bytes start: after its local header (signature checked). */
async function storedDataOffset(reader: BlockReader, entry: yauzl.Entry, raw: string): Promise<number> {
  const header = await reader.readAt(entry.relativeOffsetOfLocalHeader, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== 0x04034b50) {
    throw new WorkspaceError('CORRUPT_ARCHIVE', 'unreadable archive: invalid local file header', raw);
  }
  return entry.relativeOffsetOfLocalHeader + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
}

async function keepStoredEntry(reader: BlockReader, entry: yauzl.Entry, name: string, raw: string, sink: UnpackSink): Promise<void> {
  if (entry.compressedSize !== entry.uncompressedSize) {
    throw new WorkspaceError('CORRUPT_ARCHIVE', `unreadable archive: a stored entry of ${entry.uncompressedSize} bytes occupies ${entry.compressedSize}`, raw);
  }
  try {
    const offset = await storedDataOffset(reader, entry, raw);
    // The range ends where the header says; a truncated package yields fewer bytes (refused).
    await sink.keepInPackage(name, reader.range(offset, entry.uncompressedSize), offset, entry.uncompressedSize);
  } catch (err) {
    throw corrupt(err, raw);
  }
}

function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry) => (cleanup(), resolve(e));
    const onEnd = () => (cleanup(), resolve(undefined));
    const onError = (err: Error) => (cleanup(), reject(corrupt(err)));
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

function openZipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
}

const TAR_TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'link',
  link: 'link',
};

/** Streams every entry of a tar (gzipped or not) into the sink. */
export async function unpackTar(path: string, gzipped: boolean, sink: UnpackSink): Promise<void> {
  const extract = tar.extract();
  const source = createReadStream(path);
  const feeding = (gzipped ? pipeline(source, createGunzip(), extract) : pipeline(source, extract)).catch((err) => {
    extract.destroy(err);
  });
  let raw: string | undefined;
  try {
    for await (const entry of extract) {
      raw = entry.header.name;
      const type = TAR_TYPES[entry.header.type ?? 'file'] ?? 'special';
      const name = sink.admit(raw, type);
      if (type === 'directory') {
        await sink.makeDirectory(name);
        entry.resume();
        continue;
      }
      await sink.writeFile(name, entry as unknown as AsyncIterable<Buffer>);
    }
  } catch (err) {
    source.destroy();
    throw corrupt(err, raw);
  } finally {
    await feeding;
  }
}
