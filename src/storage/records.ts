import type { CoffreDb } from '../db/index.ts';
import { RowWriter } from '../db/row-writer.ts';
import type { StorageCopyTable, StorageObjectTable } from './tables.ts';

export interface ObjectRecord {
  object: StorageObjectTable;
  copies: StorageCopyTable[];
}

const OBJECT_UPDATE = ['strategy_id', 'size', 'digest', 'digest_algorithm', 'status', 'updated_at'];
const COPY_UPDATE = ['size', 'digest', 'written_at'];

/**
 * Writes the records of objects and copies. Records of writes that finish at about the same time
 * share one transaction (the row writer's group commit); each caller's promise resolves only once
 * its records are committed, so a write is never reported before its record exists. An object
 * written again keeps its first created_at.
 */
export class RecordWriter {
  private readonly rows: RowWriter;

  constructor(cdb: CoffreDb) {
    this.rows = new RowWriter(cdb);
  }

  save(record: ObjectRecord): Promise<void> {
    return this.rows.write([
      { table: 'storage_object', rows: [record.object as unknown as Record<string, unknown>], conflict: ['container', 'id'], update: OBJECT_UPDATE },
      { table: 'storage_copy', rows: record.copies as unknown as Record<string, unknown>[], conflict: ['container', 'object_id', 'offer_id'], update: COPY_UPDATE },
    ]);
  }

  drain(): Promise<void> {
    return this.rows.flush();
  }
}
