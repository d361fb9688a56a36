import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { StorageError, type DigestAlgorithm } from '../../contract.ts';

/**
 * Where the `fs` driver keeps things. Objects: <root>/<container>/<xx>/<yy>/<id>, where xx/yy are
 * the first two bytes (hex) of SHA-256(id), so that no folder grows past a few thousand entries.
 * Beside each object, its digest: Node cannot set extended attributes without a native module,
 * so the digest is kept in the name of a second hard link to the object's inode,
 * `.<id>.<algorithm>.<hex>` (a sidecar that costs no inode and no data block and cannot be torn;
 * it is trusted only while it points to the object's inode). While writing: the offer's temp folder
 * `.coffre-offer/tmp/<container>.<id>.<random>.tmp` (same filesystem; linked into place once synced,
 * then kept as a third name of the object — "held" — until a checkpoint, see checkpoint.ts).
 * Names starting with '.' are never valid ids or containers, so they never clash with objects.
 */

const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const OBJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:+=@,-]{0,199}$/;

export function checkContainer(container: string): void {
  if (typeof container !== 'string' || !CONTAINER.test(container)) {
    throw new StorageError('BAD_REQUEST', `invalid container name ${JSON.stringify(container)}: letters, digits, '.', '_', '-' only, at most 64`, false);
  }
}

export function checkId(id: string): void {
  if (typeof id !== 'string' || !OBJECT_ID.test(id)) {
    throw new StorageError('BAD_REQUEST', `invalid object id ${JSON.stringify(id)}: letters, digits and . _ : + = @ , - only, not starting with a sign, at most 200`, false);
  }
}

export interface ObjectPaths {
  dir: string;
  id: string;
  file: string;
}

export function objectPaths(root: string, container: string, id: string): ObjectPaths {
  checkContainer(container);
  checkId(id);
  const h = createHash('sha256').update(id).digest('hex');
  const dir = join(root, container, h.slice(0, 2), h.slice(2, 4));
  return { dir, id, file: join(dir, id) };
}

/** The folder holding the offer's own files (write log). */
export const offerMetaDir = (root: string) => join(root, '.coffre-offer');

/** Where writes are staged, and held until a checkpoint (inside the offer's own folder). */
export const tmpDirOf = (root: string) => join(offerMetaDir(root), 'tmp');

/**
 * The folders whose entries a write to `leaf` may have changed, from the leaf up to the offer's
 * root: the leaf (the object's names), its parent (the leaf's name), and so on.
 */
export function folderChain(root: string, leaf: string): string[] {
  const chain = [leaf];
  for (let d = dirname(leaf); d.length >= root.length; d = dirname(d)) chain.push(d);
  return chain;
}

const DIGEST_HEX_LENGTH: Record<DigestAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128 };

/** The name of the link that keeps an object's digest: `.<id>.<algorithm>.<hex>`. */
export const digestLinkPath = (paths: ObjectPaths, algorithm: DigestAlgorithm, digest: string) => join(paths.dir, `.${paths.id}.${algorithm}.${digest}`);

/** The digest a folder entry keeps for object `id`, if it is one of its digest links. */
export function parseDigestLink(name: string, id: string): { algorithm: DigestAlgorithm; digest: string } | undefined {
  const prefix = `.${id}.`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(md5|sha1|sha256|sha384|sha512)\.([0-9a-f]+)$/.exec(name.slice(prefix.length));
  if (!m || m[2].length !== DIGEST_HEX_LENGTH[m[1] as DigestAlgorithm]) return undefined;
  return { algorithm: m[1] as DigestAlgorithm, digest: m[2] };
}
