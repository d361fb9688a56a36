import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RequestThread } from '../platform/job-thread.ts';

/**
 * SQLite's WAL checkpoints, run from a thread of their own. Why: better-sqlite3 is synchronous,
 * and SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, on the
 * main thread: copying the WAL into the database and syncing it stalled the event loop for
 * 1.8 s of a 10,000-object ingest (the ingest went from ~420 to ~540 objects/s without it).
 * Instead the automatic checkpoint is off on the main connection, and while the WAL file changes
 * and is past `minWalBytes`, a PASSIVE checkpoint runs about every `intervalMs` on a second
 * connection in this thread: it never blocks the writer, and the writer restarts the WAL from its
 * start once everything in it is checkpointed. Short commands never start the thread (their WAL
 * stays small, and closing the last connection checkpoints it).
 */

// The thread's whole program (plain JS, evaluated: works the same under tsx and from a bundle).
const SOURCE = `
const { parentPort } = require('node:worker_threads');
let db;
parentPort.on('message', (m) => {
  try {
    if (m.t === 'close') {
      db?.close();
      db = undefined;
      parentPort.postMessage({ job: m.job });
      return;
    }
    if (!db) {
      const Database = require(m.module);
      db = new Database(m.path, { fileMustExist: true });
      db.pragma('busy_timeout = 0'); // a checkpoint that would wait is simply tried next time
    }
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ job: m.job });
  } catch (err) {
    parentPort.postMessage({ job: m.job, error: { message: err.message, code: err.code } });
  }
});`;

/** better-sqlite3's entry, resolved here: an evaluated thread would resolve it from the working folder. */
const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');

export class WalCheckpointer {
  private readonly thread = new RequestThread({
    source: SOURCE,
    name: 'SQLite checkpoint thread',
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  private readonly timer: NodeJS.Timeout;
  private running?: Promise<void>;
  private started = false;
  /** The WAL's modification time at the start of the last checkpoint. */
  private lastSeen = 0;

  constructor(
    private readonly path: string,
    private readonly options: { minWalBytes: number; intervalMs: number } = { minWalBytes: 4 * 2 ** 20, intervalMs: 1000 },
  ) {
    this.timer = setInterval(() => this.tick(), options.intervalMs).unref();
  }

  private tick(): void {
    if (this.running) return;
    const wal = statSync(`${this.path}-wal`, { throwIfNoEntry: false });
    if (!wal || wal.size < this.options.minWalBytes || wal.mtimeMs === this.lastSeen) return;
    this.lastSeen = wal.mtimeMs;
    this.started = true;
    this.running = this.run({ t: 'checkpoint', path: this.path, module: betterSqlite3 }).finally(() => (this.running = undefined));
  }

  /** One message to the thread; never rejects (a failed checkpoint is tried again at the next tick). */
  private async run(message: Record<string, unknown>): Promise<void> {
    await this.thread.request(message).catch(() => {});
  }

  /** Stops the timer and the thread (its connection closed first, so the main one is the last). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.started) await this.run({ t: 'close' });
    await this.thread.close();
  }
}
