/**
 * The pre-flight space check of install (issue 14 §1, §6): whether writing `required` more
 * bytes keeps the sysroot file system at or below `[pacman] storage_watermark`.
 *
 * The installer runs as root, and root may write into the blocks a file system reserves
 * for it (ext4's reserved blocks, 5% by default): for root the space left is `bfree`, for
 * anyone else `bavail`. Counting the reserved blocks as used refused updates that fit.
 *
 * And what install says when the file system fills anyway (issue 14 §1): `isNoSpace`
 * recognizes ENOSPC/EDQUOT along an error's cause chain, `isFull` decides for a tool that
 * failed without a system code, and `noSpaceError` is exit 60 naming the file system.
 */
import { stat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errnoInChain, NO_SPACE_ERRNOS, OfflineOtaError } from '@offline-ota/format';
import { AkliteError, messageOf } from './errors.js';

export interface FsSpace {
  /** Size of a block, bytes. */
  bsize: number;
  /** Blocks in the file system. */
  blocks: number;
  /** Free blocks, the reserved ones included. */
  bfree: number;
  /** Free blocks an unprivileged user may write. */
  bavail: number;
}

export interface SpaceVerdict {
  ok: boolean;
  /** Bytes of the file system. */
  total: number;
  /** Bytes the installer may still write. */
  free: number;
  /** Bytes in use once `required` more are written. */
  usedAfter: number;
  /** `usedAfter` as a percentage of `total`, rounded up (100 when `total` is 0). */
  percent: number;
}

/** The bytes this process can still write: `bfree` for root (uid 0), else `bavail`. */
export function writableBytes(fs: FsSpace, uid: number | undefined): number {
  return (uid === 0 ? fs.bfree : fs.bavail) * fs.bsize;
}

export function checkSpaceFor(
  fs: FsSpace,
  required: number,
  watermarkPercent: number,
  uid: number | undefined = process.getuid?.(),
): SpaceVerdict {
  const total = fs.blocks * fs.bsize;
  const free = writableBytes(fs, uid);
  const usedAfter = total - free + required;
  const ok = total > 0 && usedAfter * 100 <= watermarkPercent * total;
  const percent = total > 0 ? Math.ceil((usedAfter * 100) / total) : 100;
  return { ok, total, free, usedAfter, percent };
}

/**
 * The mount point of the file system holding `path`: the highest ancestor on the same
 * device (st_dev). Falls back to `path` when it cannot be found.
 */
export async function mountPointOf(path: string): Promise<string> {
  let cur = resolve(path);
  let dev: number;
  try {
    dev = (await stat(cur)).dev;
  } catch {
    return cur;
  }
  for (;;) {
    const up = dirname(cur);
    if (up === cur) return cur;
    const st = await stat(up).catch(() => undefined);
    if (st === undefined || st.dev !== dev) return cur;
    cur = up;
  }
}

/** Whether an error is the file system running out of space (ENOSPC, EDQUOT, NO_SPACE). */
export function isNoSpace(err: unknown): boolean {
  if (err instanceof OfflineOtaError && err.code === 'NO_SPACE') return true;
  const errno = errnoInChain(err);
  return errno !== undefined && NO_SPACE_ERRNOS.has(errno);
}

/**
 * Whether the file system holding `dir` is full for this process: less than `need` bytes
 * (default: 4 MiB or 0.5% of it, the larger) left. Used where a child process (ostree)
 * failed and gave no system code: a tool that fails on a full file system is taken to
 * have failed for want of space.
 */
export async function isFull(dir: string, need?: number): Promise<boolean> {
  const fs = await statfs(dir).catch(() => undefined);
  if (fs === undefined) return false;
  const free = writableBytes(fs, process.getuid?.());
  const floor = need ?? Math.max(4 * 1024 * 1024, (fs.blocks * fs.bsize) / 200);
  return free < floor;
}

/**
 * NO_SPACE (60) naming the file system (its mount point and the directory written), the
 * bytes still free and, when known, the bytes the update needs; the device was left as it
 * was, so the fix is to free space and run the install again.
 */
export async function noSpaceError(
  dir: string,
  cause: unknown,
  needed?: number,
): Promise<AkliteError> {
  const mount = await mountPointOf(dir);
  const fs = await statfs(dir).catch(() => undefined);
  const free = fs === undefined ? undefined : writableBytes(fs, process.getuid?.());
  const need =
    needed === undefined
      ? ''
      : `; the update needs about ${needed} bytes` +
        (free === undefined || needed <= free ? '' : `, ${needed - free} more than are free`);
  return new AkliteError(
    'NO_SPACE',
    `No space left on the file system mounted at ${mount} (writing ${dir}: ${messageOf(cause)})` +
      (free === undefined ? '' : `; ${free} bytes are free`) +
      need +
      '. Nothing was changed on the device: free space on that file system and run the install again',
    { cause, file: dir },
  );
}
