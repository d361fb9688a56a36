import type { FastifyInstance } from 'fastify';
import type { PlatformContext } from '../platform/context.ts';
import { UserError } from '../platform/errors.ts';
import type { Principal } from '../auth/index.ts';
import type { IngestOperationTable } from '../ingest/tables.ts';

/** What `GET /api/v1/operations/{id}` answers. */
export interface OperationView {
  operationId: string;
  workflow: string;
  /** RUNNING, or the final status once the workflow ended (OK, WARNING, KO, FATAL). */
  status: string;
  state: string;
  depositId: string | null;
  createdAt: string;
  updatedAt: string;
  steps: Array<{ name: string; status: string; items?: number; actions?: Record<string, { status: string; counts: Record<string, number> }> }>;
  report: unknown;
  /** SEDA ArchiveTransferReply, for SEDA packages once finished. */
  replyXml: string | null;
}

/** The token that submitted an operation (its subject, or its space for deposits) and admins may see it. */
export function canSee(p: Principal, op: Pick<IngestOperationTable, 'submitter' | 'space'>): boolean {
  if (p.admin) return true;
  if (op.submitter && op.submitter === p.subject) return true;
  return Boolean(op.space && p.space && op.space === p.space);
}

export function operationView(op: IngestOperationTable, stepNames: string[]): OperationView {
  const steps = JSON.parse(op.steps) as Array<{ name: string; status?: string; started?: boolean; items?: number; actions?: Record<string, { status: string; counts: Record<string, number> }> }>;
  return {
    operationId: op.id,
    workflow: op.workflow,
    status: op.state === 'DONE' ? op.outcome : 'RUNNING',
    state: op.state,
    depositId: op.deposit_id,
    createdAt: op.created_at,
    updatedAt: op.updated_at,
    steps: stepNames.map((name, i) => {
      const s = steps[i];
      return { name, status: s?.status ?? (s?.started ? 'STARTED' : 'PENDING'), items: s?.items, actions: s?.actions };
    }),
    report: op.report ? JSON.parse(op.report) : null,
    replyXml: op.reply_xml,
  };
}

/**
 * The access API of operations:
 *   GET /api/v1/operations/{id}               status, steps and report (404 to anyone else)
 *   GET /api/v1/deposits/{uploadId}/operation  the operation a deposit became (404 until it exists)
 */
export function operationRoutes(app: FastifyInstance, ctx: PlatformContext, stepsOf: (workflow: string) => string[]): void {
  const principal = (req: { headers: Record<string, unknown> }) => ctx.verifier.verifyHeader(req.headers.authorization as string | undefined);

  app.get<{ Params: { id: string } }>('/api/v1/operations/:id', async (req) => {
    const p = await principal(req);
    const op = await ctx.cdb.db.selectFrom('ingest_operation').selectAll().where('id', '=', req.params.id).executeTakeFirst();
    if (!op || !canSee(p, op)) throw new UserError(404, 'OPERATION_NOT_FOUND', `no operation ${req.params.id}`);
    return operationView(op, stepsOf(op.workflow));
  });

  app.get<{ Params: { id: string } }>('/api/v1/deposits/:id/operation', async (req) => {
    const p = await principal(req);
    const op = await ctx.cdb.db.selectFrom('ingest_operation').select(['id', 'submitter', 'space', 'state', 'outcome']).where('deposit_id', '=', req.params.id).executeTakeFirst();
    if (!op || !canSee(p, op)) throw new UserError(404, 'OPERATION_NOT_FOUND', `deposit ${req.params.id} has no ingest operation (yet)`);
    return { operationId: op.id, status: op.state === 'DONE' ? op.outcome : 'RUNNING' };
  });
}
