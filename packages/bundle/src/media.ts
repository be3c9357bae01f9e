import { lstat, readdir } from 'node:fs/promises';
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

/**
 * Walks a directory bundle: every entry under `tuf/`, `ostree_repo/` and `apps/`, with the
 * problems that would break it on FAT/exFAT (symbolic links, special files, names FAT
 * refuses, names that differ only in case). Anything else at the top level is a problem
 * too. Never follows a symbolic link.
 */
export async function scanBundleTree(dir: string): Promise<TreeScan> {
  const entries: TreeEntry[] = [];
  const problems: MediaProblem[] = [];
  const read = async (d: string): Promise<import('node:fs').Dirent[]> => {
    try {
      return await readdir(d, { withFileTypes: true });
    } catch (err) {
      throw wrapIo(err, `cannot read ${d}`, d);
    }
  };
  async function walk(path: string, rel: string): Promise<void> {
    const seen = new Map<string, string>();
    for (const d of (await read(path)).sort((a, b) => cmp(a.name, b.name))) {
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      const childPath = join(path, d.name);
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
        entries.push({ rel: childRel, path: childPath, dir: true, size: 0 });
        await walk(childPath, childRel);
      } else if (d.isFile()) {
        let size: number;
        try {
          size = (await lstat(childPath)).size;
        } catch (err) {
          throw wrapIo(err, `cannot read ${childPath}`, childPath);
        }
        entries.push({ rel: childRel, path: childPath, dir: false, size });
      } else {
        problems.push({ rel: childRel, problem: 'is not a regular file or a directory' });
      }
    }
  }
  await walk(dir, '');
  entries.sort((a, b) => cmp(a.rel, b.rel));
  return { entries, problems };
}

/** Byte order of ASCII names (the order of a packed bundle). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Refuses a bundle tree that would not survive FAT/exFAT, naming the first problems. */
export function assertMediaSafe(dir: string, scan: TreeScan): void {
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
