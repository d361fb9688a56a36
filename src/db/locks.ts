import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './tables.ts';

/**
 * Named leases in the database, shared by every process on it (several gateway nodes over one
 * staging area, several workers). A lease that is not renewed expires, so a killed holder never
 * blocks the others for longer than its time to live.
 */
export async function tryAcquireLock(db: Kysely<Database>, name: string, owner: string, ttlMs: number): Promise<boolean> {
  const now = Date.now();
  const row = await db
    .insertInto('coffre_lock')
    .values({ name, owner, expires_at: now + ttlMs })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ owner, expires_at: now + ttlMs })
        .where((eb) => eb.or([eb('coffre_lock.expires_at', '<', now), eb('coffre_lock.owner', '=', owner)])),
    )
    .returning('owner')
    .executeTakeFirst();
  return row?.owner === owner;
}

export async function releaseLock(db: Kysely<Database>, name: string, owner: string): Promise<void> {
  await db.deleteFrom('coffre_lock').where('name', '=', name).where('owner', '=', owner).execute();
}

export class LockBusyError extends Error {
  override name = 'LockBusyError';
}

/**
 * Runs `fn` while holding the named lease, renewing it in the background.
 * Throws LockBusyError at once if another owner holds it (callers decide whether to wait).
 */
export async function withLock<T>(
  db: Kysely<Database>,
  name: string,
  fn: () => Promise<T>,
  options: { ttlMs?: number; owner?: string } = {},
): Promise<T> {
  const ttlMs = options.ttlMs ?? 30_000;
  const owner = options.owner ?? randomUUID();
  if (!(await tryAcquireLock(db, name, owner, ttlMs))) throw new LockBusyError(`lock ${name} is held by another process`);
  const renew = setInterval(() => {
    tryAcquireLock(db, name, owner, ttlMs).catch(() => {});
  }, Math.max(1000, ttlMs / 3));
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await releaseLock(db, name, owner).catch(() => {});
  }
}
