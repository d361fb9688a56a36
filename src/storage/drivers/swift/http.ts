import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../../contract.ts';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A stream is piped with backpressure; its errors abort the request. */
  body?: Readable | Buffer | string;
}

/**
 * A small HTTP client over node:http with keep-alive agents (one pool per connection, sized by the
 * offer's connection limit). Streams request bodies with backpressure and returns the response as
 * soon as its head arrives; the caller reads or drains the body.
 */
export class HttpClient {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(
    maxSockets: number,
    private readonly connectTimeoutMs: number,
    private readonly idleTimeoutMs: number,
  ) {
    this.http = new HttpAgent({ keepAlive: true, maxSockets });
    this.https = new HttpsAgent({ keepAlive: true, maxSockets });
  }

  send(req: HttpRequest, signal?: AbortSignal): Promise<HttpResponse> {
    const url = new URL(req.url);
    const secure = url.protocol === 'https:';
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...req.headers };
      if (Buffer.isBuffer(req.body) || typeof req.body === 'string') headers['content-length'] = String(Buffer.byteLength(req.body));
      else if (req.body === undefined && ['PUT', 'POST'].includes(req.method)) headers['content-length'] = '0';
      const request = (secure ? httpsRequest : httpRequest)(url, {
        method: req.method,
        headers,
        agent: secure ? this.https : this.http,
        signal,
      });
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      // Connect timeout until the socket is up; then the idle timeout (request.setTimeout applies
      // it once connected, and covers the response too).
      const connectTimer = setTimeout(() => request.destroy(timeoutError(`connect to ${url.host}`, this.connectTimeoutMs)), this.connectTimeoutMs);
      request.once('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => clearTimeout(connectTimer));
        else clearTimeout(connectTimer);
      });
      request.setTimeout(this.idleTimeoutMs, () => request.destroy(timeoutError(`${req.method} ${url.pathname}`, this.idleTimeoutMs)));
      request.on('error', (err) => {
        clearTimeout(connectTimer);
        fail(err);
      });
      request.on('response', (res) => {
        clearTimeout(connectTimer);
        res.on('error', () => {}); // surfaced to whoever reads the body
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      if (req.body instanceof Readable) {
        pipeline(req.body, request).catch((err) => {
          request.destroy(err);
          fail(err);
        });
      } else {
        request.end(req.body);
      }
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function timeoutError(what: string, ms: number): StorageError {
  return new StorageError('TIMEOUT', `${what}: no answer within ${ms} ms`, true);
}

export async function readText(res: HttpResponse, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new StorageError('IO', `response body larger than ${limit} bytes`, false);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and drops a response body so that its socket goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const _ of res.body);
  } catch {
    // the socket is dropped instead
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
