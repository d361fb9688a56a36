import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where ext2/3/4 put an offer's folders. On ext4 without a journal the kernel skips, one by one,
 * the inodes freed in the last minute or so of a block group when it allocates a new one there:
 * after a mass deletion (another offer purged, a job's temp files) creating a file in that group
 * cost 600–850 µs instead of 15–30 on the development VM, for about 90 s. Objects of a hashed
 * layout are unrelated to their neighbours on disk, so nothing is lost by placing an offer's
 * containers away from everything else, in the groups with the most free inodes.
 */

/**
 * Marks an offer's root folder as a top of directory hierarchies for the Orlov allocator
 * (`chattr +T`, the attribute /home carries): the containers made under it are placed in the block
 * groups with the most free inodes and the fewest folders, and their folders and objects near
 * them. Best effort: where `chattr` is missing or the filesystem has no such attribute (tmpfs,
 * xfs, btrfs…) the folder stays as it is, and the answer says so (false). Never throws.
 */
export function markTopDirectory(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('chattr', ['+T', dir], { timeout: 5_000 }, (err) => resolve(!err));
  });
}

/** The name makeFolderSpread gives a folder before its rename: `.<name>.<12 hex>.new`. */
export const unfinishedName = (name: string): string => `.${name}.${randomBytes(6).toString('hex')}.new`;
const UNFINISHED = /^\.[A-Za-z0-9][A-Za-z0-9._-]*\.[0-9a-f]{12}\.new$/;

/**
 * Makes the folder `<parent>/<name>` unless it exists, under a random name first, then renamed
 * into place. Orlov starts its search for a top-level folder's group from a hash of the folder's
 * name: every offer's `objects` would start at the same group, and an offer made again after a
 * purge would find the group the purge just emptied (it has no folders left and the most free
 * inodes), with the slow case above. The random name spreads them; the rename keeps the group.
 * `parent` and names starting with '.' are the caller's (a container name never starts with one).
 */
export async function makeFolderSpread(parent: string, name: string): Promise<void> {
  const target = join(parent, name);
  if (existsSync(target)) return; // once per container and process: a stat, not worth the thread pool
  const temp = join(parent, unfinishedName(name));
  await mkdir(temp);
  try {
    await rename(temp, target);
  } catch (err) {
    await rmdir(temp).catch(() => {});
    // Made meanwhile by someone else (rename fails onto a folder that is not empty).
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Removes the empty folders a crash left between makeFolderSpread's mkdir and rename (a folder
 * with anything in it stays: rmdir refuses it). Best effort, at an offer's opening.
 */
export async function removeUnfinishedFolders(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => UNFINISHED.test(n)).map((n) => rmdir(join(parent, n)).catch(() => {})));
}
