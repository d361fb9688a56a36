import type { ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { WorkspaceError } from './errors.ts';
import { checkEntryName } from './names.ts';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits, type WorkspaceConfig } from './config.ts';
import { UnpackSink, type ContentIdentifier, type DigestAlgorithm, type WorkspaceFile } from './sink.ts';
import { detectArchiveKind, unpackTar, unpackZip, type ArchiveKind } from './archives.ts';
import { PackageFiles } from './package-files.ts';

export interface UnpackOptions {
  /** Digests computed while unpacking (default sha256). */
  digests?: readonly DigestAlgorithm[];
  /** Skip detection when the caller knows the format. */
  kind?: ArchiveKind;
  /**
   * Identify each file's format from its first bytes during the same pass (listed as `format`),
   * so that no later step opens every file again to read its head.
   */
  identify?: ContentIdentifier;
}

export interface UnpackResult {
  kind: ArchiveKind;
  /** Every file, in archive order (folders are not listed). */
  files: WorkspaceFile[];
  /** Archive entries, folders included. */
  entries: number;
  totalSize: number;
  /** The digests each file carries. */
  digests: DigestAlgorithm[];
  /** True when an earlier run had already unpacked this operation's package (replay). */
  reused: boolean;
}

/** Where a workspace file's bytes are: a whole file, or a range of the package. */
export interface FileLocation {
  file: string;
  start: number;
  size: number;
}

/** Files left inside the package (`unpacked/in-package.json`): name → offset and size. */
interface InPackageIndex {
  packagePath: string;
  files: Record<string, { offset: number; size: number }>;
}
const NO_FILES_IN_PACKAGE: InPackageIndex = { packagePath: '', files: {} };
const INDEX_CACHE_SIZE = 16;

const SAFE_OPERATION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UNPACKED = 'unpacked';
const OUTPUT = 'output';

/** Where every operation's workspace lives, and the limits their packages unpack under. */
export class Workspaces {
  readonly root: string;
  readonly limits: UnpackLimits;
  readonly fsync: boolean;
  readonly inPackageMinSize: number;
  /** In-package indexes of recent operations (one read per operation, not per file). */
  private readonly indexes = new Map<string, Promise<InPackageIndex>>();
  /** Package files kept open for the reads of the entries left in them. */
  private readonly packages = new PackageFiles();

  constructor(options: { root: string; limits?: Partial<UnpackLimits>; fsync?: boolean; inPackageMinSize?: number }) {
    this.root = options.root;
    this.limits = { ...DEFAULT_UNPACK_LIMITS, ...options.limits };
    this.fsync = options.fsync ?? false;
    this.inPackageMinSize = options.inPackageMinSize ?? Infinity;
  }

  /** From the platform configuration: `workspace.root` or <dataDir>/workspace. */
  static fromConfig(config: { dataDir: string; workspace: WorkspaceConfig }): Workspaces {
    return new Workspaces({
      root: config.workspace.root ?? join(config.dataDir, 'workspace'),
      limits: config.workspace.unpack,
      fsync: config.workspace.fsync,
      inPackageMinSize: config.workspace.keepStoredEntries ? config.workspace.inPackageMinSize : Infinity,
    });
  }

  /** The workspace of one operation (nothing is created until it is used). */
  open(operationId: string): Workspace {
    if (!SAFE_OPERATION_ID.test(operationId)) {
      throw new WorkspaceError('INVALID_OPERATION_ID', 'an operation id is 1-128 letters, digits, ".", "_" or "-"', operationId);
    }
    return new Workspace(operationId, join(this.root, operationId), this.limits, this.fsync, this.inPackageMinSize, this.indexCache(operationId), this.packages);
  }

  private indexCache(operationId: string): IndexCache {
    return {
      get: (load) => {
        let p = this.indexes.get(operationId);
        if (!p) {
          p = load();
          // Only a published workspace's index is kept (a missing one may appear later).
          p.then((ix) => ix === NO_FILES_IN_PACKAGE && this.indexes.get(operationId) === p && this.indexes.delete(operationId), () => this.indexes.delete(operationId));
          this.indexes.set(operationId, p);
          if (this.indexes.size > INDEX_CACHE_SIZE) this.indexes.delete(this.indexes.keys().next().value!);
        }
        return p;
      },
      forget: () => void this.indexes.delete(operationId),
    };
  }

  /** Operation ids that have a workspace. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}

/**
 * One operation's working area:
 *   <root>/<operationId>/unpacked/content/…   the package's files (published by one rename)
 *   <root>/<operationId>/unpacked/listing.json sizes and digests computed while unpacking
 *   <root>/<operationId>/output/…              results written by the workflow's steps
 */
interface IndexCache {
  get(load: () => Promise<InPackageIndex>): Promise<InPackageIndex>;
  forget(): void;
}

export class Workspace {
  constructor(
    readonly operationId: string,
    readonly dir: string,
    private readonly limits: UnpackLimits,
    private readonly fsync: boolean,
    private readonly inPackageMinSize = Infinity,
    private readonly cache?: IndexCache,
    private readonly packages?: PackageFiles,
  ) {}

  /** Folder holding the package's files. */
  get contentDir(): string {
    return join(this.dir, UNPACKED, 'content');
  }

  /**
   * Unpacks a zip, tar or tar.gz safely. Replay-safe: files go to a temporary folder that is
   * renamed into place only once complete; a second call after success returns the stored
   * listing (reused: true) without reading the package again, and leftovers of an interrupted
   * run are removed first. One unpack per operation at a time: the caller holds the
   * operation's lease (a concurrent run would remove the other's temporary folder).
   */
  async unpack(packagePath: string, options: UnpackOptions = {}): Promise<UnpackResult> {
    const existing = await this.listing();
    if (existing) return { ...existing, reused: true };
    await mkdir(this.dir, { recursive: true });
    await this.removeLeftovers();
    const algorithms: DigestAlgorithm[] = [...new Set<DigestAlgorithm>(options.digests ?? ['sha256'])];
    const kind = options.kind ?? (await detectArchiveKind(packagePath));
    const packageSize = (await stat(packagePath)).size;
    const temp = join(this.dir, `.unpack-${randomBytes(6).toString('hex')}`);
    const content = join(temp, 'content');
    await mkdir(content, { recursive: true });
    try {
      const sink = new UnpackSink(content, this.limits, packageSize, algorithms, this.fsync, options.identify);
      if (kind === 'zip') await unpackZip(packagePath, sink, this.limits.maxEntries, this.inPackageMinSize);
      else await unpackTar(packagePath, kind === 'tar.gz', sink);
      const result: UnpackResult = {
        kind, files: sink.files, entries: sink.entryCount, totalSize: sink.totalSize, digests: algorithms, reused: false,
      };
      const index: InPackageIndex = { packagePath: resolvePath(packagePath), files: {} };
      for (const f of sink.files) if (f.inPackage) index.files[f.path] = { offset: f.inPackage.offset, size: f.size };
      await writeDurably(join(temp, 'in-package.json'), JSON.stringify(index), this.fsync);
      await writeDurably(join(temp, 'listing.json'), JSON.stringify(result), this.fsync);
      try {
        await rename(temp, join(this.dir, UNPACKED));
      } catch (err) {
        // Another run published first: its result stands (same package, same operation).
        const code = (err as NodeJS.ErrnoException).code;
        const published = code === 'ENOTEMPTY' || code === 'EEXIST' ? await this.listing() : undefined;
        if (!published) throw err;
        await rm(temp, { recursive: true, force: true });
        return { ...published, reused: true };
      }
      if (this.fsync) await syncDir(this.dir);
      return result;
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The listing of a completed unpack, or undefined. */
  async listing(): Promise<UnpackResult | undefined> {
    try {
      const text = await readFile(join(this.dir, UNPACKED, 'listing.json'), 'utf8');
      return JSON.parse(text) as UnpackResult;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Absolute path of a package file, after checking the name cannot leave the workspace. */
  resolve(relativePath: string): string {
    return join(this.contentDir, checkEntryName(relativePath, this.limits));
  }

  /**
   * Where a package file's bytes are: its own file in the workspace, or a range of the package
   * for an entry left in it. NOT_FOUND when it is absent.
   */
  async locate(relativePath: string): Promise<FileLocation> {
    const path = this.resolve(relativePath);
    const kept = (await this.inPackageIndex()).files[checkEntryName(relativePath, this.limits)];
    if (kept) return { file: (await this.inPackageIndex()).packagePath, start: kept.offset, size: kept.size };
    return { file: path, start: 0, size: await this.size(relativePath) };
  }

  private inPackageIndex(): Promise<InPackageIndex> {
    const load = async (): Promise<InPackageIndex> => {
      try {
        return JSON.parse(await readFile(join(this.dir, UNPACKED, 'in-package.json'), 'utf8')) as InPackageIndex;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NO_FILES_IN_PACKAGE;
        throw err;
      }
    };
    return this.cache ? this.cache.get(load) : load();
  }

  /** Size of a package file; NOT_FOUND when it is absent. */
  async size(relativePath: string): Promise<number> {
    const path = this.resolve(relativePath);
    const kept = (await this.inPackageIndex()).files[checkEntryName(relativePath, this.limits)];
    if (kept) return kept.size;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new WorkspaceError('NOT_FOUND', 'not a file in the workspace', relativePath);
      return s.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new WorkspaceError('NOT_FOUND', 'no such file in the workspace', relativePath);
      throw err;
    }
  }

  /** A read stream of a package file (optionally a byte range, `end` inclusive). */
  async openRead(relativePath: string, range: { start?: number; end?: number } = {}): Promise<ReadStream> {
    const path = this.resolve(relativePath);
    const index = await this.inPackageIndex();
    const kept = index.files[checkEntryName(relativePath, this.limits)];
    if (kept) {
      // A range of the package: the entry's bytes only, whatever range is asked.
      const handle = await open(index.packagePath, 'r');
      const start = kept.offset + Math.min(range.start ?? 0, kept.size);
      const end = kept.offset + Math.min(range.end ?? kept.size - 1, kept.size - 1);
      return handle.createReadStream({ start, end: Math.max(end, start - 1), highWaterMark: 256 * 1024 });
    }
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') throw new WorkspaceError('NOT_FOUND', 'no such file in the workspace', relativePath);
      throw err;
    });
    // The stream owns the handle and closes it (autoClose), once.
    return handle.createReadStream({ start: range.start, end: range.end, highWaterMark: 256 * 1024 });
  }

  /**
   * The whole bytes of a package file, for small files (check the size first): one read — of the
   * package, through a handle shared with the other reads of it, for an entry left in it.
   */
  async readBytes(relativePath: string): Promise<Buffer> {
    const name = checkEntryName(relativePath, this.limits);
    const index = await this.inPackageIndex();
    const kept = index.files[name];
    if (kept && this.packages) return this.packages.read(index.packagePath, kept.offset, kept.size);
    if (kept) return Buffer.concat((await (await this.openRead(relativePath)).toArray()) as Buffer[]);
    try {
      return await readFile(this.resolve(relativePath));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') throw new WorkspaceError('NOT_FOUND', 'no such file in the workspace', relativePath);
      throw err;
    }
  }

  /** Writes a step's result under output/ atomically (temp file then rename). */
  async writeOutput(name: string, data: string | Uint8Array): Promise<string> {
    const path = join(this.dir, OUTPUT, checkEntryName(name, this.limits));
    await mkdir(join(path, '..'), { recursive: true });
    const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    await writeDurably(temp, data, this.fsync);
    await rename(temp, path);
    return path;
  }

  /** Reads a step's result from output/; undefined when absent. */
  async readOutput(name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.dir, OUTPUT, checkEntryName(name, this.limits)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Removes the whole workspace (idempotent). */
  async remove(): Promise<void> {
    if (this.packages) {
      const index = await this.inPackageIndex().catch(() => NO_FILES_IN_PACKAGE);
      if (index.packagePath) this.packages.forget(index.packagePath);
    }
    this.cache?.forget();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async removeLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.unpack-')) await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}

async function writeDurably(path: string, data: string | Uint8Array, fsync: boolean): Promise<void> {
  if (!fsync) return writeFile(path, data);
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
