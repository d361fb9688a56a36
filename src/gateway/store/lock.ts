import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CoffreDb } from '../../db/index.ts';
import { releaseLock, tryAcquireLock } from '../../db/index.ts';
import { TusError } from '../tus/protocol.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One lock per upload: an in-process mutex (cheap, ordered) plus a lease in the database, so
 * that several gateway nodes over one staging area never write one upload at the same time.
 * Lease owners are "<nodeId>:<uuid>": a restarted node takes back its own stale leases at once
 * instead of waiting for them to expire after a kill -9.
 */
export class UploadLocks {
  private readonly local = new Map<string, Promise<void>>();

  constructor(
    private readonly cdb: CoffreDb,
    private readonly nodeId: string,
    private readonly ttlMs: number,
    private readonly waitMs: number,
  ) {}

  /** Drops leases this node held before it restarted (they belong to dead requests). */
  async reclaimStale(): Promise<void> {
    await this.cdb.db
      .deleteFrom('coffre_lock')
      .where('name', 'like', 'gateway.upload:%')
      .where(sql<boolean>`substr(owner, 1, ${this.nodeId.length + 1}) = ${this.nodeId + ':'}`)
      .execute();
  }

  /** Runs fn while holding the upload's lock; waits up to lockWait, then answers 423. */
  async with<T>(id: string, fn: () => Promise<T>, options: { wait?: boolean } = {}): Promise<T> {
    const deadline = Date.now() + (options.wait === false ? 0 : this.waitMs);
    const busy = () => new TusError(423, 'UPLOAD_LOCKED', 'another request is writing this upload; retry in a moment');
    while (this.local.has(id)) {
      const left = deadline - Date.now();
      if (left <= 0) throw busy();
      await Promise.race([this.local.get(id), sleep(Math.min(left, 200))]);
    }
    let release!: () => void;
    this.local.set(id, new Promise<void>((r) => (release = r)));
    try {
      const name = `gateway.upload:${id}`;
      const owner = `${this.nodeId}:${randomUUID()}`;
      while (!(await tryAcquireLock(this.cdb.db, name, owner, this.ttlMs))) {
        if (Date.now() >= deadline) throw busy();
        await sleep(100);
      }
      const renew = setInterval(() => void tryAcquireLock(this.cdb.db, name, owner, this.ttlMs).catch(() => {}), Math.max(500, this.ttlMs / 3));
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await releaseLock(this.cdb.db, name, owner).catch(() => {});
      }
    } finally {
      this.local.delete(id);
      release();
    }
  }
}
