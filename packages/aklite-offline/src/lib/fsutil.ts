/**
 * The device's file helpers. Atomic write and fsync are the project's one implementation
 * in `@offline-ota/format` (`io/`: temp file, fsync, rename, fsync the directory; a failed
 * fsync is an error), re-exported here; `removeTree` is the device's flat-memory `rm -rf`,
 * `forEachLimit` the bounded concurrency of its many small file system calls.
 */
import { lstat, opendir, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export { fsyncDir, swapDir, writeFileAtomic } from '@offline-ota/format';

export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Unlinks a directory's entries at once, at most this many. */
const REMOVE_CONCURRENCY = 16;

/**
 * `rm -rf`: removes `path` and everything under it (symbolic links are removed, never
 * followed); nothing when it does not exist. Memory stays flat whatever the tree holds
 * (Node's recursive `rm` starts every removal of a directory at once: some 100 MB for
 * the 30,000 objects of an OSTree repo). Directories are read as streams, depth first.
 */
export async function removeTree(path: string): Promise<void> {
  let dir;
  try {
    dir = await opendir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') return rm(path, { force: true });
    throw err;
  }
  const pending = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  try {
    for await (const d of dir) {
      const child = join(path, d.name);
      if (d.isDirectory()) {
        await removeTree(child);
        continue;
      }
      const op: Promise<void> = unlink(child)
        .catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= { err };
        })
        .finally(() => pending.delete(op));
      pending.add(op);
      if (pending.size >= REMOVE_CONCURRENCY) await Promise.race(pending);
      if (failure !== undefined) break;
    }
  } finally {
    await Promise.all(pending);
  }
  if (failure !== undefined) throw failure.err;
  await rmdir(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

/**
 * Runs `fn` on every item, at most `limit` at once, in no particular order of completion:
 * a walk of many small file system calls (lstat, unlink) keeps libuv's threads busy
 * instead of waiting for each call in turn. The first failure stops new calls and is
 * thrown once the running ones have settled.
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined) return;
      const next = it.next();
      if (next.done === true) return;
      try {
        await fn(next.value);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure !== undefined) throw failure.err;
}
