import { sign, type KeyObject } from 'node:crypto';
import { withLock } from '../db/index.ts';
import type { SqlLogbook } from './logbook.ts';
import { JsonLinesFile } from './jsonl.ts';
import { currentMaxSeqs, leafLine, leafPages, LEAF_TABLES } from './leaves.ts';
import { MerkleBuilder } from './merkle.ts';
import { requestTimeStamp } from './tsa.ts';
import { computeSealRoot, sealObjectId, TRACEABILITY_CONTAINER, type SealFooter, type SealHeader, type SealRanges } from './proof.ts';

export interface SealResult {
  n: number;
  operationId: string;
  leafCount: number;
  merkleRoot: string;
  sealRoot: string;
  proofId: string;
  proofSize: number;
}

export interface SealKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const monthsBefore = (d: Date, months: number): string => {
  const x = new Date(d);
  x.setUTCMonth(x.getUTCMonth() - months);
  return x.toISOString();
};

/**
 * A traceability operation: Merkle tree (SHA-512) over every event since the previous seal,
 * chained with the previous seal and those one month and one year before, signed with the
 * instance Ed25519 key; the proof (JSON lines: header, one line per event, footer) goes to the
 * offers of the configured strategy, container `traceability`. Returns null when nothing is new.
 */
export async function sealJournals(logbook: SqlLogbook, keys: SealKeys): Promise<SealResult | null> {
  const storage = logbook.storage();
  if (!storage) throw new Error('the storage engine is not available: a seal proof must go to the offers');
  const { db } = logbook.cdb;
  return withLock(db, 'logbook.seal', async () => {
    await logbook.flushExports().catch(() => 0);
    const prev = await db.selectFrom('logbook_seal').selectAll().orderBy('n', 'desc').limit(1).executeTakeFirst();
    const prevRanges: SealRanges | undefined = prev ? JSON.parse(prev.ranges) : undefined;
    const max = await currentMaxSeqs(logbook.cdb);
    const ranges = {} as SealRanges;
    let any = false;
    for (const t of LEAF_TABLES) {
      const from = prevRanges ? prevRanges[t][1] : 0;
      ranges[t] = [from, Math.max(from, max[t])];
      if (ranges[t][1] > from) any = true;
    }
    if (!any) return null;

    const n = (prev?.n ?? 0) + 1;
    const now = new Date();
    const operationId = await logbook.startOperation({ type: 'TRACEABILITY', evType: 'STP_OP_SECURISATION', detail: { sealId: n } });
    try {
      const header: SealHeader = {
        proof: 'coffre-seal',
        version: 1,
        n,
        operationId,
        createdAt: now.toISOString(),
        ranges,
        hashAlgorithm: 'sha256',
        merkle: 'RFC6962-SHA512',
      };
      const file = new JsonLinesFile();
      try {
        await file.write(header);
        const tree = new MerkleBuilder();
        // Leaves straight from the stored hashes (no row parsed, no leaf object), a page per write.
        for await (const { t, rows } of leafPages(logbook.cdb, ranges, logbook.config.pageSize)) {
          let lines = '';
          for (const r of rows) {
            const h = r.hash as Buffer;
            tree.add(h);
            lines += leafLine(t, r, h.toString('hex'));
          }
          const wait = file.writeText(lines);
          if (wait) await wait;
        }
        const before = async (iso: string) =>
          (await db.selectFrom('logbook_seal').select('seal_root').where('created_at', '<=', iso).orderBy('n', 'desc').limit(1).executeTakeFirst())?.seal_root ?? null;
        const chained = {
          leafCount: tree.count,
          merkleRoot: tree.root(),
          prevSealRoot: prev?.seal_root ?? null,
          monthSealRoot: await before(monthsBefore(now, 1)),
          yearSealRoot: await before(monthsBefore(now, 12)),
        };
        const sealRoot = computeSealRoot(header, chained);
        const signature = sign(null, Buffer.from(sealRoot, 'hex'), keys.privateKey).toString('base64');
        const tsaToken = logbook.config.tsaUrl ? (await requestTimeStamp(logbook.config.tsaUrl, Buffer.from(sealRoot, 'hex'))).toString('base64') : null;
        await logbook.appendOperation(operationId, [
          { evType: 'OP_SECURISATION_TIMESTAMP', outcome: 'OK', evDetData: { sealId: n, leafCount: tree.count, merkleRoot: chained.merkleRoot, sealRoot } },
        ]);
        const footer: SealFooter = {
          ...chained,
          sealRoot,
          signatureAlgorithm: 'Ed25519',
          signature,
          publicKey: keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
          tsaToken,
        };
        await file.write(footer);
        const source = await file.finish();
        const res = await storage.write({ strategyId: logbook.config.strategy, container: TRACEABILITY_CONTAINER, id: sealObjectId(n), source });
        if (res.status !== 'OK') throw new Error(`seal proof ${n} not written to every offer: ${res.message ?? res.copies.map((c) => `${c.offerId} ${c.status}`).join(', ')}`);
        await db
          .insertInto('logbook_seal')
          .values({
            n,
            operation_id: operationId,
            created_at: header.createdAt,
            ranges: JSON.stringify(ranges),
            leaf_count: tree.count,
            merkle_root: chained.merkleRoot,
            prev_seal_root: chained.prevSealRoot,
            month_seal_root: chained.monthSealRoot,
            year_seal_root: chained.yearSealRoot,
            seal_root: sealRoot,
            signature,
            proof_id: sealObjectId(n),
            proof_size: source.size,
            tsa_token: tsaToken,
          })
          .execute();
        await logbook.appendOperation(operationId, [{ evType: 'OP_SECURISATION_STORAGE', outcome: 'OK', evDetData: { sealId: n, proofId: sealObjectId(n), digest: res.digest } }]);
        await logbook.endOperation(operationId, 'OK', { evType: 'STP_OP_SECURISATION', evDetData: { sealId: n } });
        return { n, operationId, leafCount: tree.count, merkleRoot: chained.merkleRoot, sealRoot, proofId: sealObjectId(n), proofSize: source.size };
      } finally {
        file.remove();
      }
    } catch (err) {
      await logbook
        .endOperation(operationId, 'KO', { evType: 'STP_OP_SECURISATION', evDetData: { sealId: n, detail: (err as Error).message } })
        .catch(() => {});
      throw err;
    }
  }, { ttlMs: 120_000 });
}
