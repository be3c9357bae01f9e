import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { STORE_BLOBS, storeReader, type SmallBlobReader } from './apps.js';
import { errnoOf, FormatError, messageOf } from './errors.js';
import { IoError, MEDIA_GONE_ERRNOS } from './io/errors.js';
import { readFileCapped } from './io/fs.js';
import { commitObjectPath, hasCompleteCommit } from './ostree.js';
import { BUNDLE_DIRS, SHA256_HEX_RE, tufFileCap } from './layout.js';
import { openZipBundle, type ZipBundle, type ZipBundleOptions } from './zip-source.js';

/**
 * Where a bundle is read from: a directory, or a single-file bundle (zip) read in place
 * without extracting it. Both give the check-in the same view: the `tuf/` files read once,
 * the sizes of content files, and a digest-checking reader for small app blobs.
 */
export interface BundleSource {
  readonly kind: 'dir' | 'zip';
  /** The path the user gave (directory or file). */
  readonly path: string;
  /** The zip archive, for callers that stream content out of it. */
  readonly zip: ZipBundle | undefined;
  /** Every allow-listed file of `tuf/`, keyed by name (see readBundleMetadata). */
  readTufFiles(): Promise<Map<string, Buffer>>;
  /** Size of the regular file at a bundle-relative path, or undefined when absent. */
  fileSize(rel: string): Promise<number | undefined>;
  /** Reads app store blobs (`apps/blobs/sha256/<hex>`) with their digest checked. */
  blobReader(): SmallBlobReader;
  close(): Promise<void>;
}

/** A Target's commit object in the bundle (the OSTree fact: `commitObjectPath`). */
export const ostreeCommitPath = (commit: string): string =>
  `${BUNDLE_DIRS.ostree}/${commitObjectPath(commit)}`;

/** Whether the bundle's `ostree_repo/` holds the complete commit (no `.commitpartial` marker). */
export function bundleHasCommit(source: BundleSource, commit: string): Promise<boolean> {
  return hasCompleteCommit(
    async (rel) => (await source.fileSize(`${BUNDLE_DIRS.ostree}/${rel}`)) !== undefined,
    commit,
  );
}
export const appBlobPath = (hex: string): string => `${BUNDLE_DIRS.apps}/${STORE_BLOBS}/${hex}`;

/** Opens a bundle directory or single-file bundle, deciding by what `path` is. */
export async function openBundleSource(
  path: string,
  zipOptions?: ZipBundleOptions,
): Promise<BundleSource> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    throw new FormatError(
      'TUF_MISSING',
      `bundle not found: ${path} does not exist: is the media mounted? Give the bundle directory on it (the one that holds tuf/), or its .zip file (${messageOf(err)})`,
      {
        cause: err,
        file: path,
      },
    );
  }
  if (st.isDirectory()) return dirSource(path);
  if (st.isFile()) return zipSource(await openZipBundle(path, zipOptions));
  throw new FormatError(
    'INVALID_METADATA',
    `${path} is neither a bundle directory nor a bundle file`,
    {
      file: path,
    },
  );
}

function dirSource(dir: string): BundleSource {
  return {
    kind: 'dir',
    path: dir,
    zip: undefined,
    readTufFiles: async () => (await readTufDir(dir)).files,
    fileSize: async (rel) => {
      const st = await lstat(join(dir, rel)).catch(() => undefined);
      return st?.isFile() ? st.size : undefined;
    },
    blobReader: () => storeReader(join(dir, BUNDLE_DIRS.apps)),
    close: () => Promise.resolve(),
  };
}

function zipSource(zip: ZipBundle): BundleSource {
  const sizes = new Map(zip.entries().map((e) => [e.name, e.size]));
  return {
    kind: 'zip',
    path: zip.path,
    zip,
    readTufFiles: () => zip.readTufFiles(),
    fileSize: (rel) => Promise.resolve(sizes.get(rel)),
    blobReader: () => async (hex, cap) => {
      if (!SHA256_HEX_RE.test(hex))
        throw new FormatError('INVALID_METADATA', `not a sha256 digest: ${hex}`);
      const name = appBlobPath(hex);
      if (!zip.has(name)) {
        throw new FormatError(
          'NO_TARGET_CONTENT',
          `blob sha256:${hex} is missing from ${zip.path}`,
          { file: name },
        );
      }
      const data = await zip.readSmall(name, cap);
      if (createHash('sha256').update(data).digest('hex') !== hex) {
        throw new FormatError('CONTENT_INVALID', `blob sha256:${hex} does not match its digest`, {
          file: name,
        });
      }
      return data;
    },
    close: () => zip.close(),
  };
}

// ---------------------------------------------------------------------------------------
// Reading `tuf/` of a bundle directory: allow-listed names only, capped, no symlinks.

async function readCapped(path: string, cap: number, name: string): Promise<Buffer | undefined> {
  try {
    return await readFileCapped(path, cap, { noFollow: true });
  } catch (err) {
    if (!(err instanceof IoError)) throw err;
    if (err.code === 'NOT_A_FILE')
      throw new FormatError('INVALID_METADATA', `tuf/${name} is not a regular file`, {
        file: path,
      });
    if (err.code === 'TOO_LARGE') {
      throw new FormatError(
        'FILE_TOO_LARGE',
        `tuf/${name} is ${err.size} bytes, over the ${cap}-byte cap`,
        { file: path },
      );
    }
    if (err.errno === 'ENOENT') return undefined;
    if (err.errno === 'ELOOP')
      throw new FormatError('PATH_ESCAPE', `tuf/${name} is a symbolic link; refusing it`, {
        file: path,
      });
    if (err.errno !== undefined && MEDIA_GONE_ERRNOS.has(err.errno))
      throw new FormatError(
        'MEDIA_UNREADABLE',
        `cannot read tuf/${name}: ${messageOf(err.cause)}; the media went away`,
        { cause: err.cause, file: path },
      );
    throw new FormatError('TUF_MISSING', `cannot read tuf/${name}: ${messageOf(err.cause)}`, {
      cause: err.cause,
      file: path,
    });
  }
}

/** Reads every allowed file of a bundle directory's `tuf/` once. */
export async function readTufDir(bundleDir: string): Promise<{ files: Map<string, Buffer> }> {
  const tufDir = join(bundleDir, BUNDLE_DIRS.tuf);
  let names: string[];
  try {
    names = await readdir(tufDir);
  } catch (err) {
    if (MEDIA_GONE_ERRNOS.has(errnoOf(err) ?? ''))
      throw new FormatError(
        'MEDIA_UNREADABLE',
        `cannot read ${tufDir}: ${messageOf(err)}; the media went away`,
        { cause: err, file: tufDir },
      );
    throw new FormatError(
      'TUF_MISSING',
      `TUF metadata not found: ${tufDir} is missing; is this a bundle directory?`,
      {
        cause: err,
        file: tufDir,
      },
    );
  }
  const files = new Map<string, Buffer>();
  for (const name of names) {
    const cap = tufFileCap(name);
    if (cap === undefined) continue;
    const buf = await readCapped(join(tufDir, name), cap, name);
    if (buf === undefined) continue;
    files.set(name, buf);
  }
  return { files };
}
