import { BlockReader } from './block-reader.ts';

/** Packages kept open once nobody reads them (the most recently used ones). */
const IDLE_OPEN = 8;

interface Shared {
  reader: Promise<BlockReader>;
  users: number;
  /** Close once the last reader is done (its workspace was removed, or it left the idle set). */
  doomed: boolean;
}

/**
 * Open package files shared by the reads of the entries left in them. Storing 10,000 small
 * objects opened, read and closed the package 10,000 times (three thread-pool round trips and a
 * stream each); one handle per package now serves every read, closed when its workspace is
 * removed or when it has been idle among more than IDLE_OPEN others. Reads go through the
 * package's cached blocks (block-reader.ts): the small objects of a batch lie next to each other
 * in the package, so one 256 KiB read serves dozens of them instead of a thread-pool round trip
 * each.
 */
export class PackageFiles {
  private readonly files = new Map<string, Shared>();

  /** `length` bytes at `position` of the package (fewer at its end), the caller's own. */
  async read(path: string, position: number, length: number): Promise<Buffer> {
    const shared = this.acquire(path);
    try {
      const reader = await shared.reader;
      // A copy: readAt answers with a view of a cached block that other reads share, and the
      // caller (a plugin) owns what it gets.
      return Buffer.from(await reader.readAt(position, length));
    } finally {
      this.release(shared);
    }
  }

  /** Closes the package's handle (at once, or after the reads in flight). */
  forget(path: string): void {
    const shared = this.files.get(path);
    if (!shared) return;
    this.files.delete(path);
    shared.doomed = true;
    if (shared.users === 0) close(shared);
  }

  private acquire(path: string): Shared {
    let shared = this.files.get(path);
    if (shared) {
      // Most recently used last.
      this.files.delete(path);
    } else {
      shared = { reader: BlockReader.open(path).then((r) => r.hold()), users: 0, doomed: false };
      shared.reader.catch(() => this.files.get(path) === shared && this.files.delete(path));
    }
    this.files.set(path, shared);
    shared.users++;
    this.evictIdle();
    return shared;
  }

  private release(shared: Shared): void {
    shared.users--;
    if (shared.users === 0 && shared.doomed) close(shared);
    else this.evictIdle();
  }

  private evictIdle(): void {
    let excess = this.files.size - IDLE_OPEN;
    for (const [path, shared] of this.files) {
      if (excess <= 0) break;
      if (shared.users > 0) continue;
      this.files.delete(path);
      shared.doomed = true;
      close(shared);
      excess--;
    }
  }
}

function close(shared: Shared): void {
  shared.reader.then((r) => r.release(), () => {}).catch(() => {});
}
