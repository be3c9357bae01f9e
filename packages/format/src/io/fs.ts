import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, opendir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf, messageOf } from '../errors.js';
import { IoError } from './errors.js';

/** Wraps a failed file-system call into `IO_FAILED` naming the file (an IoError passes through). */
export function ioFailure(what: string, err: unknown, file: string): IoError {
  if (err instanceof IoError) return err;
  return new IoError('IO_FAILED', `${what}: ${messageOf(err)}`, { file, cause: err });
}

/** fsync an open file or directory, then close it. */
async function syncAndClose(fh: FileHandle): Promise<void> {
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a regular file's data and metadata. */
export async function fsyncFile(file: string): Promise<void> {
  try {
    await syncAndClose(await open(file, 'r'));
  } catch (err) {
    throw ioFailure(`cannot sync ${file}`, err, file);
  }
}

/**
 * fsync a directory, so that the names created, renamed or removed in it survive a power
 * cut. A failure is an error, whatever the file system: a rename that may not be durable
 * is not reported as done.
 */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    await syncAndClose(await open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY));
  } catch (err) {
    throw ioFailure(`cannot sync ${dir}`, err, dir);
  }
}

/**
 * fsync every regular file and directory under `dir` (symbolic links are not followed;
 * their names are made durable with the directory that holds them), `dir` itself last.
 */
export async function fsyncTree(dir: string): Promise<void> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (err) {
    throw ioFailure(`cannot sync ${dir}`, err, dir);
  }
  for await (const d of handle) {
    const child = join(dir, d.name);
    if (d.isDirectory()) await fsyncTree(child);
    else if (d.isFile()) await fsyncFile(child);
  }
  await fsyncDir(dir);
}

/** `.<name>.<12 hex>.tmp` next to `path`: same directory, so the final rename is atomic. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a file atomically: a temporary file in the same directory (created, never
 * reused), the data written and fsynced with exactly `mode` (default 0644, set with chmod
 * so the umask does not change it), renamed over `path`, then the directory fsynced.
 * Parent directories are created. Any failure, including the directory fsync, removes the
 * temporary file and throws `IO_FAILED` naming `path`; after a power cut `path` holds
 * either its old or its new content, never a mix.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const tmp = tempPathFor(path);
  try {
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioFailure(`cannot write ${path}`, err, path);
  }
}

/**
 * Puts the directory `staged` in place of `target` (both in the same parent directory):
 * the staged tree is fsynced, `target` (when it exists) is renamed aside to
 * `.<name>.old-<hex>`, `staged` renamed to `target`, the parent fsynced, and the old tree
 * removed. A power cut leaves the old tree or the new one at `target`, except between the
 * two renames, where `target` is missing and the old tree is aside: callers that must
 * always find one clean up `.<name>.old-*` on start (the leftovers are named for that).
 */
export async function swapDir(staged: string, target: string): Promise<void> {
  const parent = dirname(target);
  const aside = join(parent, `.${basename(target)}.old-${randomBytes(4).toString('hex')}`);
  const hadOld = await lstat(target).then(
    () => true,
    (err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return false;
      throw ioFailure(`cannot read ${target}`, err, target);
    },
  );
  await fsyncTree(staged);
  if (hadOld) {
    await rename(target, aside).catch((err: unknown) => {
      throw ioFailure(`cannot move ${target} aside`, err, target);
    });
  }
  try {
    await rename(staged, target);
  } catch (err) {
    // Put the old tree back, so a failed swap changes nothing.
    if (hadOld) await rename(aside, target).catch(() => undefined);
    throw ioFailure(`cannot put ${staged} in place of ${target}`, err, target);
  }
  await fsyncDir(parent);
  if (hadOld) {
    try {
      await rm(aside, { recursive: true, force: true });
    } catch (err) {
      throw ioFailure(`cannot remove ${aside}`, err, aside);
    }
  }
}

/**
 * Reads a whole regular file of at most `cap` bytes. Refuses, before reading anything,
 * a file larger than `cap` (`TOO_LARGE`) and anything that is not a regular file
 * (`NOT_A_FILE`); with `noFollow`, a symbolic link fails with `errno` ELOOP. Reads at
 * most the size found when the file was opened, so a file growing meanwhile cannot push
 * the read past the cap. Other failures are `IO_FAILED` with the system code in `errno`.
 */
export async function readFileCapped(
  path: string,
  cap: number,
  options: { noFollow?: boolean } = {},
): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | (options.noFollow === true ? fsc.O_NOFOLLOW : 0));
  } catch (err) {
    throw ioFailure(`cannot read ${path}`, err, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile())
      throw new IoError('NOT_A_FILE', `${path} is not a regular file`, { file: path });
    if (st.size > cap) {
      throw new IoError('TOO_LARGE', `${path} is ${st.size} bytes, more than the ${cap} allowed`, {
        file: path,
        size: st.size,
        cap,
      });
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } catch (err) {
    throw ioFailure(`cannot read ${path}`, err, path);
  } finally {
    await fh.close();
  }
}
