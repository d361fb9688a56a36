import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { sql } from 'kysely';
import type { PlatformContext } from '../platform/context.ts';
import type { Principal } from '../auth/index.ts';
import { publish } from '../bus/index.ts';
import { nowIso } from '../db/index.ts';
import { fsyncDir, writeFileAtomic } from '../platform/files.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayUploadTable } from './tables.ts';
import { StagingLayout } from './store/layout.ts';
import { UploadLocks } from './store/lock.ts';
import { infoDocument } from './store/info.ts';
import { gatewayMetrics } from './metrics.ts';
import { parseMetadataLenient } from './store/metadata.ts';
import { BodyStore, type RunningDigest } from './store/body.ts';
import { TusError, parseChecksum, parseConcat, parseMetadata, type ChecksumAlgorithm } from './tus/protocol.ts';

export type UploadRow = GatewayUploadTable;

/** What `deposit.completed` carries (the ingest consumes it). */
export interface DepositCompleted {
  id: string;
  space: string;
  private: boolean;
  metadata: Record<string, string>;
  size: number;
  digests: Record<string, string>;
  paths: { bin: string; info: string; stagingBin: string; stagingInfo: string };
}

/** The running whole-file digest of an upload, valid at `offset` bytes. Kept between PATCHes. */
interface DigestState {
  offset: number;
  hash: RunningDigest;
}

export interface CreateInput {
  length?: number;
  deferLength: boolean;
  metadataHeader?: string;
  concatHeader?: string;
  /** Resolves an Upload-Concat URL to an upload id (or undefined when it is not one of ours). */
  idFromUrl: (url: string) => string | undefined;
}

export interface WriteInput {
  offset: number;
  length?: number;
  contentLength?: number;
  checksumHeader?: string;
  trailerChecksum: boolean;
  body: IncomingMessage;
}

const ID = /^[0-9a-f]{32}$/;

/**
 * The uploads of the gateway: rows in `gateway_upload` (the index: owner, state, offsets, quota,
 * expiry) and files in the staging layout (the bytes, plus the `.info` mirror of the row).
 * Every write to an upload happens under its lock.
 */
/** Background data syncs (gateway.syncBytes) under way at once across uploads. */
const MAX_BACKGROUND_SYNCS = 2;

export class UploadService {
  readonly layout: StagingLayout;
  readonly locks: UploadLocks;
  private readonly digests = new Map<string, DigestState>();
  /** Background data syncs under way, across uploads (see MAX_BACKGROUND_SYNCS). */
  private backgroundSyncs = 0;
  /** Writes PATCH bodies and keeps the running digests (in a worker thread by default). */
  readonly body: BodyStore;

  constructor(
    private readonly ctx: PlatformContext,
    readonly config: GatewayConfig,
  ) {
    this.layout = new StagingLayout(config, ctx.config.dataDir);
    this.locks = new UploadLocks(ctx.cdb, config.nodeId ?? hostname(), config.lockTtl, config.lockWait);
    this.body = new BodyStore({ thread: config.hashWorker, bufferBytes: config.writeBuffer });
  }

  async close(): Promise<void> {
    for (const s of this.digests.values()) s.hash.drop();
    this.digests.clear();
    await this.body.close();
  }

  async init(): Promise<void> {
    await this.layout.init();
    await this.locks.reclaimStale();
  }

  private get db() {
    return this.ctx.cdb.db;
  }

  quotaOf(space: string): number {
    return this.config.quotas[space] ?? this.config.spaceQuota;
  }

  async usedBy(space: string): Promise<number> {
    const row = await this.db
      .selectFrom('gateway_upload')
      .select(sql<number>`coalesce(sum(coalesce(length, upload_offset)), 0)`.as('used'))
      .where('space', '=', space)
      .where('status', 'in', ['uploading', 'complete'])
      .executeTakeFirst();
    return Number(row?.used ?? 0);
  }

  private async checkQuota(space: string, more: number): Promise<void> {
    if (more <= 0) return;
    const quota = this.quotaOf(space);
    const used = await this.usedBy(space);
    if (used + more > quota) {
      throw new TusError(403, 'QUOTA_EXCEEDED', `space "${space}" would hold ${used + more} bytes, over its quota of ${quota} bytes`);
    }
  }

  async load(id: string): Promise<UploadRow | undefined> {
    if (!ID.test(id)) return undefined;
    return this.db.selectFrom('gateway_upload').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The upload as its caller may see it: others' uploads do not exist (404), gone ones are 404/410. */
  async visible(principal: Principal, id: string): Promise<UploadRow> {
    const row = await this.load(id);
    if (!row || (!principal.admin && principal.space !== row.space) || row.status === 'terminated') {
      throw new TusError(404, 'UPLOAD_NOT_FOUND', `no upload ${id}`);
    }
    if (row.status === 'expired' || (row.status === 'uploading' && row.expires_at !== null && row.expires_at < nowIso())) {
      throw new TusError(410, 'UPLOAD_EXPIRED', `upload ${id} expired unfinished and was removed; start a new one`);
    }
    return row;
  }

  private expiresAt(): string {
    return new Date(Date.now() + this.config.expireAfter).toISOString();
  }

  /** Creation (and the first half of creation-with-upload). */
  async create(principal: Principal, input: CreateInput): Promise<UploadRow> {
    const space = principal.space;
    if (!space) throw new TusError(403, 'SPACE_REQUIRED', `the token names no space (claim ${this.ctx.config.auth.spaceClaim}); it cannot create uploads`);
    const metadataHeader = input.metadataHeader ?? '';
    if (Buffer.byteLength(metadataHeader) > this.config.maxMetadataSize) {
      throw new TusError(400, 'METADATA_TOO_LARGE', `Upload-Metadata is larger than ${this.config.maxMetadataSize} bytes`);
    }
    const metadata = parseMetadata(metadataHeader);
    const concat = parseConcat(input.concatHeader);
    let length: number | null = null;
    let parts: string[] | null = null;
    if (concat?.kind === 'final') {
      if (input.length !== undefined || input.deferLength) {
        throw new TusError(400, 'INVALID_HEADER', 'a final upload (Upload-Concat: final) must not carry Upload-Length or Upload-Defer-Length');
      }
      if (concat.urls.length > this.config.maxConcatParts) {
        throw new TusError(400, 'TOO_MANY_PARTS', `a final upload may concatenate at most ${this.config.maxConcatParts} partial uploads`);
      }
      parts = [];
      let sum: number | null = 0;
      for (const url of concat.urls) {
        const id = input.idFromUrl(url);
        const part = id ? await this.load(id) : undefined;
        if (!part || part.space !== space || part.status === 'terminated' || part.status === 'expired') {
          throw new TusError(404, 'PART_NOT_FOUND', `partial upload ${url} does not exist`);
        }
        if (part.concat !== 'partial') throw new TusError(400, 'NOT_PARTIAL', `upload ${url} was not created with Upload-Concat: partial`);
        parts.push(part.id);
        sum = sum === null || part.length === null ? null : sum + part.length;
      }
      length = sum;
      if (length !== null && length > this.config.maxUploadSize) {
        throw new TusError(413, 'UPLOAD_TOO_LARGE', `the concatenation is ${length} bytes, over the maximum of ${this.config.maxUploadSize}`);
      }
    } else {
      if (input.length !== undefined && input.deferLength) {
        throw new TusError(400, 'INVALID_HEADER', 'give either Upload-Length or Upload-Defer-Length, not both');
      }
      if (input.length === undefined && !input.deferLength) {
        throw new TusError(400, 'LENGTH_REQUIRED', 'Upload-Length or Upload-Defer-Length: 1 is required');
      }
      if (input.length !== undefined) {
        if (input.length > this.config.maxUploadSize) {
          throw new TusError(413, 'UPLOAD_TOO_LARGE', `Upload-Length ${input.length} is over the maximum of ${this.config.maxUploadSize} bytes`);
        }
        length = input.length;
      }
    }
    await this.checkQuota(space, length ?? 0);
    const now = nowIso();
    const row: UploadRow = {
      id: randomBytes(16).toString('hex'),
      space,
      private: metadata.private === 'true' ? 1 : 0,
      length,
      upload_offset: 0,
      status: 'uploading',
      metadata: metadataHeader,
      concat: concat ? input.concatHeader!.trim() : null,
      parts: parts ? JSON.stringify(parts) : null,
      digest_algorithm: this.config.digestAlgorithm,
      digest: null,
      created_at: now,
      updated_at: now,
      expires_at: this.expiresAt(),
      completed_at: null,
    };
    const bin = await open(this.layout.bin(row.id), 'wx', this.config.fileMode);
    await bin.close();
    await this.layout.applyFile(this.layout.bin(row.id), space, row.private === 1);
    await this.writeInfo(row);
    await this.db.insertInto('gateway_upload').values(row).execute();
    gatewayMetrics.uploadsCreated.inc();
    if (parts) return (await this.assembleIfReady(row.id)) ?? row;
    if (length === 0) return this.locks.with(row.id, () => this.complete(row, this.body.createDigest(row.digest_algorithm)));
    return row;
  }

  private infoText(row: UploadRow): string {
    return JSON.stringify(infoDocument(row, { binPath: this.layout.bin(row.id) }), null, 2) + '\n';
  }

  private async writeInfo(row: UploadRow): Promise<void> {
    const path = this.layout.info(row.id);
    await writeFileAtomic(path, this.infoText(row), this.config.fileMode);
    await this.layout.applyFile(path, row.space, row.private === 1);
  }

  /** Makes `offset` the durable offset: data flushed, .info replaced, row updated. */
  private async persistOffset(row: UploadRow, offset: number, fsyncHandle?: { datasync(): Promise<void> }): Promise<void> {
    if (fsyncHandle && this.config.fsync === 'always') await fsyncHandle.datasync();
    row.upload_offset = offset;
    row.updated_at = nowIso();
    row.expires_at = this.expiresAt();
    await this.writeInfo(row);
    await this.db
      .updateTable('gateway_upload')
      .set({ upload_offset: offset, updated_at: row.updated_at, expires_at: row.expires_at, length: row.length })
      .where('id', '=', row.id)
      .where('status', '=', 'uploading')
      .execute();
  }

  /**
   * The digest state at the upload's durable offset. In this process it is kept between
   * PATCHes; after a restart (or when another node wrote last) it is rebuilt by hashing the
   * durable prefix of the .bin once. Node's hashes cannot be serialised, and re-reading the
   * prefix costs one sequential read only on the rare resume after a restart, where a
   * serialised state would need our own (slower) hash implementation on every byte.
   * Bytes past the durable offset (written after the last checkpoint of a killed process)
   * are cut off, so the file and the digest always agree with the offset HEAD announced.
   */
  private async digestAt(row: UploadRow): Promise<DigestState> {
    const cached = this.digests.get(row.id);
    if (cached && cached.offset === row.upload_offset) return cached;
    const path = this.layout.bin(row.id);
    let size = (await stat(path)).size;
    if (size > row.upload_offset) {
      const h = await open(path, 'r+');
      await h.truncate(row.upload_offset);
      await h.close();
      size = row.upload_offset;
    } else if (size < row.upload_offset) {
      // Only after a power loss without fsync: trust the bytes that are really there.
      await this.persistOffset(row, size);
    }
    cached?.hash.drop();
    const hash = this.body.createDigest(row.digest_algorithm);
    await hash.extendTo(path, size);
    const state = { offset: size, hash };
    this.digests.set(row.id, state);
    return state;
  }

  /** PATCH (and the body of creation-with-upload): appends the body at the upload's offset. */
  async write(principal: Principal, id: string, input: WriteInput): Promise<UploadRow> {
    // Refuse what can be refused before waiting for the lock.
    const checksum = input.checksumHeader !== undefined ? parseChecksum(input.checksumHeader) : undefined;
    await this.visible(principal, id);
    return this.locks.with(id, async () => {
      const row = await this.visible(principal, id);
      if (row.concat?.startsWith('final;')) throw new TusError(403, 'FINAL_UPLOAD', 'a final upload is made by concatenation; it cannot be patched');
      if (input.offset !== row.upload_offset) {
        throw new TusError(409, 'OFFSET_MISMATCH', `Upload-Offset ${input.offset} does not match the upload's offset ${row.upload_offset}`, {
          'Upload-Offset': String(row.upload_offset),
        });
      }
      if (input.length !== undefined) {
        if (row.length === null) {
          if (input.length < row.upload_offset) throw new TusError(400, 'INVALID_LENGTH', `Upload-Length ${input.length} is below the offset ${row.upload_offset}`);
          if (input.length > this.config.maxUploadSize) {
            throw new TusError(413, 'UPLOAD_TOO_LARGE', `Upload-Length ${input.length} is over the maximum of ${this.config.maxUploadSize} bytes`);
          }
          await this.checkQuota(row.space, input.length - row.upload_offset);
          row.length = input.length;
        } else if (input.length !== row.length) {
          throw new TusError(400, 'LENGTH_CHANGED', `the upload's length is ${row.length}; it cannot be changed`);
        }
      }
      const limit = (row.length ?? this.config.maxUploadSize) - row.upload_offset;
      if (input.contentLength !== undefined && input.contentLength > limit) {
        throw new TusError(413, 'UPLOAD_TOO_LARGE', `the body has ${input.contentLength} bytes, but only ${limit} more fit in this upload`);
      }
      if (row.length === null && input.contentLength) await this.checkQuota(row.space, input.contentLength);
      if (row.status === 'complete') return row;

      const state = await this.digestAt(row);
      const base = state.hash.copy();
      // The chunk's own checksum is computed with the whole-file digest, on the bytes written.
      const chunkHash = checksum ? this.body.createDigest(checksum.algorithm) : undefined;
      const start = row.upload_offset;
      const handle = await open(this.layout.bin(id), 'r+');
      // Unless this PATCH ends in a known state, the cached digest may have seen bytes that do
      // not count: forget it, the next request rebuilds it from the durable prefix.
      let settled = false;
      try {
        // Checkpoints only when the chunk needs no verification: unverified bytes never count.
        const verify = Boolean(checksum || input.trailerChecksum);
        let background: Promise<void> = Promise.resolve();
        let busy = false;
        let lastSync = 0;
        let lastCheckpoint = 0;
        const bin = this.layout.bin(id);
        const syncing = this.config.fsync !== 'never';
        const onFlushed = (flushed: number) => {
          if (busy) return;
          const checkpointDue = !verify && flushed - lastCheckpoint >= this.config.checkpointBytes;
          // A sync only to get ahead of the completion's is skipped while others run: many at once
          // queue on the thread pool's four threads, behind and in front of every other job.
          const syncDue = syncing && flushed - lastSync >= this.config.syncBytes && (checkpointDue || this.backgroundSyncs < MAX_BACKGROUND_SYNCS);
          if (!checkpointDue && !syncDue) return;
          busy = true;
          this.backgroundSyncs++;
          lastSync = flushed;
          // The flush runs in the background while the body keeps arriving, so the one before
          // completion only has the tail to write. The offset (HEAD's) is recorded at
          // checkpoints only, after a flush that covers it.
          background = (async () => {
            if (syncing) await handle.datasync();
            if (verify || flushed - lastCheckpoint < this.config.checkpointBytes) return;
            lastCheckpoint = flushed;
            await this.persistOffset(row, start + flushed);
          })()
            .catch((err) => this.ctx.log.warn({ err, upload: id }, 'checkpoint failed'))
            .finally(() => {
              busy = false;
              this.backgroundSyncs--;
            });
        };
        const digests = chunkHash ? [state.hash, chunkHash] : [state.hash];
        const result = await this.body.receive(input.body, bin, start, limit, digests, onFlushed);
        await background;
        const discard = async (error: TusError) => {
          await handle.truncate(start);
          chunkHash?.drop();
          state.hash.drop();
          state.hash = base;
          settled = true;
          state.offset = start;
          row.upload_offset = start;
          await this.persistOffset(row, start);
          throw error;
        };
        if (verify && result.aborted) await discard(new TusError(400, 'BODY_INCOMPLETE', 'the body ended early; the chunk cannot be verified and was discarded'));
        if (checksum && !(await chunkHash!.digest()).equals(checksum.digest)) {
          gatewayMetrics.checksumMismatches.inc();
          await discard(new TusError(460, 'CHECKSUM_MISMATCH', `the ${checksum.algorithm} checksum of the chunk does not match Upload-Checksum; the chunk was discarded`));
        }
        if (input.trailerChecksum) {
          const trailer = input.body.trailers['upload-checksum'];
          if (trailer) {
            let parsed;
            try {
              parsed = parseChecksum(trailer);
            } catch (err) {
              await discard(err as TusError);
            }
            const actual = await hashRange(this.layout.bin(id), start, result.received, parsed!.algorithm);
            if (!actual.equals(parsed!.digest)) {
              await discard(new TusError(460, 'CHECKSUM_MISMATCH', `the ${parsed!.algorithm} checksum of the chunk does not match the Upload-Checksum trailer; the chunk was discarded`));
            }
          }
        }
        base.drop();
        gatewayMetrics.bytesReceived.inc(result.received);
        state.offset = start + result.received;
        settled = true;
        if (row.length !== null && state.offset === row.length) {
          row.upload_offset = state.offset;
          return await this.complete(row, state.hash, this.config.fsync !== 'never' ? handle.datasync() : undefined);
        }
        await this.persistOffset(row, state.offset, handle);
        if (result.overflow) throw new TusError(413, 'UPLOAD_TOO_LARGE', `the body went past the upload's length; ${result.received} bytes were kept`);
        return row;
      } finally {
        await handle.close();
        if (!settled) {
          this.digests.delete(id);
          state.hash.drop();
          base.drop();
          chunkHash?.drop();
        }
      }
    });
  }

  /**
   * Completion: final .info, links into the space, then in one transaction the row becomes
   * complete and `deposit.completed` enters the outbox. Partial uploads are only parts: they
   * are neither linked nor announced. Runs under the upload's lock. `flushing` is the flush of
   * the data the caller started: the final .info is written and synced meanwhile, and nothing
   * is renamed, linked or announced before both are done.
   */
  private async complete(row: UploadRow, hash: RunningDigest, flushing?: Promise<void>): Promise<UploadRow> {
    const now = nowIso();
    const staging = (async () => {
      row.digest = (await hash.digest()).toString('hex');
      row.status = 'complete';
      row.length = row.upload_offset;
      row.updated_at = now;
      row.completed_at = now;
      row.expires_at = null;
      this.digests.delete(row.id);
      return this.layout.stageInfo(row.id, this.infoText(row), row.space, row.private === 1);
    })();
    const [staged, flushed] = await Promise.allSettled([staging, flushing]);
    if (staged.status === 'rejected' || flushed.status === 'rejected') {
      if (staged.status === 'fulfilled') await unlink(staged.value).catch(() => {});
      throw staged.status === 'rejected' ? staged.reason : (flushed as PromiseRejectedResult).reason;
    }
    await this.layout.replaceInfo(row.id, staged.value);
    const isPartial = row.concat === 'partial';
    // tusd/ is synced beside the space's folder (the renamed .info, the links).
    const paths = isPartial ? undefined : await this.layout.publish(row.id, row.space, row.private === 1, [this.layout.tusd]);
    if (isPartial) await fsyncDir(this.layout.tusd);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('gateway_upload')
        .set({ status: 'complete', length: row.length, upload_offset: row.upload_offset, digest: row.digest, updated_at: now, completed_at: now, expires_at: null })
        .where('id', '=', row.id)
        .execute();
      if (paths) {
        const payload: DepositCompleted = {
          id: row.id,
          space: row.space,
          private: row.private === 1,
          metadata: parseMetadataLenient(row.metadata),
          size: row.length!,
          digests: { [row.digest_algorithm]: row.digest! },
          paths: { bin: paths.bin, info: paths.info, stagingBin: this.layout.bin(row.id), stagingInfo: this.layout.info(row.id) },
        };
        await publish(trx, 'deposit.completed', payload);
      }
    });
    if (paths) {
      this.ctx.bus.wake();
      gatewayMetrics.uploadsCompleted.inc();
    }
    if (isPartial) void this.assembleFinalsOf(row.id).catch((err) => this.ctx.log.error({ err, upload: row.id }, 'concatenation failed'));
    return row;
  }

  /** A partial upload completed: finish every pending final upload that waited for it. */
  private async assembleFinalsOf(partId: string): Promise<void> {
    const finals = await this.db
      .selectFrom('gateway_upload')
      .select('id')
      .where('status', '=', 'uploading')
      .where('parts', 'like', `%"${partId}"%`)
      .execute();
    for (const f of finals) await this.assembleIfReady(f.id);
  }

  /** Concatenates a final upload's parts once all are complete; returns the completed row. */
  async assembleIfReady(finalId: string): Promise<UploadRow | undefined> {
    return this.locks.with(finalId, async () => {
      const row = await this.load(finalId);
      if (!row || row.status !== 'uploading' || !row.parts) return row;
      const ids = JSON.parse(row.parts) as string[];
      const parts = await this.db.selectFrom('gateway_upload').selectAll().where('id', 'in', ids).execute();
      const byId = new Map(parts.map((p) => [p.id, p]));
      if (!ids.every((id) => byId.get(id)?.status === 'complete')) {
        const sum = ids.every((id) => byId.get(id)?.length != null) ? ids.reduce((s, id) => s + byId.get(id)!.length!, 0) : null;
        if (sum !== row.length) {
          row.length = sum;
          await this.db.updateTable('gateway_upload').set({ length: sum }).where('id', '=', row.id).execute();
        }
        return row;
      }
      const hash = this.body.createDigest(row.digest_algorithm);
      const out = await open(this.layout.bin(row.id), 'w');
      let offset = 0;
      let written = false;
      try {
        for (const id of ids) {
          for await (const chunk of createReadStream(this.layout.bin(id), { highWaterMark: 1 << 20 })) {
            await out.write(chunk as Buffer, 0, (chunk as Buffer).length, offset);
            offset += (chunk as Buffer).length;
          }
          // The digest reads back what was just written (from the page cache).
          await hash.extendTo(this.layout.bin(row.id), offset);
        }
        if (this.config.fsync !== 'never') await out.datasync();
        written = true;
      } finally {
        await out.close();
        if (!written) hash.drop();
      }
      row.upload_offset = offset;
      return this.complete(row, hash);
    });
  }

  /** Termination: frees the files (staging and published links); later requests get 404. */
  async terminate(principal: Principal, id: string): Promise<void> {
    await this.visible(principal, id);
    await this.locks.with(id, async () => {
      const row = await this.visible(principal, id);
      await this.layout.remove(row.id, row.space, row.private === 1);
      this.digests.get(id)?.hash.drop();
      this.digests.delete(id);
      await this.db.updateTable('gateway_upload').set({ status: 'terminated', updated_at: nowIso() }).where('id', '=', id).execute();
    });
  }

  /** Removes unfinished uploads past their expiry (their rows stay, so clients get 410). */
  async expireDue(now = nowIso()): Promise<number> {
    const due = await this.db
      .selectFrom('gateway_upload')
      .selectAll()
      .where('status', '=', 'uploading')
      .where('expires_at', '<', now)
      .limit(1000)
      .execute();
    // Completed partial uploads are only parts: kept for expireAfter after completion (a final
    // upload may still name them), then freed like unfinished uploads.
    const partsBefore = new Date(Date.parse(now) - this.config.expireAfter).toISOString();
    const parts = await this.db
      .selectFrom('gateway_upload')
      .selectAll()
      .where('status', '=', 'complete')
      .where('concat', '=', 'partial')
      .where('completed_at', '<', partsBefore)
      .limit(1000)
      .execute();
    due.push(...parts);
    let removed = 0;
    for (const candidate of due) {
      try {
        await this.locks.with(
          candidate.id,
          async () => {
            const row = await this.load(candidate.id);
            if (!row) return;
            const unfinished = row.status === 'uploading' && row.expires_at !== null && row.expires_at < now;
            const oldPart = row.status === 'complete' && row.concat === 'partial' && row.completed_at !== null && row.completed_at < partsBefore;
            if (!unfinished && !oldPart) return;
            await this.layout.remove(row.id, row.space, row.private === 1);
            this.digests.get(row.id)?.hash.drop();
            this.digests.delete(row.id);
            await this.db.updateTable('gateway_upload').set({ status: 'expired', updated_at: nowIso() }).where('id', '=', row.id).execute();
            removed++;
          },
          { wait: false },
        );
      } catch (err) {
        if (!(err instanceof TusError)) throw err; // busy: someone is writing it, so it is alive
      }
    }
    return removed;
  }
}

/** Hashes `length` bytes of a file from `start` (checksum trailers: the algorithm is known last). */
async function hashRange(path: string, start: number, length: number, algorithm: ChecksumAlgorithm): Promise<Buffer> {
  const h = createHash(algorithm);
  if (length > 0) for await (const c of createReadStream(path, { start, end: start + length - 1 })) h.update(c as Buffer);
  return h.digest();
}
