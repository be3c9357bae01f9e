import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, opendir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

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
