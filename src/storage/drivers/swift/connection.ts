import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  StorageError,
  type ByteRange,
  type Capacity,
  type Connection,
  type DigestAlgorithm,
  type GetResult,
  type ListEntry,
  type OfferDefinition,
  type PutRequest,
  type PutResult,
  type WriteLogEntry,
} from '../../contract.ts';
import type { Authenticator } from './auth.ts';
import { networkError, statusError } from './errors.ts';
import { hashStream, MeasuringStream } from '../stream-measure.ts';
import { drain, header, readText, type HttpClient, type HttpResponse } from './http.ts';
import { checkContainer, checkId, encodePath } from './names.ts';
import type { SwiftParameters } from './params.ts';
import { Slicer } from './segments.ts';

const DIGEST = 'x-object-meta-digest';
const DIGEST_ALGORITHM = 'x-object-meta-digest-algorithm';
const MAX_SEGMENTS = 1000; // Swift's default max_manifest_segments

interface HeadInfo {
  size: number;
  etag: string;
  digest?: string;
  digestAlgorithm?: string;
  slo: boolean;
}

interface CallOptions {
  headers?: Record<string, string>;
  query?: string;
  body?: Readable | Buffer | string;
}

/**
 * A connection to one Swift account. Coffre container `c` is the Swift container
 * `<containerPrefix>c`; objects above `largeObjectThreshold` are static large objects whose
 * segments live in `<containerPrefix>c<segmentContainerSuffix>`.
 *
 * The digest goes in `X-Object-Meta-Digest` (+ `-Algorithm`). For a large object it is known when
 * the manifest is written, so the manifest carries it: atomic. For a plain object it is known only
 * after the streamed PUT, so a metadata POST follows (a fast-POST: no data copy). A crash between
 * the two leaves an object without digest: digest() recomputes from the bytes, and a replayed put
 * of the same content recomputes, finds it equal and adds the missing metadata.
 */
export class SwiftConnection implements Connection {
  private readonly knownContainers = new Set<string>();

  constructor(
    readonly offer: Readonly<OfferDefinition>,
    private readonly p: SwiftParameters,
    private readonly http: HttpClient,
    private readonly auth: Authenticator,
  ) {}

  /** How many times this connection authenticated (token renewals included). */
  get authentications(): number {
    return this.auth.authentications;
  }

  async capacity(): Promise<Capacity> {
    const res = await this.call('account capacity', 'HEAD', '');
    await drain(res);
    if (res.status < 200 || res.status >= 300) throw await statusError(res, 'account capacity', this.offer.id);
    const quota = Number(header(res, 'x-account-meta-quota-bytes'));
    const used = Number(header(res, 'x-account-bytes-used') ?? 0);
    if (!Number.isFinite(quota) || header(res, 'x-account-meta-quota-bytes') === undefined) return { usableBytes: null, totalBytes: null };
    return { usableBytes: Math.max(0, quota - (Number.isFinite(used) ? used : 0)), totalBytes: quota };
  }

  async put(request: PutRequest): Promise<PutResult> {
    const { container, id, size, digestAlgorithm } = request;
    const what = `put ${container}/${id}`;
    try {
      const swiftContainer = this.containerName(container);
      checkId(id);
      if (!Number.isSafeInteger(size) || size < 0) throw new StorageError('BAD_REQUEST', `${what}: size ${size} is not a byte count`, false);
      const path = objectPath(swiftContainer, id);
      // The HEAD also proves the token good right before a body that cannot be replayed.
      const existing = await this.head(path, what);
      if (existing) return await this.compareWithExisting(request, path, existing);
      await this.ensureContainer(swiftContainer);
      let digest: string;
      if (size <= this.p.largeObjectThreshold) {
        // The PUT's ETag matched the md5 of exactly `size` bytes sent: nothing more to check.
        digest = await this.putPlain(request, path);
      } else {
        digest = await this.putLarge(request, swiftContainer, path);
        const stored = await this.head(path, what);
        if (!stored || stored.size !== size) {
          throw new StorageError('SIZE_MISMATCH', `${what}: server reports ${stored?.size ?? 'no object'} bytes after writing ${size}`, true);
        }
      }
      return { size, digest, alreadyExisted: false };
    } catch (err) {
      throw networkError(err, what, this.offer.id);
    }
  }

  async get(container: string, id: string, range?: ByteRange): Promise<GetResult> {
    const what = `get ${container}/${id}`;
    try {
      const path = this.path(container, id);
      const headers: Record<string, string> = {};
      if (range) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
          throw new StorageError('BAD_REQUEST', `${what}: invalid range ${start}-${end ?? ''}`, false);
        }
        headers.range = `bytes=${start}-${end ?? ''}`;
      }
      const res = await this.call(what, 'GET', path, { headers });
      if (res.status !== 200 && res.status !== 206) throw await statusError(res, what, this.offer.id);
      const contentRange = header(res, 'content-range');
      const size = contentRange ? Number(/\/(\d+)$/.exec(contentRange)?.[1]) : Number(header(res, 'content-length'));
      return { body: res.body, size, digest: header(res, DIGEST) };
    } catch (err) {
      throw networkError(err, what, this.offer.id);
    }
  }

  async exists(container: string, id: string): Promise<boolean> {
    const what = `exists ${container}/${id}`;
    try {
      return (await this.head(this.path(container, id), what)) !== null;
    } catch (err) {
      throw networkError(err, what, this.offer.id);
    }
  }

  async digest(container: string, id: string, options: { algorithm: DigestAlgorithm; noCache?: boolean }): Promise<string | null> {
    const what = `digest ${container}/${id}`;
    try {
      const path = this.path(container, id);
      const head = await this.head(path, what);
      if (!head) return null;
      if (!options.noCache && head.digest && head.digestAlgorithm === options.algorithm) return head.digest;
      return await this.recompute(path, options.algorithm, what);
    } catch (err) {
      throw networkError(err, what, this.offer.id);
    }
  }

  async remove(container: string, id: string): Promise<boolean> {
    const what = `remove ${container}/${id}`;
    try {
      const path = this.path(container, id);
      const head = await this.head(path, what);
      if (!head) return false;
      if (head.slo) {
        // Deletes the manifest and every segment it names, in one call.
        const res = await this.call(what, 'DELETE', path, { query: 'multipart-manifest=delete', headers: { accept: 'application/json' } });
        if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offer.id);
        const report = JSON.parse(await readText(res)) as { 'Response Status'?: string; Errors?: [string, string][]; 'Number Deleted'?: number };
        if ((report.Errors ?? []).length > 0 || !/^2/.test(report['Response Status'] ?? '200')) {
          throw new StorageError('IO', `${what}: ${report['Response Status']}: ${(report.Errors ?? []).map((e) => e.join(' ')).join('; ')}`, true);
        }
        return (report['Number Deleted'] ?? 0) > 0;
      }
      const res = await this.call(what, 'DELETE', path);
      if (res.status === 404) {
        await drain(res);
        return false;
      }
      if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offer.id);
      await drain(res);
      return true;
    } catch (err) {
      throw networkError(err, what, this.offer.id);
    }
  }

  list(container: string, options: { pageSize?: number } = {}): AsyncIterable<ListEntry> {
    const swiftContainer = this.containerName(container);
    const limit = options.pageSize ?? this.p.pageSize;
    const self = this;
    const what = `list ${container}`;
    return {
      async *[Symbol.asyncIterator]() {
        let marker = '';
        for (;;) {
          let page: { name: string; bytes: number }[];
          try {
            const query = `format=json&limit=${limit}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`;
            const res = await self.call(what, 'GET', `/${encodeURIComponent(swiftContainer)}`, { query });
            if (res.status === 404 || res.status === 204) {
              await drain(res);
              return;
            }
            if (res.status !== 200) throw await statusError(res, what, self.offer.id);
            page = JSON.parse(await readText(res, 64 << 20));
          } catch (err) {
            throw networkError(err, what, self.offer.id);
          }
          for (const o of page) yield { id: o.name, size: o.bytes };
          if (page.length < limit) return;
          marker = page[page.length - 1].name;
        }
      },
    };
  }

  writeLog(_options: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry> {
    const offerId = this.offer.id;
    return {
      // eslint-disable-next-line require-yield
      async *[Symbol.asyncIterator]() {
        throw new StorageError('BAD_REQUEST', `offer ${offerId}: the swift driver keeps no write log (capabilities.writeLog is false)`, false, offerId);
      },
    };
  }

  async close(): Promise<void> {
    this.http.close();
  }

  // --- requests

  /**
   * One authenticated request. On 401 the token is dropped and a new one fetched; the request is
   * sent again when its body can be (no stream), else the error is retryable and the engine's next
   * attempt uses the new token.
   */
  private async call(what: string, method: string, path: string, options: CallOptions = {}): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.auth.current();
      const url = `${session.storageUrl}${path}${options.query ? `?${options.query}` : ''}`;
      let res: HttpResponse;
      try {
        res = await this.http.send({ method, url, headers: { 'x-auth-token': session.token, ...options.headers }, body: options.body });
      } catch (err) {
        throw networkError(err, what, this.offer.id);
      }
      if (res.status !== 401) return res;
      await drain(res);
      this.auth.invalidate(session.token);
      if (attempt === 0 && !(options.body instanceof Readable)) continue;
      throw new StorageError('UNAVAILABLE', `offer ${this.offer.id}: ${what}: token refused (401); renewed for the next attempt`, true, this.offer.id);
    }
  }

  private async head(path: string, what: string): Promise<HeadInfo | null> {
    const res = await this.call(what, 'HEAD', path);
    await drain(res);
    if (res.status === 404) return null;
    if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offer.id);
    return {
      size: Number(header(res, 'content-length')),
      etag: (header(res, 'etag') ?? '').replace(/"/g, ''),
      digest: header(res, DIGEST),
      digestAlgorithm: header(res, DIGEST_ALGORITHM),
      slo: /^true$/i.test(header(res, 'x-static-large-object') ?? ''),
    };
  }

  private async ensureContainer(name: string): Promise<void> {
    if (this.knownContainers.has(name)) return;
    const what = `container ${name}`;
    const res = this.p.createContainers ? await this.call(what, 'PUT', `/${encodeURIComponent(name)}`) : await this.call(what, 'HEAD', `/${encodeURIComponent(name)}`);
    if (res.status === 404) {
      await drain(res);
      throw new StorageError('UNAVAILABLE', `offer ${this.offer.id}: container ${name} does not exist (createContainers is false)`, false, this.offer.id);
    }
    if (res.status < 200 || res.status >= 300) throw await statusError(res, what, this.offer.id);
    await drain(res);
    this.knownContainers.add(name);
  }

  // --- writes

  private async putPlain(request: PutRequest, path: string): Promise<string> {
    const what = `put ${request.container}/${request.id}`;
    const measure = new MeasuringStream(request.digestAlgorithm, request.size, ['md5']);
    const piping = pipeline(request.body, measure).then(
      () => undefined,
      (e: unknown) => e,
    );
    const firstError = firstStreamError(request.body, measure);
    let res: HttpResponse;
    try {
      res = await this.call(what, 'PUT', path, {
        headers: { 'content-length': String(request.size), 'content-type': 'application/octet-stream' },
        body: measure,
      });
      if (res.status !== 201) throw await statusError(res, what, this.offer.id);
      await drain(res);
    } catch (err) {
      const cause = firstError() ?? err; // before destroy(), which adds a "premature close"
      measure.destroy();
      await piping;
      throw cause;
    }
    // The server may have its bytes before a longer body shows itself: check the body ended right.
    const bodyError = await piping;
    const md5 = measure.extraDigest('md5');
    if (bodyError || (header(res, 'etag') ?? '').replace(/"/g, '') !== md5) {
      await this.deleteQuietly(path, what);
      throw bodyError ?? new StorageError('DIGEST_MISMATCH', `${what}: server ETag ${header(res, 'etag')} is not the md5 ${md5} of the bytes sent`, true);
    }
    const digest = measure.digest();
    await this.postDigest(path, request.digestAlgorithm, digest, what);
    return digest;
  }

  private async postDigest(path: string, algorithm: DigestAlgorithm, digest: string, what: string): Promise<void> {
    const res = await this.call(what, 'POST', path, { headers: { [DIGEST]: digest, [DIGEST_ALGORITHM]: algorithm } });
    if (res.status < 200 || res.status >= 300) throw await statusError(res, `${what} (digest metadata)`, this.offer.id);
    await drain(res);
  }

  /** Segments streamed one after the other (one in flight: flat memory), then the manifest. */
  private async putLarge(request: PutRequest, swiftContainer: string, path: string): Promise<string> {
    const { id, size, digestAlgorithm } = request;
    const what = `put ${request.container}/${id}`;
    const segmentContainer = swiftContainer + this.p.segmentContainerSuffix;
    await this.ensureContainer(segmentContainer);
    const segmentSize = Math.max(this.p.segmentSize, Math.ceil(size / MAX_SEGMENTS));
    const count = Math.ceil(size / segmentSize);
    // A fresh folder per attempt: a retried or concurrent upload never overwrites another's segments.
    const folder = `${id}/${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const measure = new MeasuringStream(digestAlgorithm, size);
    const piping = pipeline(request.body, measure).then(
      () => undefined,
      (e: unknown) => e,
    );
    const firstError = firstStreamError(request.body, measure);
    const slicer = new Slicer(measure[Symbol.asyncIterator]());
    const manifest: { path: string; etag: string; size_bytes: number }[] = [];
    const written: string[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const length = Math.min(segmentSize, size - i * segmentSize);
        const name = `${folder}/${String(i).padStart(6, '0')}`;
        const segment = slicer.next(length);
        const segmentPath = objectPath(segmentContainer, name);
        written.push(segmentPath);
        const res = await this.call(`${what} segment ${i + 1}/${count}`, 'PUT', segmentPath, {
          headers: { 'content-length': String(length), 'content-type': 'application/octet-stream' },
          body: segment.stream,
        });
        if (res.status !== 201) throw await statusError(res, `${what} segment ${i + 1}/${count}`, this.offer.id);
        await drain(res);
        const etag = (header(res, 'etag') ?? '').replace(/"/g, '');
        const md5 = segment.md5();
        if (etag !== md5) throw new StorageError('DIGEST_MISMATCH', `${what}: segment ${i + 1} ETag ${etag} is not the md5 ${md5} of the bytes sent`, true);
        manifest.push({ path: `/${segmentContainer}/${name}`, etag, size_bytes: length });
      }
      if (await slicer.hasMore()) throw new StorageError('SIZE_MISMATCH', `${what}: body has more than the ${size} bytes announced`, false);
      const bodyError = await piping;
      if (bodyError) throw bodyError;
      const digest = measure.digest();
      const res = await this.call(`${what} manifest`, 'PUT', path, {
        query: 'multipart-manifest=put',
        headers: { 'content-type': 'application/octet-stream', [DIGEST]: digest, [DIGEST_ALGORITHM]: digestAlgorithm },
        body: JSON.stringify(manifest),
      });
      if (res.status !== 201) throw await statusError(res, `${what} manifest`, this.offer.id);
      await drain(res);
      const expected = createHash('md5').update(manifest.map((s) => s.etag).join('')).digest('hex');
      const etag = (header(res, 'etag') ?? '').replace(/"/g, '');
      if (etag !== expected) {
        await this.deleteQuietly(path, what, true);
        throw new StorageError('DIGEST_MISMATCH', `${what}: manifest ETag ${etag} is not ${expected}`, true);
      }
      return digest;
    } catch (err) {
      const cause = firstError() ?? err;
      measure.destroy();
      await piping;
      for (const segmentPath of written) await this.deleteQuietly(segmentPath, what);
      throw cause;
    }
  }

  /** A put of an id that exists: same bytes → success (idempotent), other bytes → CONFLICT. */
  private async compareWithExisting(request: PutRequest, path: string, existing: HeadInfo): Promise<PutResult> {
    const { container, id, size, digestAlgorithm } = request;
    const what = `put ${container}/${id}`;
    if (existing.size !== size) {
      request.body.resume(); // let the other offers of a fan-out go on
      throw new StorageError('CONFLICT', `${container}/${id} already exists with ${existing.size} bytes, not ${size}`, false);
    }
    const measure = new MeasuringStream(digestAlgorithm, size);
    await pipeline(request.body, measure, async (source: AsyncIterable<Buffer>) => {
      for await (const _ of source);
    });
    const incoming = measure.digest();
    let stored = existing.digestAlgorithm === digestAlgorithm ? existing.digest : undefined;
    if (!stored) {
      stored = await this.recompute(path, digestAlgorithm, what);
      // Left without digest metadata by an interrupted put: complete it now.
      if (stored === incoming && !existing.digest) await this.postDigest(path, digestAlgorithm, stored, what);
    }
    if (stored !== incoming) {
      throw new StorageError('CONFLICT', `${container}/${id} already exists with other content (${digestAlgorithm} ${stored.slice(0, 16)}… vs ${incoming.slice(0, 16)}…)`, false);
    }
    return { size, digest: stored, alreadyExisted: true };
  }

  private async recompute(path: string, algorithm: DigestAlgorithm, what: string): Promise<string> {
    const res = await this.call(what, 'GET', path);
    if (res.status !== 200) throw await statusError(res, what, this.offer.id);
    return (await hashStream(res.body, algorithm)).digest;
  }

  private async deleteQuietly(path: string, what: string, manifest = false): Promise<void> {
    try {
      const res = await this.call(`${what} (clean-up)`, 'DELETE', path, manifest ? { query: 'multipart-manifest=delete' } : {});
      await drain(res);
    } catch {
      // best effort: a leftover is overwritten by the next attempt or found by an audit
    }
  }

  private containerName(container: string): string {
    checkContainer(container);
    if (container.endsWith(this.p.segmentContainerSuffix)) {
      throw new StorageError('BAD_REQUEST', `invalid container name "${container}": names ending in "${this.p.segmentContainerSuffix}" hold large-object segments`, false);
    }
    return this.p.containerPrefix + container;
  }

  private path(container: string, id: string): string {
    const c = this.containerName(container);
    checkId(id);
    return objectPath(c, id);
  }
}

/** The first error the caller's body or our measuring stream raised (size mismatch, source failure). */
function firstStreamError(...streams: NodeJS.EventEmitter[]): () => unknown {
  let first: unknown;
  for (const s of streams) s.once('error', (e: unknown) => (first ??= e));
  return () => first;
}

function objectPath(container: string, name: string): string {
  return `/${encodeURIComponent(container)}/${encodePath(name)}`;
}
