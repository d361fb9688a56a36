import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.ts';
import type { StorageCopyTable, StorageObjectTable } from './tables.ts';

export interface ObjectRecord {
  object: StorageObjectTable;
  copies: StorageCopyTable[];
}

/**
 * Writes the records of objects and copies. Records of writes that finish at about the same time
 * are group-committed: the first waits for nothing, the ones arriving meanwhile share the next
 * transaction. Each caller's promise resolves only once its records are committed, so a write is
 * never reported before its record exists.
 */
export class RecordWriter {
  private pending: { record: ObjectRecord; resolve(): void; reject(err: unknown): void }[] = [];
  private flushing?: Promise<void>;

  constructor(private readonly db: Kysely<Database>, private readonly batchSize: number) {}

  save(record: ObjectRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.flushing) this.flushing = this.loop();
    });
  }

  private async loop(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, this.batchSize);
        try {
          await this.commit(batch.map((b) => b.record));
          batch.forEach((b) => b.resolve());
        } catch (err) {
          batch.forEach((b) => b.reject(err));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async commit(records: ObjectRecord[]): Promise<void> {
    // One row per key in a statement (PostgreSQL refuses to update a row twice in one upsert).
    const objects = new Map<string, StorageObjectTable>();
    const copies = new Map<string, StorageCopyTable>();
    for (const r of records) {
      const prev = objects.get(`${r.object.container}\0${r.object.id}`);
      objects.set(`${r.object.container}\0${r.object.id}`, prev ? { ...r.object, created_at: prev.created_at } : r.object);
      for (const c of r.copies) copies.set(`${c.container}\0${c.object_id}\0${c.offer_id}`, c);
    }
    await this.db.transaction().execute(async (trx) => {
      for (const chunk of chunks([...objects.values()], 100)) {
        await trx
          .insertInto('storage_object')
          .values(chunk)
          .onConflict((oc) =>
            oc.columns(['container', 'id']).doUpdateSet((eb) => ({
              strategy_id: eb.ref('excluded.strategy_id'),
              size: eb.ref('excluded.size'),
              digest: eb.ref('excluded.digest'),
              digest_algorithm: eb.ref('excluded.digest_algorithm'),
              status: eb.ref('excluded.status'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      for (const chunk of chunks([...copies.values()], 150)) {
        await trx
          .insertInto('storage_copy')
          .values(chunk)
          .onConflict((oc) =>
            oc.columns(['container', 'object_id', 'offer_id']).doUpdateSet((eb) => ({
              size: eb.ref('excluded.size'),
              digest: eb.ref('excluded.digest'),
              written_at: eb.ref('excluded.written_at'),
            })),
          )
          .execute();
      }
    });
  }

  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}

function* chunks<T>(items: T[], size: number): Iterable<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
