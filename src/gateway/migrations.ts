import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the gateway component, in order; never edit a released migration, add one. */
export const gatewayMigrations: CoffreMigration[] = [
  {
    name: 'gateway_0001_uploads',
    async up(db) {
      await db.schema
        .createTable('gateway_upload')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('space', 'text', (c) => c.notNull())
        .addColumn('private', 'integer', (c) => c.notNull())
        .addColumn('length', 'bigint')
        .addColumn('upload_offset', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('concat', 'text')
        .addColumn('parts', 'text')
        .addColumn('digest_algorithm', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('completed_at', 'text')
        .execute();
      await db.schema.createIndex('gateway_upload_space').on('gateway_upload').columns(['space', 'status']).execute();
      await db.schema.createIndex('gateway_upload_expiry').on('gateway_upload').columns(['status', 'expires_at']).execute();
    },
  },
];
