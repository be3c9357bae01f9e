/**
 * Opening the media named by `--src-dir` / `--src-file`. With `[pacman] security_unpack`
 * set, only single-file bundles are accepted, and each is streamed through that program
 * first (unpack.ts); the plain bundle it writes is what the check-in reads.
 *
 * Also what install needs to know of the media's OSTree repo (issue 14 §1, §2): the
 * Target's objects and nothing else (`targetObjects`), and, when a pull from it failed,
 * whether the media went away, holds corrupt objects, or was fine (`recheckObjects`).
 * Errors whose system code says the media went away become MEDIA_UNREADABLE (50)
 * (`mediaGoneOr`).
 */
import { createHash } from 'node:crypto';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUNDLE_DIRS,
  checkFilez,
  commitObjects,
  repoHasObject,
  errnoInChain,
  FormatError,
  IoError,
  MEDIA_GONE_ERRNOS,
  openBundleSource,
  readFileCapped,
  ZIP_LIMITS,
  type BundleSource,
  type RepoFileReader,
} from '@offline-ota/format';
import type { Device } from './device.js';
import { AkliteError, messageOf } from './errors.js';
import { forEachLimit } from './fsutil.js';
import { securityUnpack } from './unpack.js';

export async function openMedia(dev: Device, path: string): Promise<BundleSource> {
  const program = dev.config.securityUnpack;
  if (program === undefined) return openBundleSource(path);
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) {
    throw new AkliteError(
      'INVALID_ARGUMENT',
      `${path} is a bundle directory, but this device unpacks every bundle with [pacman] security_unpack = ${program}; ` +
        'give the single-file bundle with --src-file',
    );
  }
  dev.ports.progress(`Unpacking ${path} with ${program}`);
  const unpacked = await securityUnpack({
    program,
    input: path,
    workDir: dev.config.storageDir,
    maxBytes: ZIP_LIMITS.maxTotalSize,
    env: { AKLITE_DEVICE_ROOT: dev.root },
  });
  let source: BundleSource;
  try {
    source = await openBundleSource(unpacked.file);
  } catch (err) {
    await unpacked.cleanup();
    throw err;
  }
  return {
    ...source,
    close: async () => {
      await source.close();
      await unpacked.cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------
// The Target's OSTree objects on the media, and what a failed pull says about the media

/** A Target's OSTree objects on the media (format's `commitObjects`) with their sizes. */
export interface TargetObjects {
  /** Repository-relative paths (`objects/xx/….type`) on the media, metadata first. */
  paths: string[];
  /** Size of each, as the media records it. */
  sizes: Map<string, number>;
  /** Sum of the sizes. */
  bytes: number;
  /**
   * Of `paths`, those the device's repo lacks, in the same order: what the pull writes,
   * what a single-file bundle's scratch copy holds, and what an undo removes.
   */
  lacking: string[];
  /** Sum of the sizes of `lacking`. */
  lackingBytes: number;
}

/** File system calls (lstat) the pre-flight walk keeps in flight at once. */
const STAT_CONCURRENCY = 32;

/** Reads a repository-relative file of the media's `ostree_repo/` (directory or zip). */
function mediaRepoReader(media: BundleSource): RepoFileReader {
  const zip = media.zip;
  if (zip !== undefined) {
    return (rel, cap) => {
      const name = `${BUNDLE_DIRS.ostree}/${rel}`;
      if (!zip.has(name)) throw missingObject(media, rel);
      return zip.readSmall(name, cap);
    };
  }
  return async (rel, cap) => {
    try {
      return await readFileCapped(join(media.path, BUNDLE_DIRS.ostree, rel), cap, {
        noFollow: true,
      });
    } catch (err) {
      throw mediaReadError(media, rel, err);
    }
  };
}

function missingObject(media: BundleSource, rel: string): FormatError {
  return new FormatError(
    'NO_TARGET_CONTENT',
    `the OSTree object ${rel} of the Target is missing from ${media.path}; the bundle is incomplete`,
    { file: rel },
  );
}

/** A failed read of a media file: missing (8), gone (50), too large or not a file (70). */
function mediaReadError(media: BundleSource, rel: string, err: unknown): Error {
  if (err instanceof IoError) {
    if (err.errno === 'ENOENT') return missingObject(media, rel);
    if (err.code === 'TOO_LARGE' || err.code === 'NOT_A_FILE' || err.errno === 'ELOOP')
      return new FormatError('CONTENT_INVALID', `${err.message}; the media is corrupt`, {
        file: rel,
        cause: err,
      });
  }
  return mediaGoneOr(err, `cannot read ${rel} from ${media.path}`);
}

/**
 * `err` as MEDIA_UNREADABLE (50) when its system code says the media went away, else as
 * it is.
 */
export function mediaGoneOr(err: unknown, what: string): Error {
  const errno = errnoInChain(err);
  if (errno !== undefined && MEDIA_GONE_ERRNOS.has(errno))
    return new FormatError(
      'MEDIA_UNREADABLE',
      `${what}: ${messageOf(err)}; the media went away (${errno}): reconnect it, check it and run the command again`,
      { cause: err },
    );
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The Target's objects, found by walking its commit on the media: every commit, dirtree
 * and dirmeta object is read and checked against its checksum (CONTENT_INVALID, 70), a
 * missing object is NO_TARGET_CONTENT (8), media that goes away MEDIA_UNREADABLE (50).
 * Each object is then looked up on the media (its size) and in the device's repo
 * `deviceRepo` (whether the device lacks it), many at once. Nothing is written.
 *
 * With `delta`, the media leaves out what the device's base holds: those objects are read
 * (and checksum-checked) from the device's repo, and neither counted nor copied. Without
 * it, every object of the Target must be on the media, whatever the device holds.
 */
export async function targetObjects(
  media: BundleSource,
  commit: string,
  deviceRepo: string,
  delta: boolean,
): Promise<TargetObjects> {
  const fromMedia = mediaRepoReader(media);
  const read: RepoFileReader = !delta
    ? fromMedia
    : async (rel, cap) => {
        if ((await media.fileSize(`${BUNDLE_DIRS.ostree}/${rel}`)) !== undefined)
          return fromMedia(rel, cap);
        return readFileCapped(join(deviceRepo, rel), cap, { noFollow: true }).catch(() => {
          throw missingObject(media, rel);
        });
      };
  const found = await commitObjects(read, commit);
  const all = [...found.metadata, ...found.content];
  // Per object: its size on the media, and whether the device has it (undefined: the
  // object is not on the media and the device's base provides it).
  const onMedia = new Array<number | undefined>(all.length);
  const onDevice = new Uint8Array(all.length);
  await forEachLimit(all.keys(), STAT_CONCURRENCY, async (i) => {
    const rel = all[i];
    let size: number | undefined;
    try {
      size = await media.fileSize(`${BUNDLE_DIRS.ostree}/${rel}`);
    } catch (err) {
      throw mediaGoneOr(err, `cannot read ${rel} from ${media.path}`);
    }
    const has = await repoHasObject(deviceRepo, rel);
    if (size === undefined && !(delta && has)) throw missingObject(media, rel);
    onMedia[i] = size;
    onDevice[i] = has ? 1 : 0;
  });
  const paths: string[] = [];
  const lacking: string[] = [];
  const sizes = new Map<string, number>();
  let bytes = 0;
  let lackingBytes = 0;
  for (let i = 0; i < all.length; i++) {
    const size = onMedia[i];
    if (size === undefined) continue;
    const rel = all[i];
    paths.push(rel);
    sizes.set(rel, size);
    bytes += size;
    if (onDevice[i] === 0) {
      lacking.push(rel);
      lackingBytes += size;
    }
  }
  return { paths, sizes, bytes, lacking, lackingBytes };
}

/** Objects up to this size are also checked for structure when a pull failed. */
const STRUCTURE_CHECK_MAX = 64 * 1024 * 1024;
const REREAD_CHUNK = 1024 * 1024;

/**
 * What a failed `ostree pull-local` from `repo` says about the repo, decided without
 * reading ostree's messages: every object of the Target the pull read (`paths`: default
 * all of them) is read again. One that cannot be
 * read because the media went away, that vanished, or whose size changed since the walk
 * gives 'unreadable'; one whose checksum (metadata) or structure (content: header and
 * deflate stream, `checkFilez`) is wrong gives 'corrupt'; otherwise 'readable' (and the
 * caller looks at the destination's free space next).
 */
export async function recheckObjects(
  repo: string,
  objects: TargetObjects,
  paths: readonly string[] = objects.paths,
): Promise<{ verdict: 'unreadable' | 'corrupt' | 'readable'; detail: string }> {
  const buf = Buffer.allocUnsafe(REREAD_CHUNK);
  for (const rel of paths) {
    const path = join(repo, rel);
    const expected = objects.sizes.get(rel) ?? 0;
    let size = 0;
    const keep: Buffer[] = [];
    try {
      const fh = await open(path, 'r');
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          size += bytesRead;
          if (expected <= STRUCTURE_CHECK_MAX) keep.push(Buffer.from(buf.subarray(0, bytesRead)));
        }
      } finally {
        await fh.close();
      }
    } catch (err) {
      return { verdict: 'unreadable', detail: `${path}: ${messageOf(err)}` };
    }
    if (size !== expected)
      return {
        verdict: 'unreadable',
        detail: `${path} changed size while it was read (${expected} then ${size} bytes)`,
      };
    if (expected > STRUCTURE_CHECK_MAX) continue;
    const data = Buffer.concat(keep, size);
    try {
      if (rel.endsWith('.filez')) checkFilez(data, rel);
      else {
        const dot = rel.lastIndexOf('.');
        const sum = rel.slice('objects/'.length, dot).replace('/', '');
        if (createHash('sha256').update(data).digest('hex') !== sum)
          return { verdict: 'corrupt', detail: `${path} does not match its checksum` };
      }
    } catch (err) {
      return { verdict: 'corrupt', detail: messageOf(err) };
    }
  }
  return { verdict: 'readable', detail: '' };
}
