import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, register } from 'prom-client';
import { AuthError } from '../auth/index.ts';
import { UserError, errorBody } from './errors.ts';
import type { Logger } from '../log/index.ts';

let defaultMetricsOn = false;

/** The one HTTP server: health, metrics, JSON errors; components add their routes. */
export function createServer(log: Logger, options: { bodyLimit?: number } = {}): FastifyInstance {
  if (!defaultMetricsOn) {
    collectDefaultMetrics({ prefix: 'coffre_' });
    defaultMetricsOn = true;
  }
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // tus clients may send long-lived PATCH requests: no server-side request timeout.
    requestTimeout: 0,
    return503OnClosing: true,
  });
  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof UserError) return reply.code(err.status).send(errorBody(err.code, err.message));
    if (err instanceof AuthError) return reply.code(401).send(errorBody(err.code, err.message));
    if (err.validation) return reply.code(400).send(errorBody('BAD_REQUEST', err.message));
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody(err.code ?? 'BAD_REQUEST', err.message));
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send(errorBody('INTERNAL', 'internal error; see the server log'));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url}`)));
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', register.contentType);
    return register.metrics();
  });
  return app;
}
