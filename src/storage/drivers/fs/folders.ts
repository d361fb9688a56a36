import { closeSync, constants, fsync, openSync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

/**
 * Makes a folder's entries durable. Only the fsync goes to libuv's thread pool: opening and
 * closing a folder takes microseconds, and through the pool's four threads each would queue
 * behind the fsyncs of every write in flight (three pool jobs per folder instead of one).
 */
export async function fsyncFolder(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Fsyncs many folders, at most `parallel` at a time, so that a checkpoint's hundreds of folder
 * syncs never hold all of the thread pool's four threads: the writes in flight need them for
 * their own file syncs. A folder that vanished meanwhile (ENOENT) has nothing left to make
 * durable; any other failure is thrown once every sync started has ended.
 */
export async function fsyncFolders(dirs: Iterable<string>, parallel: number): Promise<void> {
  const queue = [...dirs];
  let failure: unknown;
  const worker = async () => {
    for (let dir = queue.pop(); dir !== undefined; dir = queue.pop()) {
      try {
        await fsyncFolder(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, worker));
  if (failure) throw failure;
}
