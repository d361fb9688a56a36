import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { StorageEngine, WriteRequest, WriteResult, ReadRequest, ReadResult, StrategyCheck, RemoveResult, OfferStatus, CopyResult } from '../../src/storage/engine-api.ts';

/**
 * A small real StorageEngine over local folders (one per offer), for the journal tests while the
 * storage engine is written elsewhere: write-once (same bytes = ALREADY_EXISTS, other bytes = KO),
 * atomic (temp file + rename), sha512 digests computed while streaming.
 */
export class FolderStorage implements StorageEngine {
  constructor(
    readonly root: string,
    readonly offers: string[] = ['offer-a', 'offer-b'],
  ) {
    for (const o of offers) mkdirSync(join(root, o), { recursive: true });
  }

  pathOf(offer: string, container: string, id: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(container) || !/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`bad object name ${container}/${id}`);
    return join(this.root, offer, container, id);
  }

  strategyIds(): string[] {
    return ['default'];
  }

  async check(strategyId: string, bytes: number): Promise<StrategyCheck> {
    return {
      strategyId,
      neededBytes: bytes,
      status: 'OK',
      offers: this.offers.map((o) => ({ offerId: o, driver: 'folder', available: true, usableBytes: null, totalBytes: null, capacityUnknown: true, status: 'OK' })),
    };
  }

  private async digestOf(path: string): Promise<string> {
    const h = createHash('sha512');
    await pipeline(createReadStream(path), h);
    return h.digest('hex');
  }

  async write(req: WriteRequest): Promise<WriteResult> {
    const copies: CopyResult[] = [];
    let digest = '';
    for (const offer of this.offers) {
      const path = this.pathOf(offer, req.container, req.id);
      mkdirSync(join(this.root, offer, req.container), { recursive: true });
      const tmp = `${path}.tmp-${process.pid}`;
      const h = createHash('sha512');
      await pipeline(
        req.source.open(),
        new Transform({ transform: (c, _e, cb) => (h.update(c), cb(null, c)) }),
        createWriteStream(tmp),
      );
      digest = h.digest('hex');
      if (existsSync(path)) {
        rmSync(tmp);
        const same = (await this.digestOf(path)) === digest;
        copies.push({ offerId: offer, status: same ? 'ALREADY_EXISTS' : 'KO', digest, attempts: 1, ...(same ? {} : { message: 'another object with this id exists' }) });
        continue;
      }
      renameSync(tmp, path);
      copies.push({ offerId: offer, status: 'OK', digest, size: req.source.size, attempts: 1 });
    }
    const ok = copies.every((c) => c.status !== 'KO');
    return { status: ok ? 'OK' : 'KO', container: req.container, id: req.id, strategyId: 'default', size: req.source.size, digest, digestAlgorithm: 'sha512', copies };
  }

  async read(req: ReadRequest): Promise<ReadResult> {
    for (const offer of this.offers) {
      const path = this.pathOf(offer, req.container, req.id);
      if (existsSync(path)) return { body: createReadStream(path), size: statSync(path).size, offerId: offer };
    }
    throw Object.assign(new Error(`${req.container}/${req.id} is on no offer`), { code: 'NOT_FOUND' });
  }

  async exists(_s: string, container: string, id: string): Promise<Record<string, boolean>> {
    return Object.fromEntries(this.offers.map((o) => [o, existsSync(this.pathOf(o, container, id))]));
  }

  async remove(_s: string, container: string, id: string): Promise<RemoveResult[]> {
    return this.offers.map((o) => {
      const p = this.pathOf(o, container, id);
      const had = existsSync(p);
      rmSync(p, { force: true });
      return { offerId: o, removed: had };
    });
  }

  async offersStatus(): Promise<OfferStatus[]> {
    return this.offers.map((o) => ({ id: o, driver: 'folder', available: true, objects: null, usableBytes: null, totalBytes: null }));
  }

  async close(): Promise<void> {}
}
