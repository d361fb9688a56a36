import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the storage component, in order; never edit a released migration, add one. */
export const storageMigrations: CoffreMigration[] = [
  {
    name: 'storage_0001_objects_copies',
    async up(db) {
      await db.schema
        .createTable('storage_object')
        .addColumn('container', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('strategy_id', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('digest_algorithm', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('storage_object_pk', ['container', 'id'])
        .execute();
      await db.schema.createIndex('storage_object_strategy').on('storage_object').columns(['strategy_id']).execute();
      await db.schema
        .createTable('storage_copy')
        .addColumn('container', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('written_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('storage_copy_pk', ['container', 'object_id', 'offer_id'])
        .execute();
      await db.schema.createIndex('storage_copy_offer').on('storage_copy').columns(['offer_id']).execute();
    },
  },
];
