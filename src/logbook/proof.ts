import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import type { LogbookSealTable } from './tables.ts';

export const TRACEABILITY_CONTAINER = 'traceability';
export const sealObjectId = (n: number): string => `seal-${n}`;

export type SealRanges = Record<'op' | 'lfc' | 'step', [number, number]>;

/** What a seal signs, besides the chained roots. */
export interface SealHeader {
  proof: 'coffre-seal';
  version: 1;
  n: number;
  operationId: string;
  createdAt: string;
  /** Per table, (from exclusive, to inclusive] in seq. */
  ranges: SealRanges;
  hashAlgorithm: 'sha256';
  merkle: 'RFC6962-SHA512';
}

export interface SealFooter {
  leafCount: number;
  merkleRoot: string;
  prevSealRoot: string | null;
  monthSealRoot: string | null;
  yearSealRoot: string | null;
  sealRoot: string;
  signatureAlgorithm: 'Ed25519';
  signature: string;
  publicKey: string;
  tsaToken: string | null;
}

/**
 * The seal root chains this tree with the seal before, and those one month and one year before
 * (Vitam's traceability chaining): SHA-512 of the canonical JSON of the header, the tree root and
 * the three previous seal roots. Chaining seal roots (not bare tree roots) makes the seals one chain:
 * rewriting any past seal changes every seal after it.
 */
export function computeSealRoot(header: SealHeader, f: Pick<SealFooter, 'leafCount' | 'merkleRoot' | 'prevSealRoot' | 'monthSealRoot' | 'yearSealRoot'>): string {
  return createHash('sha512')
    .update(
      canonicalJson({
        header,
        leafCount: f.leafCount,
        merkleRoot: f.merkleRoot,
        prevSealRoot: f.prevSealRoot,
        monthSealRoot: f.monthSealRoot,
        yearSealRoot: f.yearSealRoot,
      }),
    )
    .digest('hex');
}

export function sealRowFromProof(header: SealHeader, footer: SealFooter, size: number): LogbookSealTable {
  return {
    n: header.n,
    operation_id: header.operationId,
    created_at: header.createdAt,
    ranges: JSON.stringify(header.ranges),
    leaf_count: footer.leafCount,
    merkle_root: footer.merkleRoot,
    prev_seal_root: footer.prevSealRoot,
    month_seal_root: footer.monthSealRoot,
    year_seal_root: footer.yearSealRoot,
    seal_root: footer.sealRoot,
    signature: footer.signature,
    proof_id: sealObjectId(header.n),
    proof_size: size,
    tsa_token: footer.tsaToken,
  };
}

export function headerFromRow(row: LogbookSealTable): SealHeader {
  return {
    proof: 'coffre-seal',
    version: 1,
    n: row.n,
    operationId: row.operation_id,
    createdAt: row.created_at,
    ranges: JSON.parse(row.ranges),
    hashAlgorithm: 'sha256',
    merkle: 'RFC6962-SHA512',
  };
}
