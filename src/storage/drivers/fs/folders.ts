import { closeSync, constants, fsync, openSync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

/**
 * Makes a folder's entries durable. Only the fsync goes to libuv's thread pool: opening and
 * closing a folder takes microseconds, and through the pool's four threads each would queue
 * behind the fsyncs of every write in flight (three pool jobs per folder instead of one).
 */
export function fsyncFolder(dir: string): Promise<void> {
  return fsyncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}

async function fsyncPath(path: string, flags: number): Promise<void> {
  const fd = openSync(path, flags);
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
export function fsyncFolders(dirs: Iterable<string>, parallel: number): Promise<void> {
  return fsyncAll(dirs, constants.O_RDONLY | constants.O_DIRECTORY, parallel);
}

/** Fsyncs files as fsyncFolders does folders (a file removed meanwhile has nothing left to sync). */
export function fsyncFiles(files: Iterable<string>, parallel: number): Promise<void> {
  return fsyncAll(files, constants.O_RDONLY, parallel);
}

async function fsyncAll(paths: Iterable<string>, flags: number, parallel: number): Promise<void> {
  const queue = [...paths];
  let failure: unknown;
  const worker = async () => {
    for (let path = queue.pop(); path !== undefined; path = queue.pop()) {
      try {
        await fsyncPath(path, flags);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, worker));
  if (failure) throw failure;
}
