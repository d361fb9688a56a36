import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const NAME = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'names are in capitals (A-Z, 0-9, _)');

const actionSchema = z
  .object({
    name: NAME,
    /** BLOCKING: an item whose action ends KO/FATAL skips the step's next actions. */
    behavior: z.enum(['BLOCKING', 'NOBLOCKING']).default('BLOCKING'),
    /** Extra worker parameters given to the plugin. */
    parameters: z.record(z.string(), z.unknown()).default({}),
    /** Write `LFC.<ACTION>` lifecycle events for the items (seed 004); false for actions that write their own. */
    lifecycle: z.boolean().default(true),
  })
  .strict();

const stepSchema = z
  .object({
    name: NAME,
    /** BLOCKING: KO/FATAL stops the workflow; NOBLOCKING: go on; FINALLY: always runs, last. */
    behavior: z.enum(['BLOCKING', 'NOBLOCKING', 'FINALLY']),
    distribution: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('REF') }).strict(),
      z
        .object({
          kind: z.literal('LIST'),
          items: z.enum(['objectgroup', 'unit']),
          batchSize: z.number().int().positive().default(100),
          /** Items of a batch in flight at once in a worker (default: ingest.itemConcurrency). */
          concurrency: z.number().int().positive().optional(),
        })
        .strict(),
    ]),
    actions: z.array(actionSchema).min(1),
  })
  .strict();

export const workflowSchema = z
  .object({
    id: NAME,
    /** Operation type in the journals (INGEST…). */
    type: NAME,
    name: z.string().optional(),
    steps: z.array(stepSchema).min(1),
  })
  .strict()
  .superRefine((wf, ctx) => {
    const seen = new Set<string>();
    wf.steps.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `step ${s.name} appears twice` });
      seen.add(s.name);
    });
    const firstFinally = wf.steps.findIndex((s) => s.behavior === 'FINALLY');
    if (firstFinally >= 0 && wf.steps.slice(firstFinally).some((s) => s.behavior !== 'FINALLY')) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'FINALLY steps must come last' });
    }
  });

export type Workflow = z.output<typeof workflowSchema>;
export type WorkflowStep = Workflow['steps'][number];
export type WorkflowAction = WorkflowStep['actions'][number];

export class WorkflowError extends Error {
  override name = 'WorkflowError';
}

export function parseWorkflow(json: unknown, source: string): Workflow {
  const r = workflowSchema.safeParse(json);
  if (!r.success) {
    throw new WorkflowError(`workflow ${source} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

export function loadWorkflowFile(file: string): Workflow {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WorkflowError(`cannot read workflow ${file}: ${(err as Error).message}`);
  }
  return parseWorkflow(json, file);
}

export const DEFAULT_INGEST_WORKFLOW_FILE = fileURLToPath(new URL('../../../workflows/ingest.json', import.meta.url));

/** The workflows a platform runs, by id. */
export class WorkflowRegistry {
  private readonly byId = new Map<string, Workflow>();

  constructor(workflows: Workflow[]) {
    for (const w of workflows) this.byId.set(w.id, w);
  }

  get(id: string): Workflow {
    const w = this.byId.get(id);
    if (!w) throw new WorkflowError(`unknown workflow ${id}`);
    return w;
  }

  /** Every action name used, to check that a plugin handles each one. */
  actions(): string[] {
    return [...new Set([...this.byId.values()].flatMap((w) => w.steps.flatMap((s) => s.actions.map((a) => a.name))))];
  }
}
