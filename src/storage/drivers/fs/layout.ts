import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../../platform/files.ts';
import { StorageError, type DigestAlgorithm } from '../../contract.ts';

/**
 * Where the `fs` driver keeps things. Objects: <root>/<container>/<x>/<y>/<id>, where x and y are
 * the first two hex digits of SHA-256(id): 256 leaf folders, so that a young offer does not make a
 * new folder for nearly every object (each one an inode to allocate and a folder to sync), while
 * a million objects still make only ~4,000 per folder (ext4 indexes big folders). Offers made by
 * earlier versions use two digits per level (`xx/yy`); the width is kept in
 * `.coffre-offer/layout.json` (see offerLayout).
 * Beside each object, its digest: Node cannot set extended attributes without a native module,
 * so the digest is kept in the name of a second hard link to the object's inode,
 * `.<id>.<algorithm>.<hex>` (a sidecar that costs no inode and no data block and cannot be torn;
 * it is trusted only while it points to the object's inode). While writing: the offer's temp folder
 * `.coffre-offer/tmp/<container>.<id>.<random>.tmp` (same filesystem; linked into place once synced,
 * then kept as a third name of the object — "held" — until a checkpoint, see checkpoint.ts); small
 * objects' bytes wait for a checkpoint in `.coffre-offer/inline/<sequence>.seg` (inline-segments.ts).
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

/** Hex digits per level of the hashed layout. */
export type LevelWidth = 1 | 2;
/** The width of offers made by this version. */
export const NEW_OFFER_WIDTH: LevelWidth = 1;

export function objectPaths(root: string, container: string, id: string, width: LevelWidth = NEW_OFFER_WIDTH): ObjectPaths {
  checkContainer(container);
  checkId(id);
  const h = createHash('sha256').update(id).digest('hex');
  const dir = join(root, container, h.slice(0, width), h.slice(width, 2 * width));
  return { dir, id, file: join(dir, id) };
}

/**
 * The layout width of the offer in `root`, from its `layout.json`. Without one, an offer that has
 * a write log was made by an earlier version (two digits per level) and a new offer gets this
 * version's width; either way the answer is written down for the next time.
 */
export async function offerLayout(root: string): Promise<LevelWidth> {
  const meta = offerMetaDir(root);
  const file = join(meta, 'layout.json');
  if (existsSync(file)) {
    let width: unknown;
    try {
      width = (JSON.parse(readFileSync(file, 'utf8')) as { levelWidth?: unknown } | null)?.levelWidth;
    } catch (err) {
      throw new Error(`${file}: not readable JSON (${(err as Error).message})`, { cause: err });
    }
    if (width !== 1 && width !== 2) throw new Error(`${file}: levelWidth must be 1 or 2, not ${JSON.stringify(width)}`);
    return width;
  }
  const width: LevelWidth = existsSync(join(meta, 'write-log.jsonl')) ? 2 : NEW_OFFER_WIDTH;
  await writeFileAtomic(file, JSON.stringify({ levelWidth: width }) + '\n');
  return width;
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
