import type { CreateTableBuilder } from 'kysely';
import type { CoffreMigration, ColumnTypes } from '../db/migration.ts';

function eventColumns<T extends string>(b: CreateTableBuilder<T, any>, t: ColumnTypes) {
  return b
    .addColumn('seq', t.serial, (c) => c.primaryKey())
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('ev_id', 'text', (c) => c.notNull())
    .addColumn('ev_parent_id', 'text')
    .addColumn('ev_type', 'text', (c) => c.notNull())
    .addColumn('ev_date_time', 'text', (c) => c.notNull())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('ev_type_proc', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('out_detail', 'text', (c) => c.notNull())
    .addColumn('out_messg', 'text', (c) => c.notNull())
    .addColumn('ag_id', 'text', (c) => c.notNull())
    .addColumn('ob_id', 'text')
    .addColumn('ev_det_data', 'text')
    .addColumn('ev_id_reqst', 'text')
    .addColumn('ag_id_app', 'text');
}

/** Schema of the logbook component, in order; never edit a released migration, add one. */
export const logbookMigrations: CoffreMigration[] = [
  {
    name: 'logbook_0001_journals',
    async up(db, t) {
      await db.schema
        .createTable('logbook_operation')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('ev_type', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('application', 'text')
        .addColumn('ob_id', 'text')
        .execute();
      await db.schema.createIndex('logbook_operation_started').on('logbook_operation').columns(['started_at']).execute();
      await db.schema
        .createTable('logbook_operation_end')
        .addColumn('operation_id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text', (c) => c.notNull())
        .addColumn('closing_ev_id', 'text', (c) => c.notNull())
        .execute();
      await eventColumns(db.schema.createTable('logbook_op_event'), t)
        .addColumn('hash', t.blob, (c) => c.notNull())
        .addColumn('prev_hash', t.blob)
        .execute();
      // One position per chain: a forked chain (two writers) fails instead of branching.
      await db.schema.createIndex('logbook_op_event_chain').on('logbook_op_event').columns(['operation_id', 'idx']).unique().execute();
      await eventColumns(db.schema.createTable('logbook_lfc_event'), t)
        .addColumn('lfc_kind', 'text', (c) => c.notNull())
        .addColumn('lfc_id', 'text', (c) => c.notNull())
        .addColumn('step_id', 'text', (c) => c.notNull())
        .addColumn('hash', t.blob, (c) => c.notNull())
        .addColumn('prev_hash', t.blob)
        .execute();
      await db.schema.createIndex('logbook_lfc_event_chain').on('logbook_lfc_event').columns(['lfc_kind', 'lfc_id', 'idx']).unique().execute();
      await db.schema.createIndex('logbook_lfc_event_op').on('logbook_lfc_event').columns(['operation_id', 'step_id']).execute();
      await db.schema
        .createTable('logbook_step')
        .addColumn('seq', t.serial, (c) => c.primaryKey())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('step_id', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('hash', t.blob, (c) => c.notNull())
        .addColumn('prev_hash', t.blob)
        .execute();
      await db.schema.createIndex('logbook_step_chain').on('logbook_step').columns(['operation_id', 'idx']).unique().execute();
      await db.schema
        .createTable('logbook_seal')
        .addColumn('n', 'integer', (c) => c.primaryKey())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('ranges', 'text', (c) => c.notNull())
        .addColumn('leaf_count', 'bigint', (c) => c.notNull())
        .addColumn('merkle_root', 'text', (c) => c.notNull())
        .addColumn('prev_seal_root', 'text')
        .addColumn('month_seal_root', 'text')
        .addColumn('year_seal_root', 'text')
        .addColumn('seal_root', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('proof_id', 'text', (c) => c.notNull())
        .addColumn('proof_size', 'bigint', (c) => c.notNull())
        .addColumn('tsa_token', 'text')
        .execute();
      await db.schema
        .createTable('logbook_export')
        .addColumn('n', 'integer', (c) => c.primaryKey())
        .addColumn('operation_id', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('logbook_export_done')
        .addColumn('n', 'integer', (c) => c.primaryKey())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('written_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
];
