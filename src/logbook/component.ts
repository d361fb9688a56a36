import type { Component, PlatformContext } from '../platform/context.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { LockBusyError } from '../db/index.ts';
import { openLogbook } from './open.ts';
import type { SqlLogbook } from './logbook.ts';
import { sealJournals } from './seal.ts';

let logbook: SqlLogbook | undefined;
let timer: NodeJS.Timeout | undefined;
let sealing: Promise<unknown> | undefined;

/** Seals now unless a seal is running here or on another node. */
async function scheduledSeal(ctx: PlatformContext, lb: SqlLogbook): Promise<void> {
  if (sealing) return;
  sealing = sealJournals(lb, ctx.instanceKey)
    .then((r) => r && ctx.log.info({ seal: r.n, events: r.leafCount, operation: r.operationId }, 'journals sealed'))
    .catch((err) => {
      if (!(err instanceof LockBusyError)) ctx.log.error({ err }, 'journal seal failed; will retry at the next interval');
    })
    .finally(() => (sealing = undefined));
  await sealing;
}

/** The logbook's part of `coffre serve`: the journals as `ctx.services.get('logbook')`, and scheduled seals. */
export const logbookComponent: Component = {
  name: 'logbook',
  async start(ctx) {
    const lb = openLogbook(ctx.cdb, ctx.config, { storage: () => ctx.services.get('storage') as StorageEngine | undefined, log: ctx.log });
    logbook = lb;
    ctx.services.set('logbook', lb);
    const every = ctx.config.logbook.sealInterval;
    if (every > 0) {
      timer = setInterval(() => void scheduledSeal(ctx, lb), every);
      timer.unref();
    }
  },
  ready(ctx) {
    // Journals of operations that ended while the offers were unreachable.
    if (logbook) logbook.flushExports().catch((err) => ctx.log.warn({ err }, 'pending journals not yet written to the offers'));
  },
  async stop() {
    if (timer) clearInterval(timer);
    timer = undefined;
    await sealing;
    await logbook?.close();
    logbook = undefined;
  },
};
