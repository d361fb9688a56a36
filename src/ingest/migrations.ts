import type { CoffreMigration } from '../db/migration.ts';

/** Schema of the ingest component (queue included), in order; never edit a released migration, add one. */
export const ingestMigrations: CoffreMigration[] = [
  {
    name: 'ingest_0001_queue',
    async up(db, t) {
      await db.schema
        .createTable('queue_job')
        .addColumn('id', t.serial, (c) => c.primaryKey())
        .addColumn('queue', 'text', (c) => c.notNull())
        .addColumn('job_key', 'text', (c) => c.notNull().unique())
        .addColumn('operation_id', 'text')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('lease_until', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('queue_job_ready').on('queue_job').columns(['queue', 'state', 'id']).execute();
      await db.schema.createIndex('queue_job_operation').on('queue_job').columns(['operation_id']).execute();
    },
  },
  {
    name: 'ingest_0002_operations',
    async up(db) {
      await db.schema
        .createTable('ingest_operation')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('step_index', 'integer', (c) => c.notNull())
        .addColumn('rejected', 'integer', (c) => c.notNull())
        .addColumn('steps', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('deposit_id', 'text', (c) => c.unique())
        .addColumn('submitter', 'text')
        .addColumn('space', 'text')
        .addColumn('report', 'text')
        .addColumn('reply_xml', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ingest_operation_state').on('ingest_operation').columns(['state']).execute();
      await db.schema
        .createTable('ingest_item')
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('item_id', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ingest_item_pk', ['operation_id', 'kind', 'seq'])
        .execute();
    },
  },
  {
    name: 'ingest_0003_metadata',
    async up(db) {
      await db.schema
        .createTable('archive_unit')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('parent_ids', 'text', (c) => c.notNull())
        .addColumn('title', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('archive_unit_operation').on('archive_unit').columns(['operation_id']).execute();
      await db.schema
        .createTable('object_group')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('unit_ids', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('object_group_operation').on('object_group').columns(['operation_id']).execute();
      await db.schema
        .createTable('archive_object')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('path', 'text')
        .addColumn('physical', 'integer', (c) => c.notNull())
        .addColumn('size', 'bigint')
        .addColumn('digest', 'text')
        .addColumn('digest_algorithm', 'text')
        .addColumn('format_id', 'text')
        .addColumn('mime_type', 'text')
        .addColumn('strategy_id', 'text')
        .addColumn('stored', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('archive_object_operation').on('archive_object').columns(['operation_id']).execute();
      await db.schema
        .createTable('object_copy')
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('size', 'bigint')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('object_copy_pk', ['object_id', 'offer_id'])
        .execute();
    },
  },
];
