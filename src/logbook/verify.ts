import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { sql } from 'kysely';
import type { CoffreDb } from '../db/index.ts';
import type { StorageEngine } from '../storage/engine-api.ts';
import { readJsonLines } from './jsonl.ts';
import { leavesInRanges, type Leaf } from './leaves.ts';
import { leafOf, MerkleBuilder } from './merkle.ts';
import { tokenStamps } from './tsa.ts';
import { computeSealRoot, headerFromRow, TRACEABILITY_CONTAINER, type SealRanges } from './proof.ts';
import { chainKey, chainLabel, rowHash, sameHash, TABLES, type TableName } from './rows.ts';
import type { LogbookSealTable } from './tables.ts';

export type ProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'operation' | 'seal' | 'proof';

export interface Problem {
  kind: ProblemKind;
  table?: TableName;
  seq?: number;
  evId?: string;
  chain?: string;
  idx?: number;
  seal?: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  chains: number;
  events: number;
  seals: number;
  proofsChecked: number;
  /** Problems in the order found: chains (operation, lifecycle, step records), then seals. */
  problems: Problem[];
  /** The first event (or seal) that breaks. */
  first?: Problem;
  notes: string[];
}

export interface VerifyOptions {
  storage?: StorageEngine;
  strategyId: string;
  publicKey: KeyObject;
  /** Check seals from this number on (chains are always checked whole). */
  fromSeal?: number;
  pageSize: number;
  maxProblems?: number;
}

const TABLE_ORDER: Record<TableName, number> = { op: 0, lfc: 1, step: 2 };
const CHAIN_ORDER: Record<TableName, string> = { op: 'operation_id, idx', lfc: 'lfc_kind, lfc_id, idx', step: 'operation_id, idx' };

/** Rows of a table in chain order (chain by chain), page by page. */
async function* chainsOf(cdb: CoffreDb, t: TableName, pageSize: number): AsyncGenerator<Record<string, any>[]> {
  let chain: Record<string, any>[] = [];
  let key: string | undefined;
  let offsetKey: any[] | undefined;
  const table = sql.table(TABLES[t].sql);
  for (;;) {
    let q;
    if (!offsetKey) q = sql<any>`select * from ${table} order by ${sql.raw(CHAIN_ORDER[t])} limit ${pageSize}`;
    else if (t === 'lfc') q = sql<any>`select * from ${table} where (lfc_kind, lfc_id, idx) > (${offsetKey[0]}, ${offsetKey[1]}, ${offsetKey[2]}) order by ${sql.raw(CHAIN_ORDER[t])} limit ${pageSize}`;
    else q = sql<any>`select * from ${table} where (operation_id, idx) > (${offsetKey[0]}, ${offsetKey[1]}) order by ${sql.raw(CHAIN_ORDER[t])} limit ${pageSize}`;
    const { rows } = await q.execute(cdb.db);
    for (const r of rows) {
      r.seq = Number(r.seq);
      r.idx = Number(r.idx);
      const k = chainKey(t, r);
      if (k !== key && chain.length) {
        yield chain;
        chain = [];
      }
      key = k;
      chain.push(r);
    }
    if (rows.length < pageSize) break;
    const last = rows[rows.length - 1];
    offsetKey = t === 'lfc' ? [last.lfc_kind, last.lfc_id, last.idx] : [last.operation_id, last.idx];
  }
  if (chain.length) yield chain;
}

const evName = (t: TableName, r: Record<string, any>) => (t === 'step' ? `${r.step_id}:${r.action}` : r.ev_id);

/**
 * Walks one chain and names what broke. A stored hash that does not match the row's content is an
 * edit. A broken link is told apart by looking one row around it: the next row linking to the row
 * before means this one was inserted; this row linking to the next one means the two were swapped;
 * otherwise an event is missing before this one. A row whose seq is lower than the one before it
 * in the chain was moved or inserted.
 */
export function checkChain(t: TableName, rows: Record<string, any>[]): Problem[] {
  const problems: Problem[] = [];
  const key = chainKey(t, rows[0] as any);
  const label = chainLabel(t, key);
  const at = (r: Record<string, any>, kind: ProblemKind, message: string): Problem => ({ kind, table: t, seq: r.seq, evId: evName(t, r), chain: key, idx: r.idx, message });
  let skipLink = false;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!sameHash(rowHash(t, r), r.hash)) problems.push(at(r, 'edited', `event ${evName(t, r)} (${label}, position ${i}, seq ${r.seq}) was edited: its content no longer matches its hash`));
    if (skipLink) {
      skipLink = false;
      continue;
    }
    const expected = i === 0 ? null : rows[i - 1].hash;
    if (sameHash(r.prev_hash, expected)) {
      if (r.idx !== i && i === 0) problems.push(at(r, 'deleted', `${label} starts at position ${r.idx}: the events before event ${evName(t, r)} were deleted`));
      continue;
    }
    const next = rows[i + 1];
    if (next && sameHash(r.prev_hash, next.hash) && sameHash(next.prev_hash, expected)) {
      problems.push(at(r, 'reordered', `events ${evName(t, r)} and ${evName(t, next)} (${label}, positions ${i} and ${i + 1}) were swapped`));
      skipLink = true;
      continue;
    }
    if (next && sameHash(next.prev_hash, expected)) {
      problems.push(at(r, 'inserted', `event ${evName(t, r)} (${label}, position ${i}, seq ${r.seq}) was inserted: it is not in the chain`));
      skipLink = true;
      continue;
    }
    if (i >= 2 && sameHash(r.prev_hash, rows[i - 2].hash)) {
      problems.push(at(rows[i - 1], 'inserted', `event ${evName(t, rows[i - 1])} (${label}, position ${i - 1}) was inserted: it is not in the chain`));
      continue;
    }
    if (i === 0) problems.push(at(r, 'deleted', `${label}: the events before event ${evName(t, r)} (seq ${r.seq}) were deleted (it links to a missing event)`));
    else problems.push(at(r, 'deleted', `${label}: an event is missing before event ${evName(t, r)} (position ${i}, seq ${r.seq}): it links to a deleted event`));
  }
  for (let i = 1; i < rows.length; i++) {
    if (rows[i].seq < rows[i - 1].seq && !problems.some((p) => p.seq === rows[i].seq || p.seq === rows[i - 1].seq)) {
      problems.push(at(rows[i - 1], 'reordered', `event ${evName(t, rows[i - 1])} (${label}) was written after event ${evName(t, rows[i])} yet stands before it`));
    }
  }
  return problems;
}

/** Rechecks every chain, every seal (root, chaining, signature) and each proof against the offers. */
export async function verifyJournals(cdb: CoffreDb, options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, chains: 0, events: 0, seals: 0, proofsChecked: 0, problems: [], notes: [] };
  const max = options.maxProblems ?? 1000;
  const add = (p: Problem) => {
    if (report.problems.length < max) report.problems.push(p);
  };

  // Operations: their first event opens them, their last closes them with the recorded status.
  const ops = new Map<string, { type: string; ev_type: string; status: string | null; closing_ev_id: string | null }>();
  {
    const rows = await cdb.db
      .selectFrom('logbook_operation as o')
      .leftJoin('logbook_operation_end as e', 'e.operation_id', 'o.id')
      .select(['o.id', 'o.type', 'o.ev_type', 'e.status', 'e.closing_ev_id'])
      .execute();
    for (const r of rows) ops.set(r.id, r);
  }
  const seen = new Set<string>();
  for (const t of ['op', 'lfc', 'step'] as TableName[]) {
    for await (const chain of chainsOf(cdb, t, options.pageSize)) {
      report.chains++;
      report.events += chain.length;
      for (const p of checkChain(t, chain)) add(p);
      if (t !== 'op') continue;
      const opId = chain[0].operation_id;
      seen.add(opId);
      const op = ops.get(opId);
      const first = chain[0];
      const last = chain[chain.length - 1];
      if (!op) add({ kind: 'operation', table: 'op', seq: first.seq, evId: first.ev_id, chain: opId, message: `events of operation ${opId} exist but the operation does not (deleted?)` });
      else {
        if (first.idx === 0 && (first.outcome !== 'STARTED' || first.ev_type !== op.ev_type))
          add({ kind: 'operation', table: 'op', seq: first.seq, evId: first.ev_id, chain: opId, message: `operation ${opId}: its first event ${first.ev_id} is not its start (${op.ev_type} STARTED)` });
        if (op.status && (last.outcome !== op.status || last.ev_id !== op.closing_ev_id))
          add({ kind: 'deleted', table: 'op', seq: last.seq, evId: last.ev_id, chain: opId, message: `operation ${opId} ended ${op.status} but its last event ${last.ev_id} (${last.ev_type} ${last.outcome}) does not close it: its closing event was deleted` });
      }
    }
  }
  for (const [id] of ops) if (!seen.has(id)) add({ kind: 'deleted', table: 'op', chain: id, message: `operation ${id} has no events left: its journal was deleted` });

  // Seals.
  const seals = await cdb.db.selectFrom('logbook_seal').selectAll().orderBy('n').execute();
  const byN = new Map<number, LogbookSealTable>(seals.map((s) => [s.n, s]));
  const fromSeal = options.fromSeal ?? 1;
  if (options.fromSeal !== undefined && !byN.has(options.fromSeal)) throw new Error(`no seal ${options.fromSeal} in the journal (seals: ${seals.length ? `1 to ${seals[seals.length - 1].n}` : 'none'})`);
  if (!options.storage) report.notes.push('storage engine not available: proofs were not compared with the offers');
  let prevRoot: string | null = null;
  let prevTo: SealRanges | undefined;
  for (const s of seals) {
    const ranges: SealRanges = JSON.parse(s.ranges);
    const expectPrev = prevRoot;
    const expectFrom = prevTo;
    prevRoot = s.seal_root;
    prevTo = ranges;
    if (s.n < fromSeal) continue;
    report.seals++;
    const sealProblem = (message: string): Problem => ({ kind: 'seal', seal: s.n, message: `seal ${s.n}: ${message}` });
    if (s.prev_seal_root !== expectPrev) add(sealProblem('does not chain to the seal before it'));
    for (const t of ['op', 'lfc', 'step'] as TableName[]) {
      const from = expectFrom ? expectFrom[t][1] : 0;
      if (ranges[t][0] !== from) add(sealProblem(`its ${t} range starts at ${ranges[t][0]}, not where the seal before ended (${from})`));
    }
    for (const [field, v] of [['month', s.month_seal_root], ['year', s.year_seal_root]] as const) {
      if (v !== null && !seals.some((o) => o.n < s.n && o.seal_root === v)) add(sealProblem(`its ${field} chaining names no earlier seal`));
    }
    const header = headerFromRow(s);
    // Leaves from the database, compared with the proof in the offers line by line.
    const tree = new MerkleBuilder();
    let proofIter: AsyncGenerator<any> | undefined;
    let proofFooter: any;
    let proofDone = false;
    const nextProofLeaf = async (): Promise<Leaf | undefined> => {
      if (!proofIter || proofDone) return undefined;
      const { value, done } = await proofIter.next();
      if (done) {
        proofDone = true;
        return undefined;
      }
      if (value.sealRoot) {
        proofFooter = value;
        proofDone = true;
        return undefined;
      }
      return value;
    };
    if (options.storage) {
      try {
        const obj = await options.storage.read({ strategyId: options.strategyId, container: TRACEABILITY_CONTAINER, id: s.proof_id, verifyDigest: true });
        proofIter = readJsonLines(obj.body, `proof ${s.proof_id}`);
        const { value: head } = await proofIter.next();
        if (!head || JSON.stringify(head) !== JSON.stringify(header)) add(sealProblem(`its row differs from the header of proof ${s.proof_id} in the offers`));
        report.proofsChecked++;
      } catch (err) {
        add({ kind: 'proof', seal: s.n, message: `seal ${s.n}: proof ${s.proof_id} cannot be read from the offers: ${(err as Error).message}` });
        proofIter = undefined;
      }
    }
    let pending = await nextProofLeaf();
    let reported = false;
    const proofMismatch = (p: Problem) => {
      if (!reported) add(p);
      reported = true;
    };
    for await (const leaf of leavesInRanges(cdb, ranges, options.pageSize)) {
      tree.add(leafOf(leaf.hash));
      if (!proofIter) continue;
      // Proof leaves that sort before this row are missing from the database.
      while (pending && (TABLE_ORDER[pending.t] < TABLE_ORDER[leaf.t] || (pending.t === leaf.t && pending.seq < leaf.seq))) {
        proofMismatch({ kind: 'deleted', table: pending.t, seq: pending.seq, evId: pending.evId, chain: pending.chain, idx: pending.idx, seal: s.n, message: `event ${pending.evId} (${chainLabel(pending.t, pending.chain)}, position ${pending.idx}, seq ${pending.seq}) is in seal ${s.n} but missing from the database` });
        pending = await nextProofLeaf();
      }
      if (!pending || pending.t !== leaf.t || pending.seq !== leaf.seq) {
        proofMismatch({ kind: 'inserted', table: leaf.t, seq: leaf.seq, evId: leaf.evId, chain: leaf.chain, idx: leaf.idx, seal: s.n, message: `event ${leaf.evId} (${chainLabel(leaf.t, leaf.chain)}, seq ${leaf.seq}) is in the database within seal ${s.n}'s range but not in its proof` });
        continue;
      }
      if (pending.hash !== leaf.hash || pending.evId !== leaf.evId || pending.chain !== leaf.chain || pending.idx !== leaf.idx) {
        proofMismatch({ kind: pending.evId !== leaf.evId ? 'reordered' : 'edited', table: leaf.t, seq: leaf.seq, evId: leaf.evId, chain: leaf.chain, idx: leaf.idx, seal: s.n, message: `event ${leaf.evId} (${chainLabel(leaf.t, leaf.chain)}, seq ${leaf.seq}) differs from seal ${s.n}'s proof, which holds event ${pending.evId} there` });
      }
      pending = await nextProofLeaf();
    }
    while (pending) {
      proofMismatch({ kind: 'deleted', table: pending.t, seq: pending.seq, evId: pending.evId, chain: pending.chain, idx: pending.idx, seal: s.n, message: `event ${pending.evId} (${chainLabel(pending.t, pending.chain)}, position ${pending.idx}, seq ${pending.seq}) is in seal ${s.n} but missing from the database` });
      pending = await nextProofLeaf();
    }
    const root = tree.root();
    if (tree.count !== Number(s.leaf_count) || root !== s.merkle_root) add(sealProblem(`the events in its range no longer give its Merkle root (${tree.count} events, ${s.leaf_count} sealed)`));
    const sealRoot = computeSealRoot(header, { leafCount: Number(s.leaf_count), merkleRoot: s.merkle_root, prevSealRoot: s.prev_seal_root, monthSealRoot: s.month_seal_root, yearSealRoot: s.year_seal_root });
    if (sealRoot !== s.seal_root) add(sealProblem('its seal root does not match its tree root and chaining'));
    else if (!verifySignature(null, Buffer.from(s.seal_root, 'hex'), options.publicKey, Buffer.from(s.signature, 'base64'))) add(sealProblem('its signature does not verify with the instance key'));
    if (s.tsa_token && !tokenStamps(Buffer.from(s.tsa_token, 'base64'), Buffer.from(s.seal_root, 'hex'))) add(sealProblem('its RFC 3161 token does not stamp its seal root'));
    if (proofIter) {
      if (!proofFooter) add({ kind: 'proof', seal: s.n, message: `seal ${s.n}: proof ${s.proof_id} in the offers has no footer (truncated)` });
      else {
        for (const [k, col] of [['merkleRoot', 'merkle_root'], ['sealRoot', 'seal_root'], ['signature', 'signature'], ['prevSealRoot', 'prev_seal_root'], ['monthSealRoot', 'month_seal_root'], ['yearSealRoot', 'year_seal_root'], ['tsaToken', 'tsa_token']] as const) {
          if (proofFooter[k] !== s[col]) add(sealProblem(`its ${k} differs from proof ${s.proof_id} in the offers`));
        }
      }
      await proofIter.return(undefined);
    }
  }
  // Events past the last seal are not sealed yet; say how many.
  report.ok = report.problems.length === 0;
  report.first = firstProblem(report.problems);
  return report;
}

/** The first problem: the event problem with the lowest position (table order, then seq), else the first seal problem. */
function firstProblem(problems: Problem[]): Problem | undefined {
  const events = problems.filter((p) => p.seq !== undefined && p.table);
  if (events.length) return events.sort((a, b) => TABLE_ORDER[a.table!] - TABLE_ORDER[b.table!] || a.seq! - b.seq!)[0];
  return problems[0];
}
