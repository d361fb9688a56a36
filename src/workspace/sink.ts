import { createHash, type Hash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WorkspaceError } from './errors.ts';
import { checkEntryName } from './names.ts';
import type { UnpackLimits } from './config.ts';

export type DigestAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'];

/** One unpacked file: its workspace path (relative, `/`-separated), real size and digests (hex). */
export interface WorkspaceFile {
  path: string;
  size: number;
  digests: Partial<Record<DigestAlgorithm, string>>;
  /**
   * Set when the file was left inside the package (a STORED zip entry): its bytes are
   * `size` bytes at this offset of the package file, read by range instead of copied.
   */
  inPackage?: { offset: number };
  /**
   * The format identified from the file's first bytes while unpacking (UnpackOptions.identify):
   * null when not identified; absent when no identification was asked for.
   */
  format?: ContentFormat | null;
}

/** A format identified from content (a PRONOM id for the SIP component's identification). */
export interface ContentFormat {
  puid: string;
  mimeType: string;
  name: string;
}

/** Identifies a format from a file's first bytes (at most `bytes` of them). */
export interface ContentIdentifier {
  bytes: number;
  identify(head: Buffer): ContentFormat | undefined;
}

export type EntryType = 'file' | 'directory' | 'link' | 'special';

/**
 * Receives the entries of one archive, whatever its format: checks each name and type, keeps the
 * counts and sizes under the limits while bytes flow (real bytes, not header claims), writes each
 * file under `dest` and digests it in the same pass.
 */
export class UnpackSink {
  readonly files: WorkspaceFile[] = [];
  private readonly seen = new Map<string, 'file' | 'dir' | 'implicit'>();
  private readonly madeDirs = new Set<string>();
  private entries = 0;
  private total = 0;

  constructor(
    private readonly dest: string,
    private readonly limits: UnpackLimits,
    private readonly packageSize: number,
    private readonly algorithms: readonly DigestAlgorithm[],
    private readonly fsync: boolean,
    private readonly identifier?: ContentIdentifier,
  ) {}

  get totalSize(): number {
    return this.total;
  }
  get entryCount(): number {
    return this.entries;
  }

  /** Checks an entry before any of its bytes are read; returns its normalised name. */
  admit(rawName: string, type: EntryType): string {
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new WorkspaceError('TOO_MANY_ENTRIES', `the package has more than ${this.limits.maxEntries} entries`, rawName);
    }
    const name = checkEntryName(rawName, this.limits);
    if (type === 'link') throw new WorkspaceError('LINK_ENTRY', 'links are not accepted in a package', rawName);
    if (type === 'special') throw new WorkspaceError('SPECIAL_ENTRY', 'only files and folders are accepted in a package', rawName);
    this.claim(name, type === 'directory' ? 'dir' : 'file', rawName);
    return name;
  }

  private claim(name: string, kind: 'file' | 'dir', rawName: string): void {
    const previous = this.seen.get(name);
    if (previous !== undefined && !(kind === 'dir' && previous === 'implicit')) {
      throw new WorkspaceError('DUPLICATE_ENTRY', previous === 'file' || kind === 'file'
        ? 'a file and another entry have the same name' : 'the same folder appears twice', rawName);
    }
    this.seen.set(name, kind);
    // Every parent must be (or become) a folder, never a file.
    for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
      const parent = name.slice(0, i);
      const p = this.seen.get(parent);
      if (p === 'file') throw new WorkspaceError('DUPLICATE_ENTRY', `"${parent}" is both a file and a folder`, rawName);
      if (p !== undefined) break;
      this.seen.set(parent, 'implicit');
    }
  }

  async makeDirectory(name: string): Promise<void> {
    await this.mkdirOnce(join(this.dest, name));
  }

  /**
   * Streams one file's bytes to disk. `compressedSize` (zip) lets the per-entry ratio be judged
   * while inflating, so that a bomb is stopped after `ratioThreshold` bytes, not at the end.
   */
  async writeFile(name: string, source: AsyncIterable<Buffer>, compressedSize?: number): Promise<WorkspaceFile> {
    // The slot is taken before any await, so the listing keeps archive order even when several
    // files are written at once.
    const slot = this.files.length;
    this.files.push(undefined as unknown as WorkspaceFile);
    const target = join(this.dest, name);
    await this.mkdirOnce(dirname(target));
    const handle = await open(target, 'wx');
    let file: WorkspaceFile;
    try {
      file = await this.consume(name, source, compressedSize, async (chunk) => {
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      });
      if (this.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    this.files[slot] = file;
    return file;
  }

  /**
   * A file left inside the package (STORED zip entry): its bytes are read once, here, to count
   * them against the limits and digest them; nothing is written. `expectedSize` is what the
   * archive declares: fewer or more real bytes make the archive corrupt.
   */
  async keepInPackage(name: string, source: AsyncIterable<Buffer>, offset: number, expectedSize: number): Promise<WorkspaceFile> {
    const slot = this.files.length;
    this.files.push(undefined as unknown as WorkspaceFile);
    const file = await this.consume(name, source, expectedSize, undefined);
    if (file.size !== expectedSize) {
      throw new WorkspaceError('CORRUPT_ARCHIVE', `the entry holds ${file.size} bytes, its header says ${expectedSize}`, name);
    }
    file.inPackage = { offset };
    this.files[slot] = file;
    return file;
  }

  /**
   * Counts (limits on real bytes) and digests a file's bytes, handing each chunk to `write`; with
   * an identifier, identifies its format from the first bytes of the same pass (no second read).
   */
  private async consume(name: string, source: AsyncIterable<Buffer>, compressedSize: number | undefined, write: ((chunk: Buffer) => Promise<void>) | undefined): Promise<WorkspaceFile> {
    const hashes: Hash[] = this.algorithms.map((a) => createHash(a));
    const sniff = this.identifier?.bytes ?? 0;
    const head: Buffer[] = [];
    let headSize = 0;
    let size = 0;
    for await (const chunk of source) {
      size += chunk.length;
      this.total += chunk.length;
      this.checkLimits(name, size, compressedSize);
      for (const h of hashes) h.update(chunk);
      if (headSize < sniff) {
        const part = chunk.subarray(0, sniff - headSize);
        head.push(part);
        headSize += part.length;
      }
      if (write) await write(chunk);
    }
    const digests: WorkspaceFile['digests'] = {};
    this.algorithms.forEach((a, i) => (digests[a] = hashes[i].digest('hex')));
    const file: WorkspaceFile = { path: name, size, digests };
    if (this.identifier) file.format = this.identifier.identify(head.length === 1 ? head[0] : Buffer.concat(head)) ?? null;
    return file;
  }

  private checkLimits(name: string, size: number, compressedSize: number | undefined): void {
    const l = this.limits;
    if (size > l.maxEntrySize) throw new WorkspaceError('TOO_LARGE', `file is larger than ${l.maxEntrySize} bytes`, name);
    if (this.total > l.maxTotalSize) {
      throw new WorkspaceError('TOO_LARGE', `the package unpacks to more than ${l.maxTotalSize} bytes`, name);
    }
    if (compressedSize !== undefined && size > l.ratioThreshold && size / Math.max(compressedSize, 1) > l.maxEntryRatio) {
      throw new WorkspaceError('RATIO_EXCEEDED',
        `compression ratio above ${l.maxEntryRatio} (${compressedSize} compressed bytes inflate past ${size})`, name);
    }
    if (this.total > l.ratioThreshold && this.total / Math.max(this.packageSize, 1) > l.maxTotalRatio) {
      throw new WorkspaceError('RATIO_EXCEEDED',
        `the package (${this.packageSize} bytes) unpacks past ${this.total} bytes, a ratio above ${l.maxTotalRatio}`, name);
    }
  }

  private async mkdirOnce(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }
}
