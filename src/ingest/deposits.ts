import type { Transaction } from 'kysely';
import type { Database } from '../db/index.ts';
import type { BusMessage } from '../bus/index.ts';
import { createOperation } from './workflow/coordinator.ts';

/** The part of `deposit.completed` the ingest reads (the gateway's DepositCompleted). */
interface DepositMessage {
  id: string;
  space: string;
  metadata?: Record<string, string>;
  size?: number;
  paths?: { bin?: string };
}

const TRUE = new Set(['true', '1', 'yes']);

/**
 * `deposit.completed` → an ingest operation when the upload's metadata says `ingest=true`
 * (optionally `strategy=…`). Runs in the bus cursor's transaction, and the deposit id is unique
 * on operations: one operation per deposit, whatever the redeliveries.
 */
export function depositHandler(workflowId: string, defaultStrategy: string, onCreated: () => void) {
  return async (message: BusMessage, trx: Transaction<Database>) => {
    const d = message.payload as DepositMessage;
    const meta = d.metadata ?? {};
    if (!TRUE.has(String(meta.ingest ?? '').toLowerCase())) return;
    if (!d.paths?.bin) return;
    const { created } = await createOperation(trx, {
      workflowId,
      depositId: d.id,
      space: d.space,
      submitter: meta.submitter ?? undefined,
      params: {
        packagePath: d.paths.bin,
        packageName: meta.filename ?? meta.name ?? d.id,
        packageSize: d.size,
        strategy: meta.strategy || defaultStrategy,
        depositId: d.id,
      },
    });
    if (created) setTimeout(onCreated, 20).unref();
  };
}
