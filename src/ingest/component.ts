import type { Component } from '../platform/context.ts';
import { operationRoutes } from '../access/index.ts';
import { startIngestRuntime, type IngestRuntime } from './runtime.ts';
import { depositHandler } from './deposits.ts';

let runtime: IngestRuntime | undefined;

/**
 * The ingest's part of `coffre serve`: plugins and workflows checked at start-up, an in-process
 * worker pool and a coordinator, the `deposit.completed` subscriber that turns `ingest=true`
 * deposits into operations, and the operations access API.
 */
export const ingestComponent: Component = {
  name: 'ingest',
  async start(ctx) {
    const cfg = ctx.config.ingest;
    runtime = await startIngestRuntime(ctx, { workers: cfg.workers, coordinate: cfg.coordinate });
    ctx.services.set('ingest', runtime);
    const rt = runtime;
    ctx.bus.subscribe({
      name: 'ingest.deposits',
      topics: ['deposit.completed'],
      handler: depositHandler(rt.ingestWorkflow.id, cfg.defaultStrategy, () => rt.queue.notify()),
    });
  },
  routes(app, ctx) {
    const rt = runtime;
    operationRoutes(app, ctx, (workflow) => {
      try {
        return rt ? rt.workflows.get(workflow).steps.map((s) => s.name) : [];
      } catch {
        return [];
      }
    });
  },
  async stop() {
    await runtime?.stop();
    runtime = undefined;
  },
};
