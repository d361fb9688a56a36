import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
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
import { toStorageError } from './errors.ts';
import { hashStream, MeasuringStream } from '../stream-measure.ts';
import { KeyScheme } from './names.ts';
import type { S3Parameters } from './params.ts';

interface HeadInfo {
  size: number;
  etag: string;
  metadata: Record<string, string>;
}

/** What the sidecar of a multipart object holds; `etag` binds it to one version of the object. */
interface DigestSidecar {
  algorithm: DigestAlgorithm;
  digest: string;
  size: number;
  etag: string;
}

const DIGEST_META = (algorithm: DigestAlgorithm) => `digest-${algorithm}`;

/**
 * A connection to one bucket (and key prefix). Objects are `<prefix><container>/<id>`.
 *
 * Where the digest lives. S3 metadata is fixed when an object is created, and for a multipart
 * upload that is before the first byte is read, so the digest cannot be in it. Hence:
 *  - objects up to `partSize` are read into one buffer (bounded: at most partSize, the same memory
 *    a multipart upload uses per part), hashed, then sent with one PutObject carrying
 *    `x-amz-meta-digest-<alg>` and Content-MD5 — atomic, and the server verifies the bytes;
 *  - larger objects stream through lib-storage's multipart Upload, hashed in the same pass; the
 *    digest then goes to a sidecar `<prefix>.digests/<container>/<id>` that records the object's
 *    ETag, so a sidecar never vouches for another version of the object. A crash between the two
 *    leaves an object without sidecar: digest() then recomputes from the bytes, and a replayed put
 *    of the same content recomputes, finds it equal and writes the missing sidecar.
 *  Rejected: CopyObject with MetadataDirective REPLACE after the upload (a full server-side copy of
 *  the object, refused above 5 GiB, and on Swift a re-write of every segment); asking the caller
 *  for the digest first (the engine only knows it once the stream has ended).
 */
export class S3Connection implements Connection {
  private readonly keys: KeyScheme;
  private usage?: { bytes: number; at: number };

  constructor(
    readonly offer: Readonly<OfferDefinition>,
    private readonly p: S3Parameters,
    private readonly client: S3Client,
  ) {
    this.keys = new KeyScheme(p.prefix);
  }

  /** Checks the bucket (creating it when allowed), so that a bad offer fails at connect. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.p.bucket }));
      return;
    } catch (err) {
      const e = toStorageError(err, `bucket ${this.p.bucket}`, this.offer.id);
      if (e.code !== 'NOT_FOUND' && !(e.code === 'UNAVAILABLE' && /does not exist/.test(e.message))) throw e;
      if (!this.p.createBucket) {
        throw new StorageError('UNAVAILABLE', `offer ${this.offer.id}: bucket ${this.p.bucket} does not exist (createBucket is false)`, false, this.offer.id);
      }
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.p.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw toStorageError(err, `create bucket ${this.p.bucket}`, this.offer.id);
    }
  }

  async capacity(): Promise<Capacity> {
    if (this.p.quotaBytes === undefined) return { usableBytes: null, totalBytes: null };
    const used = await this.usedBytes();
    return { usableBytes: Math.max(0, this.p.quotaBytes - used), totalBytes: this.p.quotaBytes };
  }

  async put(request: PutRequest): Promise<PutResult> {
    const { container, id, size, digestAlgorithm } = request;
    const what = `put ${container}/${id}`;
    try {
      const key = this.keys.object(container, id);
      if (!Number.isSafeInteger(size) || size < 0) throw new StorageError('BAD_REQUEST', `${what}: size ${size} is not a byte count`, false, this.offer.id);
      const existing = await this.head(key);
      if (existing) return await this.compareWithExisting(request, key, existing);
      if (this.p.quotaBytes !== undefined) {
        const usable = this.p.quotaBytes - (await this.usedBytes());
        if (size > usable) throw new StorageError('FULL', `offer ${this.offer.id}: ${what}: ${size} bytes needed, ${Math.max(0, usable)} usable of the ${this.p.quotaBytes}-byte quota`, false, this.offer.id);
      }
      let digest: string;
      if (size <= this.p.partSize) {
        // The server checked Content-MD5 and Content-Length: it holds exactly these bytes.
        digest = await this.putSmall(request, key);
      } else {
        digest = await this.putMultipart(request, key);
        const stored = await this.head(key);
        if (!stored || stored.size !== size) {
          throw new StorageError('SIZE_MISMATCH', `offer ${this.offer.id}: ${what}: server reports ${stored?.size ?? 'no object'} bytes after writing ${size}`, true, this.offer.id);
        }
      }
      if (this.usage) this.usage.bytes += size;
      return { size, digest, alreadyExisted: false };
    } catch (err) {
      throw toStorageError(err, what, this.offer.id);
    }
  }

  async get(container: string, id: string, range?: ByteRange): Promise<GetResult> {
    const what = `get ${container}/${id}`;
    try {
      const key = this.keys.object(container, id);
      let rangeHeader: string | undefined;
      if (range) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
          throw new StorageError('BAD_REQUEST', `${what}: invalid range ${start}-${end ?? ''}`, false, this.offer.id);
        }
        rangeHeader = `bytes=${start}-${end ?? ''}`;
      }
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.p.bucket, Key: key, Range: rangeHeader }));
      const body = res.Body as Readable;
      const total = res.ContentRange ? Number(/\/(\d+)$/.exec(res.ContentRange)?.[1]) : res.ContentLength;
      const metadata = res.Metadata ?? {};
      const metaKey = Object.keys(metadata).find((k) => k.startsWith('digest-'));
      let digest = metaKey ? metadata[metaKey] : undefined;
      if (!digest) {
        try {
          digest = (await this.readSidecar(container, id, res.ETag ?? ''))?.digest;
        } catch (err) {
          body.destroy();
          throw err;
        }
      }
      return { body, size: total ?? 0, digest };
    } catch (err) {
      throw toStorageError(err, what, this.offer.id);
    }
  }

  async exists(container: string, id: string): Promise<boolean> {
    try {
      return (await this.head(this.keys.object(container, id))) !== null;
    } catch (err) {
      throw toStorageError(err, `exists ${container}/${id}`, this.offer.id);
    }
  }

  async digest(container: string, id: string, options: { algorithm: DigestAlgorithm; noCache?: boolean }): Promise<string | null> {
    const what = `digest ${container}/${id}`;
    try {
      const key = this.keys.object(container, id);
      const head = await this.head(key);
      if (!head) return null;
      if (!options.noCache) {
        const kept = await this.keptDigest(container, id, head, options.algorithm);
        if (kept) return kept;
      }
      return (await this.recompute(key, options.algorithm)).digest;
    } catch (err) {
      throw toStorageError(err, what, this.offer.id);
    }
  }

  async remove(container: string, id: string): Promise<boolean> {
    const what = `remove ${container}/${id}`;
    try {
      const key = this.keys.object(container, id);
      const head = await this.head(key);
      if (!head) return false;
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.p.bucket,
          Delete: { Objects: [{ Key: key }, { Key: this.keys.digestSidecar(container, id) }], Quiet: true },
        }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        throw new StorageError('IO', `offer ${this.offer.id}: ${what}: ${failed.map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`).join('; ')}`, true, this.offer.id);
      }
      if (this.usage) this.usage.bytes -= head.size;
      return true;
    } catch (err) {
      throw toStorageError(err, what, this.offer.id);
    }
  }

  list(container: string, options: { pageSize?: number } = {}): AsyncIterable<ListEntry> {
    const prefix = this.keys.containerPrefix(container);
    const pageSize = options.pageSize ?? this.p.pageSize;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const object of self.listKeys(prefix, pageSize, `list ${container}`)) {
          yield { id: object.key.slice(prefix.length), size: object.size };
        }
      },
    };
  }

  writeLog(_options: { fromSequence?: number; limit?: number }): AsyncIterable<WriteLogEntry> {
    const offerId = this.offer.id;
    return {
      // eslint-disable-next-line require-yield
      async *[Symbol.asyncIterator]() {
        throw new StorageError('BAD_REQUEST', `offer ${offerId}: the s3 driver keeps no write log (capabilities.writeLog is false)`, false, offerId);
      },
    };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // --- internals

  private async putSmall(request: PutRequest, key: string): Promise<string> {
    const measure = new MeasuringStream(request.digestAlgorithm, request.size, ['md5']);
    const chunks: Buffer[] = [];
    await pipeline(request.body, measure, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    });
    const digest = measure.digest();
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.p.bucket,
        Key: key,
        Body: Buffer.concat(chunks, request.size),
        ContentLength: request.size,
        ContentMD5: measure.extraDigest('md5', 'base64'),
        ContentType: 'application/octet-stream',
        Metadata: { [DIGEST_META(request.digestAlgorithm)]: digest },
      }),
    );
    return digest;
  }

  private async putMultipart(request: PutRequest, key: string): Promise<string> {
    const measure = new MeasuringStream(request.digestAlgorithm, request.size);
    let streamError: unknown;
    measure.once('error', (e) => (streamError ??= e));
    request.body.once('error', (e) => (streamError ??= e));
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.p.bucket, Key: key, Body: measure, ContentType: 'application/octet-stream' },
      partSize: this.p.partSize,
      queueSize: this.p.queueSize,
      leavePartsOnError: false,
    });
    const piping = pipeline(request.body, measure);
    let etag: string;
    try {
      const done = await upload.done();
      await piping;
      etag = done.ETag ?? '';
    } catch (err) {
      const cause = streamError ?? err; // before destroy(), which adds a "premature close"
      measure.destroy();
      await piping.catch(() => {});
      await upload.abort().catch(() => {});
      throw cause;
    }
    const digest = measure.digest();
    await this.writeSidecar(request.container, request.id, { algorithm: request.digestAlgorithm, digest, size: request.size, etag });
    return digest;
  }

  /** A put of an id that exists: same bytes → success (idempotent), other bytes → CONFLICT. */
  private async compareWithExisting(request: PutRequest, key: string, existing: HeadInfo): Promise<PutResult> {
    const { container, id, size, digestAlgorithm } = request;
    if (existing.size !== size) {
      request.body.resume(); // let the other offers of a fan-out go on
      throw new StorageError('CONFLICT', `offer ${this.offer.id}: ${container}/${id} already exists with ${existing.size} bytes, not ${size}`, false, this.offer.id);
    }
    const measure = new MeasuringStream(digestAlgorithm, size);
    const [incoming, kept] = await Promise.all([
      pipeline(request.body, measure, async (source: AsyncIterable<Buffer>) => {
        for await (const _ of source);
      }).then(() => measure.digest()),
      this.keptDigest(container, id, existing, digestAlgorithm),
    ]);
    let stored = kept;
    if (!stored) {
      stored = (await this.recompute(key, digestAlgorithm)).digest;
      // An object left without its sidecar by an interrupted multipart put: complete it now.
      if (stored === incoming && size > this.p.partSize) {
        await this.writeSidecar(container, id, { algorithm: digestAlgorithm, digest: stored, size, etag: existing.etag });
      }
    }
    if (stored !== incoming) {
      throw new StorageError('CONFLICT', `offer ${this.offer.id}: ${container}/${id} already exists with other content (${digestAlgorithm} ${stored.slice(0, 16)}… vs ${incoming.slice(0, 16)}…)`, false, this.offer.id);
    }
    return { size, digest: stored, alreadyExisted: true };
  }

  private async head(key: string): Promise<HeadInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.p.bucket, Key: key }));
      return { size: res.ContentLength ?? 0, etag: res.ETag ?? '', metadata: res.Metadata ?? {} };
    } catch (err) {
      const e = toStorageError(err, `head ${key}`, this.offer.id);
      if (e.code === 'NOT_FOUND') return null;
      throw e;
    }
  }

  private async keptDigest(container: string, id: string, head: HeadInfo, algorithm: DigestAlgorithm): Promise<string | null> {
    const inMetadata = head.metadata[DIGEST_META(algorithm)];
    if (inMetadata) return inMetadata;
    const sidecar = await this.readSidecar(container, id, head.etag);
    return sidecar && sidecar.algorithm === algorithm ? sidecar.digest : null;
  }

  private async readSidecar(container: string, id: string, etag: string): Promise<DigestSidecar | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.p.bucket, Key: this.keys.digestSidecar(container, id) }));
      const sidecar = JSON.parse(await res.Body!.transformToString()) as DigestSidecar;
      return sidecar.etag === etag ? sidecar : null; // written for another version of the object
    } catch (err) {
      if (err instanceof SyntaxError) return null;
      const e = toStorageError(err, `digest sidecar of ${container}/${id}`, this.offer.id);
      if (e.code === 'NOT_FOUND') return null;
      throw e;
    }
  }

  private async writeSidecar(container: string, id: string, sidecar: DigestSidecar): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.p.bucket,
        Key: this.keys.digestSidecar(container, id),
        Body: JSON.stringify(sidecar),
        ContentType: 'application/json',
        Metadata: { [DIGEST_META(sidecar.algorithm)]: sidecar.digest },
      }),
    );
  }

  private async recompute(key: string, algorithm: DigestAlgorithm): Promise<{ digest: string; bytes: number }> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.p.bucket, Key: key }));
    return hashStream(res.Body as Readable, algorithm);
  }

  private async *listKeys(prefix: string, pageSize: number, what: string): AsyncGenerator<{ key: string; size: number }> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.p.bucket, Prefix: prefix, MaxKeys: pageSize, ContinuationToken: token }));
      } catch (err) {
        throw toStorageError(err, what, this.offer.id);
      }
      for (const o of page.Contents ?? []) if (o.Key) yield { key: o.Key, size: o.Size ?? 0 };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Bytes under the offer's prefix. S3 has no usage call, so this lists every key (1 request per
   * 1000 objects) at most once per `usageCacheTtl`; in between, this connection adds and subtracts
   * its own writes and removals, so a burst of writes is seen at once and writes from other
   * processes are seen at the next listing.
   */
  private async usedBytes(): Promise<number> {
    if (this.usage && Date.now() - this.usage.at < this.p.usageCacheTtl) return this.usage.bytes;
    let bytes = 0;
    for await (const o of this.listKeys(this.keys.all, 1000, 'usage listing')) bytes += o.size;
    this.usage = { bytes, at: Date.now() };
    return bytes;
  }
}
