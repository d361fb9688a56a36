import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PlatformContext } from '../../platform/context.ts';
import { AuthError, type Principal } from '../../auth/index.ts';
import { UserError, errorBody } from '../../platform/errors.ts';
import type { UploadRow, UploadService } from '../uploads.ts';
import {
  ALLOWED_HEADERS,
  CHECKSUM_ALGORITHMS,
  EXPOSED_HEADERS,
  OFFSET_CONTENT_TYPE,
  TUS_EXTENSIONS,
  TUS_VERSION,
  TusError,
  httpDate,
  parseNonNegative,
} from './protocol.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'PUT'] as const;

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

const hasBody = (req: FastifyRequest) => {
  const cl = header(req, 'content-length');
  return (cl !== undefined && cl !== '0') || header(req, 'transfer-encoding') !== undefined;
};

const isOffsetStream = (req: FastifyRequest) => (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase() === OFFSET_CONTENT_TYPE;

/**
 * The tus 1.0.0 endpoint, as an encapsulated fastify plugin: its own error handler (tus headers
 * on every answer) and a content-type parser that leaves bodies unread, so PATCH bodies stream
 * from the socket to the file and are never buffered.
 */
export function tusPlugin(service: UploadService, ctx: PlatformContext, basePath = '/files') {
  const config = service.config;
  const publicUrl = ctx.config.server.publicUrl?.replace(/\/$/, '');

  const uploadUrl = (req: FastifyRequest, id: string) => `${publicUrl ?? `${req.protocol}://${req.host}`}${basePath}/${id}`;
  const idFromUrl = (url: string) => {
    const m = /\/([0-9a-f]{32})\/?$/.exec(url.split(/[?#]/)[0]);
    if (!m) return undefined;
    const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]+/i, '').split(/[?#]/)[0];
    return path === `${basePath}/${m[1]}` || path === `${basePath}/${m[1]}/` ? m[1] : undefined;
  };

  const cors = (req: FastifyRequest, reply: FastifyReply) => {
    const origin = header(req, 'origin');
    if (!origin) return;
    const allowed = config.corsOrigins.includes('*') || config.corsOrigins.includes(origin);
    if (!allowed) return;
    reply.header('Access-Control-Allow-Origin', config.corsOrigins.includes('*') ? '*' : origin);
    if (!config.corsOrigins.includes('*')) reply.header('Vary', 'Origin');
    reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
  };

  const authenticate = (req: FastifyRequest): Promise<Principal> => ctx.verifier.verifyHeader(header(req, 'authorization'));

  const expires = (reply: FastifyReply, row: UploadRow) => {
    if (row.status === 'uploading' && row.expires_at) reply.header('Upload-Expires', httpDate(row.expires_at));
  };

  const options = (_req: FastifyRequest, reply: FastifyReply) => {
    reply
      .header('Tus-Version', TUS_VERSION)
      .header('Tus-Extension', TUS_EXTENSIONS.join(','))
      .header('Tus-Max-Size', String(config.maxUploadSize))
      .header('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','))
      .header('Access-Control-Allow-Methods', 'POST, HEAD, PATCH, DELETE, OPTIONS')
      .header('Access-Control-Allow-Headers', ALLOWED_HEADERS.join(', '))
      .header('Access-Control-Max-Age', '86400')
      .code(204)
      .send();
  };

  const create = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = await authenticate(req);
    const withBody = hasBody(req);
    if (withBody && !isOffsetStream(req)) {
      throw new TusError(415, 'UNSUPPORTED_MEDIA_TYPE', `a POST with a body must use Content-Type: ${OFFSET_CONTENT_TYPE}`);
    }
    const deferHeader = header(req, 'upload-defer-length');
    if (deferHeader !== undefined && deferHeader.trim() !== '1') throw new TusError(400, 'INVALID_HEADER', 'Upload-Defer-Length must be 1');
    let row = await service.create(principal, {
      length: parseNonNegative(header(req, 'upload-length'), 'Upload-Length'),
      deferLength: deferHeader !== undefined,
      metadataHeader: header(req, 'upload-metadata'),
      concatHeader: header(req, 'upload-concat'),
      idFromUrl,
    });
    reply.header('Location', uploadUrl(req, row.id));
    if (withBody) {
      // Location is already set: even if the body fails, the client may resume the upload.
      row = await service.write(principal, row.id, bodyWrite(req, 0));
      reply.header('Upload-Offset', String(row.upload_offset));
    }
    expires(reply, row);
    reply.code(201).send();
  };

  /** The body of a PATCH or of a creation-with-upload POST, with its checksum headers. */
  const bodyWrite = (req: FastifyRequest, offset: number) => ({
    offset,
    contentLength: parseNonNegative(header(req, 'content-length'), 'Content-Length'),
    checksumHeader: header(req, 'upload-checksum'),
    trailerChecksum: /(^|,)\s*upload-checksum\s*(,|$)/i.test(header(req, 'trailer') ?? ''),
    body: req.raw,
  });

  const head = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const principal = await authenticate(req);
    const row = await service.visible(principal, id);
    reply.header('Cache-Control', 'no-store');
    const finalPending = row.concat?.startsWith('final;') && row.status !== 'complete';
    if (!finalPending) reply.header('Upload-Offset', String(row.upload_offset));
    if (row.length !== null) reply.header('Upload-Length', String(row.length));
    else if (!row.concat?.startsWith('final;')) reply.header('Upload-Defer-Length', '1');
    if (row.metadata) reply.header('Upload-Metadata', row.metadata);
    if (row.concat) reply.header('Upload-Concat', row.concat);
    expires(reply, row);
    reply.code(200).send();
  };

  const patch = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const principal = await authenticate(req);
    if (!isOffsetStream(req)) throw new TusError(415, 'UNSUPPORTED_MEDIA_TYPE', `PATCH requests must use Content-Type: ${OFFSET_CONTENT_TYPE}`);
    const offset = parseNonNegative(header(req, 'upload-offset'), 'Upload-Offset');
    if (offset === undefined) throw new TusError(400, 'INVALID_HEADER', 'Upload-Offset is required');
    const row = await service.write(principal, id, {
      ...bodyWrite(req, offset),
      length: parseNonNegative(header(req, 'upload-length'), 'Upload-Length'),
    });
    reply.header('Upload-Offset', String(row.upload_offset));
    expires(reply, row);
    reply.code(204).send();
  };

  const terminate = async (req: FastifyRequest, reply: FastifyReply, id: string) => {
    const principal = await authenticate(req);
    await service.terminate(principal, id);
    reply.code(204).send();
  };

  return async function gatewayTus(app: FastifyInstance) {
    // Leave every body unread: the handlers stream it (PATCH) or ignore it.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null));

    app.addHook('onRequest', async (req, reply) => {
      reply.header('Tus-Resumable', TUS_VERSION);
      cors(req, reply);
    });

    app.setErrorHandler((err: any, req, reply) => {
      // An answer before the whole body was read: close the connection instead of draining it.
      if (hasBody(req) && !req.raw.complete) reply.header('Connection', 'close');
      if (err instanceof TusError) {
        if (err.status === 412) reply.header('Tus-Version', TUS_VERSION);
        return reply.code(err.status).headers(err.headers).send(errorBody(err.code, err.message));
      }
      if (err instanceof AuthError) return reply.code(401).send(errorBody(err.code, err.message));
      if (err instanceof UserError) return reply.code(err.status).send(errorBody(err.code, err.message));
      if (typeof err.statusCode === 'number' && err.statusCode < 500) {
        return reply.code(err.statusCode).send(errorBody(err.code ?? 'BAD_REQUEST', err.message));
      }
      req.log.error({ err }, 'tus request failed');
      return reply.code(500).send(errorBody('INTERNAL', 'internal error; see the server log'));
    });

    const dispatch = async (req: FastifyRequest, reply: FastifyReply) => {
      const override = header(req, 'x-http-method-override');
      const method = (override ?? req.method).trim().toUpperCase();
      const id = (req.params as { id?: string }).id;
      if (method === 'OPTIONS') return options(req, reply);
      if (method === 'GET') {
        reply.header('Allow', id ? 'HEAD, PATCH, DELETE, OPTIONS' : 'POST, OPTIONS');
        throw new TusError(405, 'DOWNLOAD_DISABLED', 'the gateway only receives files; nothing can be downloaded from it');
      }
      const version = header(req, 'tus-resumable');
      if (version !== TUS_VERSION) {
        throw new TusError(412, 'TUS_VERSION_UNSUPPORTED', version ? `tus version ${version} is not supported (use ${TUS_VERSION})` : 'the Tus-Resumable header is required');
      }
      if (!id) {
        if (method === 'POST') return create(req, reply);
      } else {
        if (method === 'HEAD') return head(req, reply, id);
        if (method === 'PATCH') return patch(req, reply, id);
        if (method === 'DELETE') return terminate(req, reply, id);
      }
      reply.header('Allow', id ? 'HEAD, PATCH, DELETE, OPTIONS' : 'POST, OPTIONS');
      throw new TusError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${req.url}`);
    };

    for (const url of [basePath, `${basePath}/`, `${basePath}/:id`]) {
      app.route({ method: [...METHODS], url, handler: dispatch, exposeHeadRoute: false });
    }
  };
}
