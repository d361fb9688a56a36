import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the storage component, in order; never edit a released migration, add one. */
export const storageMigrations: CoffreMigration[] = [];
