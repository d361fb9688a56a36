import { createHash } from 'node:crypto';
import type { DigestAlgorithm, Workspace, WorkspaceFile } from '../workspace/index.ts';
import type { SedaDigestAlgorithm } from './model.ts';

/** SEDA/Vitam algorithm names and their Node names; any other name is refused. */
export const SEDA_DIGEST_ALGORITHMS: Readonly<Record<SedaDigestAlgorithm, DigestAlgorithm>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

export function sedaAlgorithm(name: string): SedaDigestAlgorithm | undefined {
  return Object.hasOwn(SEDA_DIGEST_ALGORITHMS, name) ? (name as SedaDigestAlgorithm) : undefined;
}

export function toSedaAlgorithm(alg: DigestAlgorithm): SedaDigestAlgorithm {
  return (Object.keys(SEDA_DIGEST_ALGORITHMS) as SedaDigestAlgorithm[]).find((k) => SEDA_DIGEST_ALGORITHMS[k] === alg)!;
}

/**
 * Makes sure `file.digests` holds every algorithm asked for. Those the unpack already computed
 * are reused; the missing ones are computed together in one read of the file.
 */
export async function ensureDigests(workspace: Workspace, file: WorkspaceFile, algorithms: readonly DigestAlgorithm[]): Promise<void> {
  const missing = [...new Set(algorithms)].filter((a) => file.digests[a] === undefined);
  if (missing.length === 0) return;
  const hashes = missing.map((a) => createHash(a));
  for await (const chunk of await workspace.openRead(file.path)) for (const h of hashes) h.update(chunk as Buffer);
  missing.forEach((a, i) => (file.digests[a] = hashes[i].digest('hex')));
}
