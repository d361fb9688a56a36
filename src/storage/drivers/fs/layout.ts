import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { StorageError } from '../../contract.ts';

/**
 * Where the `fs` driver keeps things. Objects: <root>/<container>/<xx>/<yy>/<id>, where xx/yy are
 * the first two bytes (hex) of SHA-256(id), so that no folder grows past a few thousand entries.
 * Beside each object, its digest: Node cannot set extended attributes without a native module,
 * so the digest is kept in the name of a second hard link to the object's inode,
 * `.<id>.<algorithm>.<hex>` (a sidecar that costs no inode and no data block and cannot be torn;
 * it is trusted only while it points to the object's inode). While writing: the offer's temp folder
 * `.coffre-offer/tmp/<container>.<id>.<random>.tmp` (same filesystem; linked into place once synced).
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
