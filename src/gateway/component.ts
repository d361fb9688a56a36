import type { Component, PlatformContext } from '../platform/context.ts';
import { UploadService } from './uploads.ts';
import { tusPlugin } from './tus/routes.ts';

const serviceOf = (ctx: PlatformContext) => ctx.services.get('gateway') as UploadService | undefined;

/** The gateway's part of `coffre serve`: tus at /files/, and the cleaner of expired uploads. */
export const gatewayComponent: Component = {
  name: 'gateway',
  async start(ctx) {
    if (!ctx.config.gateway.enabled) return;
    const service = new UploadService(ctx, ctx.config.gateway);
    await service.init();
    ctx.services.set('gateway', service);
  },
  async routes(app, ctx) {
    const service = serviceOf(ctx);
    if (!service) return;
    await app.register(tusPlugin(service, ctx, '/files'));
    // The cleaner lives as long as this server (several platforms may share a test process).
    const cleaner = setInterval(() => {
      service
        .expireDue()
        .then((n) => n > 0 && ctx.log.info({ removed: n }, 'expired unfinished uploads removed'))
        .catch((err) => ctx.log.error({ err }, 'upload cleaner failed'));
    }, ctx.config.gateway.cleanerInterval);
    cleaner.unref();
    app.addHook('onClose', async () => {
      clearInterval(cleaner);
      await service.close();
    });
  },
};
