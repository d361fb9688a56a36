import type { CoffreDb } from '../../src/db/index.ts';
import { createOperation } from '../../src/ingest/workflow/coordinator.ts';
import type { TestPlatform } from '../helpers/platform.ts';

/** Submits a package file as an ingest operation directly (what the deposit subscriber does). */
export async function submit(platform: TestPlatform, packagePath: string, options: { strategy?: string; space?: string } = {}): Promise<string> {
  const { id } = await createOperation(platform.ctx.cdb.db, {
    workflowId: 'PROCESS_SIP_UNITARY',
    space: options.space ?? 'demo',
    params: { packagePath, packageName: packagePath.split('/').pop(), strategy: options.strategy ?? 'default' },
  });
  (platform.ctx.services.get('ingest') as { queue: { notify(): void } }).queue.notify();
  return id;
}

export async function waitForOperation(cdb: CoffreDb, id: string, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const op = await cdb.db.selectFrom('ingest_operation').selectAll().where('id', '=', id).executeTakeFirst();
    if (op?.state === 'DONE') return op;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`operation ${id} did not finish in ${timeoutMs} ms`);
}

/** `evType:outcome` of an operation's journal, in order. */
export async function journalTrail(cdb: CoffreDb, operationId: string): Promise<string[]> {
  const rows = await cdb.db.selectFrom('logbook_op_event').select(['ev_type', 'outcome', 'ob_id']).where('operation_id', '=', operationId).orderBy('idx').execute();
  return rows.map((r) => `${r.ev_type}:${r.outcome}`);
}
