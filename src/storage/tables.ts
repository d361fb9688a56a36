/** Tables owned by the storage component (Kysely row types). */
export interface StorageTables {}
