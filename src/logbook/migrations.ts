import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the logbook component, in order; never edit a released migration, add one. */
export const logbookMigrations: CoffreMigration[] = [];
