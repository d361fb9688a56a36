/** Tables owned by the logbook component (Kysely row types). */
export interface LogbookTables {}
