import type { CoffreMigration } from './migration.ts';
import { gatewayMigrations } from '../gateway/migrations.ts';
import { storageMigrations } from '../storage/migrations.ts';
import { logbookMigrations } from '../logbook/migrations.ts';
import { ingestMigrations } from '../ingest/migrations.ts';

const coreMigrations: CoffreMigration[] = [
  {
    name: '0001_core_outbox_locks',
    async up(db, t) {
      await db.schema
        .createTable('outbox')
        .addColumn('id', t.serial, (c) => c.primaryKey())
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('bus_cursor')
        .addColumn('subscriber', 'text', (c) => c.primaryKey())
        .addColumn('last_id', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('coffre_lock')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
];

/**
 * Every migration in the order they run. Components own their lists; names are prefixed
 * with the component so that they sort and never collide.
 */
export const allMigrations: CoffreMigration[] = [
  ...coreMigrations,
  ...gatewayMigrations,
  ...storageMigrations,
  ...logbookMigrations,
  ...ingestMigrations,
];
