import { chmod, chown, link, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir } from '../../platform/files.ts';
import type { GatewayConfig } from '../config.ts';
import { resolveOwners, type PosixOwner } from './owners.ts';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * The staging layout of seed 002: `tusd/<id>.bin|.info` while uploading; on completion both are
 * hard-linked into `public/` or `<space>/`. Directories get dirMode, files fileMode; when running
 * as root, the configured owner of the space is applied with chown.
 */
export class StagingLayout {
  readonly root: string;
  readonly tusd: string;
  readonly public: string;
  private readonly owners: ReturnType<typeof resolveOwners>;
  private readonly made = new Set<string>();

  constructor(private readonly config: GatewayConfig, dataDir: string) {
    this.root = config.stagingDir ?? join(dataDir, 'staging');
    this.tusd = join(this.root, 'tusd');
    this.public = join(this.root, 'public');
    this.owners = resolveOwners(config);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await this.ensureDir(this.tusd);
    await this.ensureDir(this.public);
  }

  bin = (id: string) => join(this.tusd, `${id}.bin`);
  info = (id: string) => join(this.tusd, `${id}.info`);
  targetDir = (space: string, isPrivate: boolean) => (isPrivate ? join(this.root, space) : this.public);

  /** Where a completed upload is published. */
  published(id: string, space: string, isPrivate: boolean) {
    const dir = this.targetDir(space, isPrivate);
    return { bin: join(dir, `${id}.bin`), info: join(dir, `${id}.info`) };
  }

  get fileMode() {
    return this.config.fileMode;
  }

  /** The owner a file of this upload gets (undefined: keep the server's). */
  ownerOf(space: string, isPrivate: boolean): PosixOwner | undefined {
    if (!isRoot()) return undefined;
    return isPrivate ? this.owners.forPrivate(space) : this.owners.forPublic(space);
  }

  /** Sets mode (umask-proof) and owner of a staging file. */
  async applyFile(path: string, space: string, isPrivate: boolean): Promise<void> {
    await chmod(path, this.config.fileMode);
    const owner = this.ownerOf(space, isPrivate);
    if (owner) await chown(path, owner.uid, owner.gid);
  }

  private async ensureDir(dir: string, owner?: PosixOwner): Promise<void> {
    if (this.made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    await chmod(dir, this.config.dirMode);
    if (owner && isRoot()) await chown(dir, owner.uid, owner.gid);
    this.made.add(dir);
  }

  /**
   * Links a completed upload's files into its space (or public/); idempotent. `alsoSync` are
   * folders whose entries must be durable too (tusd/ after the final .info was renamed there):
   * their syncs run beside the target's, so one journal commit can serve them all.
   */
  async publish(id: string, space: string, isPrivate: boolean, alsoSync: string[] = []): Promise<{ bin: string; info: string }> {
    const dir = this.targetDir(space, isPrivate);
    await this.ensureDir(dir, isPrivate ? this.owners.forSpaceDir(space) : undefined);
    const target = this.published(id, space, isPrivate);
    await Promise.all([linkReplacing(this.bin(id), target.bin), linkReplacing(this.info(id), target.info)]);
    await Promise.all([dir, ...alsoSync.filter((d) => d !== dir)].map((d) => fsyncDir(d)));
    return target;
  }

  /**
   * Writes and syncs the temp file that will replace an upload's .info (mode and owner set), so
   * that this can run while the data is being flushed; `replaceInfo` renames it into place.
   */
  async stageInfo(id: string, text: string, space: string, isPrivate: boolean): Promise<string> {
    const tmp = `${this.info(id)}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(tmp, 'wx', this.config.fileMode);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.applyFile(tmp, space, isPrivate);
    return tmp;
  }

  /** Renames a staged .info into place (atomic); the caller syncs tusd/ (see publish). */
  async replaceInfo(id: string, tmp: string): Promise<void> {
    try {
      await rename(tmp, this.info(id));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  /** Removes every file of an upload (staging and published links). */
  async remove(id: string, space: string, isPrivate: boolean): Promise<void> {
    const target = this.published(id, space, isPrivate);
    for (const p of [this.bin(id), this.info(id), target.bin, target.info]) await rm(p, { force: true });
  }
}

/** Hard-links `from` to `to`, replacing a stale `to` atomically (a retried completion). */
async function linkReplacing(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const [a, b] = await Promise.all([stat(from), stat(to)]);
    if (a.ino === b.ino && a.dev === b.dev) return;
    const tmp = `${to}.${randomBytes(4).toString('hex')}.tmp`;
    await link(from, tmp);
    try {
      await rename(tmp, to);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
}
