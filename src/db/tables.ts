import type { GatewayTables } from '../gateway/tables.ts';
import type { StorageTables } from '../storage/tables.ts';
import type { LogbookTables } from '../logbook/tables.ts';
import type { IngestTables } from '../ingest/tables.ts';

/** The outbox: every bus message, written in the transaction of the change it announces. */
export interface OutboxTable {
  id: number;
  topic: string;
  /** JSON. */
  payload: string;
  created_at: string;
}

/** Where each named subscriber stands in the outbox. */
export interface BusCursorTable {
  subscriber: string;
  last_id: number;
  updated_at: string;
}

/** Named locks with a lease (upload locks, singleton jobs), shared by every node. */
export interface LockTable {
  name: string;
  owner: string;
  expires_at: number;
}

export interface CoreTables {
  outbox: OutboxTable;
  bus_cursor: BusCursorTable;
  coffre_lock: LockTable;
}

/** Every table of Coffre, as Kysely sees it. */
export interface Database extends CoreTables, GatewayTables, StorageTables, LogbookTables, IngestTables {}
