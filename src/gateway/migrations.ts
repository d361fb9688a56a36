import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the gateway component, in order; never edit a released migration, add one. */
export const gatewayMigrations: CoffreMigration[] = [];
