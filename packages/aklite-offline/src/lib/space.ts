/**
 * The pre-flight space check of install (issue 14 §1, §6): whether writing `required` more
 * bytes keeps the sysroot file system at or below `[pacman] storage_watermark`.
 *
 * The installer runs as root, and root may write into the blocks a file system reserves
 * for it (ext4's reserved blocks, 5% by default): for root the space left is `bfree`, for
 * anyone else `bavail`. Counting the reserved blocks as used refused updates that fit.
 */
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
