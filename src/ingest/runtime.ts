import { setFlagsFromString } from 'node:v8';
import type { PlatformContext } from '../platform/context.ts';
import type { Logbook } from '../logbook/api.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { JobQueue } from '../queue/index.ts';
import { PluginRegistry } from '../plugins/registry.ts';
import { Workspaces } from '../workspace/index.ts';
import { WorkerPool, type WorkerDeps } from '../worker/worker.ts';
import { Coordinator } from './workflow/coordinator.ts';
import { DEFAULT_INGEST_WORKFLOW_FILE, loadWorkflowFile, WorkflowRegistry, type Workflow } from './workflow/definition.ts';

/** The ingest machinery of one process: queue, plugins, workflows, workers, coordinator. */
export interface IngestRuntime {
  queue: JobQueue;
  plugins: PluginRegistry;
  workflows: WorkflowRegistry;
  ingestWorkflow: Workflow;
  workspaces: Workspaces;
  pool?: WorkerPool;
  coordinator?: Coordinator;
  stop(): Promise<void>;
}

/**
 * Loads and checks every plugin and workflow (start-up fails, naming the fault, when one is
 * wrong), then starts `workers` in-process workers and, when asked, a coordinator.
 */
export async function startIngestRuntime(ctx: PlatformContext, options: { workers: number; coordinate: boolean }): Promise<IngestRuntime> {
  const cfg = ctx.config.ingest;
  const plugins = await PluginRegistry.load({ pluginsFile: cfg.pluginsFile });
  const ingestWorkflow = loadWorkflowFile(cfg.workflowFile ?? DEFAULT_INGEST_WORKFLOW_FILE);
  const workflows = new WorkflowRegistry([ingestWorkflow]);
  const missing = workflows.actions().filter((a) => !plugins.get(a));
  if (missing.length) throw new Error(`no plugin handles the workflow action${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  const logbook = ctx.services.get('logbook') as Logbook | undefined;
  if (!logbook) throw new Error('the ingest needs the journals (logbook component) started before it');
  const storage = ctx.services.get('storage') as StorageEngine | undefined;
  const queue = new JobQueue(ctx.cdb, { leaseTtlMs: cfg.leaseTtl, pollIntervalMs: cfg.pollInterval });
  await queue.start();
  const workspaces = Workspaces.fromConfig(ctx.config);
  const deps: WorkerDeps = {
    cdb: ctx.cdb, queue, logbook, storage, plugins, workflows, workspaces, log: ctx.log,
    itemConcurrency: cfg.itemConcurrency, maxAttempts: cfg.maxAttempts, config: ctx.config,
  };
  // Memory of a worker process: collect garbage before the heap is far above the live data (a
  // V8 flag read at every collection, so it takes effect here; see ingest.heapGrowthPercent).
  if (options.workers > 0 && cfg.heapGrowthPercent > 0) setFlagsFromString(`--heap-growing-percent=${cfg.heapGrowthPercent}`);
  const pool = options.workers > 0 ? new WorkerPool(deps, options.workers) : undefined;
  pool?.start();
  const coordinator = options.coordinate
    ? new Coordinator({
        cdb: ctx.cdb, queue, logbook, workflows, plugins, log: ctx.log, leaseTtlMs: cfg.leaseTtl, pollIntervalMs: cfg.pollInterval,
        // The report and journals are kept; the unpacked package is only a working copy.
        onFinished: cfg.keepWorkspace ? undefined : (id) => workspaces.open(id).remove(),
      })
    : undefined;
  coordinator?.start();
  return {
    queue, plugins, workflows, ingestWorkflow, workspaces, pool, coordinator,
    stop: async () => {
      await coordinator?.stop();
      await pool?.stop();
      await queue.stop();
    },
  };
}
