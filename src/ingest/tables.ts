/** Tables owned by the ingest component (Kysely row types). */
export interface IngestTables {}
