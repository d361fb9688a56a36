import type { FastifyInstance } from 'fastify';
import type { CoffreConfig } from '../config/index.ts';
import { openAndMigrate } from '../db/index.ts';
import { Bus } from '../bus/index.ts';
import { loadOrCreateInstanceKey, TokenVerifier } from '../auth/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { createServer } from './server.ts';
import type { Component, PlatformContext } from './context.ts';

export interface RunningPlatform {
  ctx: PlatformContext;
  app: FastifyInstance;
  /** http://host:port actually bound (port 0 resolves to the real one). */
  url: string;
  stop(): Promise<void>;
}

/** Opens the shared services a component or a CLI command needs, without any HTTP server. */
export async function openContext(config: CoffreConfig, log?: Logger): Promise<PlatformContext> {
  const logger = log ?? createLogger(config.log.level);
  const cdb = await openAndMigrate(config);
  const instanceKey = loadOrCreateInstanceKey(config.dataDir);
  const verifier = await TokenVerifier.create(config.auth, instanceKey);
  const bus = new Bus(cdb, {
    pollIntervalMs: config.bus.pollIntervalMs,
    onError: (sub, err) => logger.error({ err, subscriber: sub }, 'bus subscriber failed; will retry'),
  });
  return { config, cdb, bus, log: logger, instanceKey, verifier, services: new Map() };
}

/** Starts the whole platform on one port: what `coffre serve` runs. */
export async function startPlatform(
  config: CoffreConfig,
  options: { components?: Component[]; log?: Logger } = {},
): Promise<RunningPlatform> {
  const ctx = await openContext(config, options.log);
  // Loaded only when needed: a process running some components (a gateway node, a benchmark)
  // does not pay the memory of the others' libraries.
  const components = options.components ?? (await import('./components.ts')).components;
  const started: Component[] = [];
  const app = createServer(ctx.log);
  const stopAll = async () => {
    await app.close().catch(() => {});
    await ctx.bus.stop();
    for (const c of [...started].reverse()) await c.stop?.().catch((err) => ctx.log.error({ err }, `stopping ${c.name} failed`));
    await ctx.cdb.close();
  };
  try {
    for (const c of components) {
      await c.start?.(ctx);
      started.push(c);
    }
    for (const c of components) await c.routes?.(app, ctx);
    await ctx.bus.start();
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await stopAll();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = config.server.publicUrl ?? `http://${config.server.host}:${port}`;
  for (const c of components) await c.ready?.(ctx, url);
  return { ctx, app, url, stop: stopAll };
}
