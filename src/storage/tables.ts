/** Tables owned by the storage component (Kysely row types). */

/** Every object the engine wrote: what it should be, wherever it is. */
export interface StorageObjectTable {
  container: string;
  id: string;
  strategy_id: string;
  size: number;
  digest: string;
  digest_algorithm: string;
  /** 'OK' when every active offer held a verified copy after the last write, else 'KO'. */
  status: string;
  created_at: string;
  updated_at: string;
}

/** One verified copy of an object on an offer. */
export interface StorageCopyTable {
  container: string;
  object_id: string;
  offer_id: string;
  size: number;
  digest: string;
  written_at: string;
}

export interface StorageTables {
  storage_object: StorageObjectTable;
  storage_copy: StorageCopyTable;
}
