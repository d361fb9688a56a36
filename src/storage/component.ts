import type { Component } from '../platform/context.ts';
import type { Engine } from './engine.ts';
import { openStorage } from './open.ts';

let engine: Engine | undefined;

/** The storage's part of `coffre serve`: the engine, published as `ctx.services.get('storage')`. */
export const storageComponent: Component = {
  name: 'storage',
  async start(ctx) {
    engine = await openStorage(ctx);
    ctx.services.set('storage', engine);
    ctx.log.info({ offers: [...engine.runtimes.keys()], strategies: engine.strategyIds() }, 'storage engine ready');
  },
  async stop() {
    await engine?.close();
    engine = undefined;
  },
};
