import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncFolder, fsyncFolders } from './folders.ts';
import { SyncThread, type SyncJob } from './sync-thread.ts';
import type { PendingObject, PendingObjects } from './pending.ts';
import type { WriteLog } from './write-log.ts';

/**
 * Why holds and checkpoints. A put must be durable when it answers: its bytes, and a name for
 * them. Its real names (`<leaf>/<id>` and the digest link) live in a folder of their own in the
 * hashed layout, and making them durable at once cost one or more folder syncs per object per
 * offer. Instead, the temp file the bytes were written to is kept — "held" — in the offer's temp
 * folder, and the write log's record names it: the log's datasync and one sync of the temp
 * folder, both shared by a whole batch of puts, make the bytes and a name for them durable. Should
 * the real names be lost in a crash, the replay at the next start (recovery.ts) links them again
 * from the held temp files. A small object goes further: its bytes are written with its record,
 * into a segment beside the log (inline-segments.ts), and its own file is left to the checkpoint
 * (pending.ts): a file's sync costs about as much for 4 KiB as for a megabyte, and its four system
 * calls cost the event loop more than the checkpoint's thread.
 *
 * A checkpoint writes the pending small objects' files (on its thread), syncs them and the
 * distinct folders the writes changed (one syncfs, or one sync per file and folder), unlinks the
 * held temp files, syncs the temp folder, writes a checkpoint line telling the replay where to
 * start, and removes the segments whose objects are all written. A hold is released only after
 * the folders holding its names are synced, so a crash at any point leaves every acknowledged
 * object with a durable name.
 */

/**
 * When checkpoints run: once `holds` writes are held, or `ms` after the oldest unreleased hold,
 * and at the last close. Neither changes what is durable when a put answers; they bound the temp
 * folder's size and the replay's work. Tests set them out of reach to see the replay work.
 * Checkpoints that write small objects' files run on the sync thread; the others, with fewer
 * than `threadMinDirs` folders to sync, on the event loop: the sync thread (a V8 isolate, ~9 MB)
 * is started only for a steady flow of small objects, never for a few big ones.
 */
export const checkpointPolicy = { holds: 2048, ms: 500, threadMinDirs: 64 };
/** Folder syncs under way at once when a checkpoint runs on the event loop (the pool has four threads). */
const CHECKPOINT_PARALLEL_SYNCS = 2;
/** Writes wait for the running checkpoint once this many are held (when checkpoints fall behind). */
const MAX_HELD_FACTOR = 4;

interface Held {
  sequence: number;
  container: string;
  id: string;
  /** Name of the held temp file in the temp folder (a streamed write). */
  hold?: string;
  /** A small object whose file this checkpoint writes from its segment (see pending.ts). */
  pending?: PendingObject;
  /** Folders whose entries this write changed (its leaf, and its parents when not known durable). */
  dirs: string[];
}

export class Checkpointer {
  private held: Held[] = [];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private failure?: unknown;
  /** Folders whose own entry in their parent is durable: writes to them sync only themselves. */
  readonly durableDirs = new Set<string>();
  private thread?: SyncThread = new SyncThread();

  constructor(
    private readonly log: WriteLog,
    private readonly tmpDir: string,
    private readonly pending: PendingObjects,
  ) {}

  /** Resolves when no checkpoint is running (a remove of an object being written waits for it). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Records a write whose log record is durable; its hold is released by a later checkpoint.
   * Returns a promise to wait for when checkpoints fall behind (the temp folder must not grow
   * without end), undefined otherwise.
   */
  add(entry: Held): Promise<void> | undefined {
    this.held.push(entry);
    if (this.held.length >= checkpointPolicy.holds) this.start();
    else this.arm();
    if (this.held.length >= checkpointPolicy.holds * MAX_HELD_FACTOR && this.running) return this.running;
    return undefined;
  }

  /** Starts the timer of the next checkpoint, unless one is set (or checkpoints wait for close). */
  private arm(): void {
    if (this.timer || !Number.isFinite(checkpointPolicy.ms)) return;
    this.timer = setTimeout(() => this.start(), checkpointPolicy.ms).unref();
  }

  /**
   * Unlinks the held temp files of an object being removed (its entries stay: the checkpoint
   * still syncs their folders, and finds the temp files gone).
   */
  dropHolds(container: string, id: string): void {
    for (const h of this.held) {
      if (h.container !== container || h.id !== id || !h.hold) continue;
      try {
        unlinkSync(join(this.tmpDir, h.hold));
      } catch {
        // already gone
      }
    }
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || !this.held.length) return;
    this.running = this.run()
      .catch((err) => {
        // The holds stay held (a replay will redo them); the next checkpoint tries again.
        this.failure = err;
      })
      .finally(() => {
        this.running = undefined;
        if (this.held.length >= checkpointPolicy.holds) this.start();
        else if (this.held.length) this.arm();
      });
  }

  private async run(): Promise<void> {
    const batch = this.held;
    this.held = [];
    const dirs = new Set<string>();
    for (const h of batch) for (const d of h.dirs) dirs.add(d);
    // Every folder is under the offer's root, so on the temp folder's filesystem (links cannot cross filesystems).
    const holds = batch.flatMap((h) => (h.hold ? [join(this.tmpDir, h.hold)] : []));
    // Small objects still to write: not those removed (or written again) since their put.
    const placed = batch.flatMap((h) => (h.pending && this.pending.get(h.pending.container, h.pending.id) === h.pending ? [h.pending] : []));
    for (const p of placed) p.taken = true;
    const place = placed.map((p) => ({ segment: p.segment, offset: p.offset, size: p.size, file: p.file, link: p.link }));
    const job = { place, files: placed.map((p) => p.file), dirs: [...dirs], syncfs: this.tmpDir, unlink: holds, after: holds.length ? [this.tmpDir] : [] };
    try {
      await this.sync(job);
    } catch (err) {
      for (const p of placed) p.taken = false;
      this.held = batch.concat(this.held);
      throw err;
    }
    for (const p of placed) this.pending.delete(p);
    for (const d of dirs) this.durableDirs.add(d);
    if (this.durableDirs.size > 100_000) this.durableDirs.clear(); // a bound; forgetting only costs syncs
    this.log.release(batch.map((h) => h.sequence));
    const from = this.log.firstUnreleased();
    await this.log.appendCheckpoint({ checkpoint: new Date().toISOString(), from });
    this.log.releaseSegments(from);
  }

  /**
   * Writes the small objects' files, syncs them and the folders, then unlinks the held temp files
   * (the objects keep their other names: no inode is freed), then syncs the temp folder, so that
   * its entries are durable before the line that says the holds are gone. On the sync thread when
   * there are files to write or many folders; on the event loop otherwise, or if the thread
   * cannot run (small objects' files wait for a thread that can).
   */
  private async sync(job: SyncJob): Promise<void> {
    if (job.place.length) {
      // Small objects' files are written on the thread only; if it failed, a new one takes over.
      this.thread ??= new SyncThread();
      try {
        return await this.thread.run(job);
      } catch (err) {
        if (!(err as NodeJS.ErrnoException).code) this.thread = undefined;
        throw err; // the checkpoint failed: its objects stay pending, the next one tries again
      }
    }
    if (this.thread && job.dirs.length >= checkpointPolicy.threadMinDirs) {
      try {
        return await this.thread.run(job);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code) throw err; // a filesystem error: the checkpoint failed
        this.thread = undefined; // the thread itself failed: go on without it
      }
    }
    await fsyncFolders(job.dirs, CHECKPOINT_PARALLEL_SYNCS);
    for (let i = 0; i < job.unlink.length; i++) {
      try {
        unlinkSync(job.unlink[i]);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // removed meanwhile
      }
      if (i % 256 === 255) await new Promise((r) => setImmediate(r)); // let the event loop turn
    }
    for (const d of job.after) await fsyncFolder(d);
  }

  /** Runs checkpoints until nothing is held, then stops the sync thread (at the last close). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.failure = undefined;
    try {
      while (this.running || this.held.length) {
        if (!this.running) this.start();
        await this.running;
        if (this.failure) throw this.failure;
      }
    } finally {
      await this.thread?.close();
    }
  }
}
