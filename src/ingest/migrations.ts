import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the ingest component, in order; never edit a released migration, add one. */
export const ingestMigrations: CoffreMigration[] = [];
