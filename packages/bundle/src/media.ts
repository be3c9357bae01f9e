import { lstat, readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_DIRS, fatFold, fatNameProblem } from '@offline-ota/format';
import { BundleError } from './errors.js';
import { wrapIo } from './fsutil.js';

/**
 * Removable media rules (docs/bundle-format.md §Tree): a bundle must survive a copy to a
 * FAT32 or exFAT stick. Those file systems hold no symbolic links and no file modes,
 * ignore case, and refuse some characters. This module walks a bundle tree and names
 * every path that would not survive, by the name rules of `@offline-ota/format`
 * (fat-names.ts) that the device's zip reader applies too.
 *
 * One walker (`walkBundleTree`) serves every caller: `checkBundleMedia` (create) reads
 * only directories, since a directory listing carries each entry's type and the rules are
 * about names and types; `pack` asks for sizes too, which are read a directory's worth at
 * a time; `scanBundleTree` collects both into a sorted list.
 */

export interface TreeEntry {
  /** Path relative to the bundle, `/`-separated. */
  rel: string;
  /** Absolute (or caller-relative) path on disk. */
  path: string;
  dir: boolean;
  /** Bytes (0 for directories). */
  size: number;
}

export interface MediaProblem {
  rel: string;
  problem: string;
}

export interface TreeScan {
  /** Every regular file and directory under the three bundle directories, sorted by `rel`. */
  entries: TreeEntry[];
  problems: MediaProblem[];
}

const TOP_LEVEL: readonly string[] = [BUNDLE_DIRS.tuf, BUNDLE_DIRS.ostree, BUNDLE_DIRS.apps];

/** How many `lstat` calls of one directory are in flight at once (with `sizes`). */
const STAT_BATCH = 64;

/**
 * Called once per regular file and directory that survives FAT (in no particular order
 * across directories): `rel` is `/`-separated, `size` is 0 for a directory and without
 * `sizes`.
 */
export type TreeVisitor = (rel: string, dir: boolean, size: number) => void;

/**
 * Walks a directory bundle: every entry under `tuf/`, `ostree_repo/` and `apps/`, handed
 * to `visit`, and returns the problems that would break it on FAT/exFAT (symbolic links,
 * special files, names FAT refuses, names that differ only in case). Anything else at the
 * top level is a problem too. Never follows a symbolic link. One `readdir` per directory;
 * with `sizes`, one `lstat` per regular file, `STAT_BATCH` at a time.
 */
export async function walkBundleTree(
  dir: string,
  visit: TreeVisitor,
  opts: { sizes?: boolean } = {},
): Promise<MediaProblem[]> {
  const problems: MediaProblem[] = [];
  const read = async (d: string): Promise<Dirent[]> => {
    try {
      return await readdir(d, { withFileTypes: true });
    } catch (err) {
      throw wrapIo(err, `cannot read ${d}`, d);
    }
  };
  const sizeOf = async (path: string): Promise<number> => {
    try {
      return (await lstat(path)).size;
    } catch (err) {
      throw wrapIo(err, `cannot read ${path}`, path);
    }
  };
  async function walk(path: string, rel: string): Promise<void> {
    const seen = new Map<string, string>();
    const files: string[] = [];
    const subdirs: string[] = [];
    for (const d of (await read(path)).sort((a, b) => cmp(a.name, b.name))) {
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      if (rel === '' && !TOP_LEVEL.includes(d.name)) {
        problems.push({
          rel: childRel,
          problem: 'is not part of a bundle (only tuf/, ostree_repo/ and apps/ are)',
        });
        continue;
      }
      const nameProblem = fatNameProblem(d.name);
      if (nameProblem !== undefined) problems.push({ rel: childRel, problem: nameProblem });
      const folded = fatFold(d.name);
      const twin = seen.get(folded);
      if (twin !== undefined) {
        problems.push({
          rel: childRel,
          problem: `differs from ${twin} only in case, which FAT and exFAT cannot tell apart`,
        });
      }
      seen.set(folded, d.name);
      if (d.isSymbolicLink()) {
        problems.push({ rel: childRel, problem: 'is a symbolic link, which FAT cannot hold' });
      } else if (d.isDirectory()) {
        visit(childRel, true, 0);
        subdirs.push(d.name);
      } else if (d.isFile()) {
        if (opts.sizes === true) files.push(d.name);
        else visit(childRel, false, 0);
      } else {
        problems.push({ rel: childRel, problem: 'is not a regular file or a directory' });
      }
    }
    for (let i = 0; i < files.length; i += STAT_BATCH) {
      const batch = files.slice(i, i + STAT_BATCH);
      const sizes = await Promise.all(batch.map((f) => sizeOf(join(path, f))));
      for (const [j, f] of batch.entries()) visit(rel === '' ? f : `${rel}/${f}`, false, sizes[j]);
    }
    for (const s of subdirs) await walk(join(path, s), rel === '' ? s : `${rel}/${s}`);
  }
  await walk(dir, '');
  return problems;
}

/**
 * Walks a directory bundle: every entry under `tuf/`, `ostree_repo/` and `apps/` with its
 * size, and the problems that would break it on FAT/exFAT (`walkBundleTree`).
 */
export async function scanBundleTree(dir: string): Promise<TreeScan> {
  const entries: TreeEntry[] = [];
  const problems = await walkBundleTree(
    dir,
    (rel, isDir, size) => entries.push({ rel, path: join(dir, rel), dir: isDir, size }),
    { sizes: true },
  );
  entries.sort((a, b) => cmp(a.rel, b.rel));
  return { entries, problems };
}

/**
 * Refuses a bundle tree that would not survive FAT/exFAT: the names and types only (no
 * sizes, so no `lstat`), what `create` checks before it commits.
 */
export async function checkBundleMedia(dir: string): Promise<void> {
  assertMediaSafe(dir, { problems: await walkBundleTree(dir, () => undefined) });
}

/** Byte order of ASCII names (the order of a packed bundle). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Refuses a bundle tree that would not survive FAT/exFAT, naming the first problems. */
export function assertMediaSafe(dir: string, scan: Pick<TreeScan, 'problems'>): void {
  if (scan.problems.length === 0) return;
  const shown = scan.problems
    .slice(0, 5)
    .map((p) => `${p.rel} ${p.problem}`)
    .join('; ');
  const more = scan.problems.length > 5 ? ` (and ${scan.problems.length - 5} more)` : '';
  throw new BundleError(
    'MEDIA_UNSAFE',
    `${dir} would not survive a copy to a FAT32/exFAT stick: ${shown}${more}. Remove what does not belong to the bundle, or recreate it with bundlectl create`,
    { file: dir },
  );
}
