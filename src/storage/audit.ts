import type { DigestAlgorithm } from './contract.ts';
import type { Engine } from './engine.ts';

export interface AuditDiscrepancy {
  container: string;
  id: string;
  offerId: string;
  problem: 'MISSING' | 'CORRUPTED' | 'UNREADABLE' | 'UNKNOWN_STRATEGY';
  expectedDigest: string;
  actualDigest?: string | null;
  message: string;
}

export interface AuditReport {
  objects: number;
  copiesChecked: number;
  discrepancies: AuditDiscrepancy[];
}

/**
 * Checks every recorded object on every active offer of its strategy (or only `offerId`): the
 * copy must exist and its digest, recomputed from the bytes (never the kept value), must be the
 * recorded one. Objects are read from the database page by page.
 */
export async function auditStorage(
  engine: Engine,
  options: { offerId?: string; pageSize?: number; onDiscrepancy?: (d: AuditDiscrepancy) => void } = {},
): Promise<AuditReport> {
  if (options.offerId) engine.runtime(options.offerId); // unknown offer: fail now, with its name
  const report: AuditReport = { objects: 0, copiesChecked: 0, discrepancies: [] };
  const found = (d: AuditDiscrepancy) => {
    report.discrepancies.push(d);
    options.onDiscrepancy?.(d);
  };
  const pageSize = options.pageSize ?? 200;
  let after: { container: string; id: string } | undefined;
  for (;;) {
    let q = engine.db.selectFrom('storage_object').selectAll().orderBy('container').orderBy('id').limit(pageSize);
    if (after) {
      const a = after;
      q = q.where((eb) => eb.or([eb('container', '>', a.container), eb.and([eb('container', '=', a.container), eb('id', '>', a.id)])]));
    }
    const rows = await q.execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1];
    for (const row of rows) {
      report.objects++;
      const strategy = engine.referential.strategies.get(row.strategy_id);
      const base = { container: row.container, id: row.id, expectedDigest: row.digest };
      if (!strategy) {
        found({ ...base, offerId: '-', problem: 'UNKNOWN_STRATEGY', message: `${row.container}/${row.id}: its strategy "${row.strategy_id}" is no longer configured` });
        continue;
      }
      const offers = strategy.offers.filter((o) => o.active && (!options.offerId || o.id === options.offerId));
      await Promise.all(
        offers.map(async (o) => {
          report.copiesChecked++;
          const rt = engine.runtime(o.id);
          try {
            const actual = await rt.run('audit', row.size, (c) => c.digest(row.container, row.id, { algorithm: row.digest_algorithm as DigestAlgorithm, noCache: true }));
            if (actual === null) found({ ...base, offerId: o.id, problem: 'MISSING', actualDigest: null, message: `${row.container}/${row.id}: missing on offer ${o.id}` });
            else if (actual !== row.digest) found({ ...base, offerId: o.id, problem: 'CORRUPTED', actualDigest: actual, message: `${row.container}/${row.id}: corrupted on offer ${o.id} (${row.digest_algorithm} ${actual.slice(0, 16)}…, recorded ${row.digest.slice(0, 16)}…)` });
          } catch (err) {
            found({ ...base, offerId: o.id, problem: 'UNREADABLE', message: `${row.container}/${row.id}: cannot be checked on offer ${o.id}: ${(err as Error).message}` });
          }
        }),
      );
    }
  }
  return report;
}
