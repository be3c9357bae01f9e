/**
 * The objects of one OSTree commit, found by walking its tree (issue 14 §1): what the
 * device must take from the media to pull a Target, and nothing else. Pure parsing over a
 * reader port, so the same walk serves a bundle directory and a single-file bundle.
 *
 * OSTree facts used (its documented object formats, serialized as GVariant):
 * - a commit is `(a{sv}aya(say)sstayay)`; its last two members are the checksums of the
 *   root directory's tree (`.dirtree`) and metadata (`.dirmeta`) objects;
 * - a dirtree is `(a(say)a(sayay))`: files (name, content checksum) and subdirectories
 *   (name, tree checksum, metadata checksum);
 * - the checksum of a commit, dirtree or dirmeta object is the sha256 of its serialized
 *   bytes, which is how an archive repository stores them. So every metadata object the
 *   walk reads is checked against the checksum that named it, from the signed commit
 *   down: what the walk returns is bound to the signature, even before `ostree pull`
 *   re-hashes everything.
 * - content objects of an archive repository are `.filez`: a size-prefixed header
 *   `(tuuuusa(ayay))` (the first member is the uncompressed size) and the raw-deflated
 *   content. `checkFilez` checks that structure (zeroed or truncated objects fail it); only
 *   the pull can check its checksum.
 *
 * GVariant framing (as used here, every member aligned to 1 except the commit's `t`):
 * a container of n bytes stores the end offsets of its variable-size members, each
 * `offsetSize(n)` bytes little-endian, at its end; a tuple stores them in reverse member
 * order (the last bytes are the first member's end), an array stores one per element in
 * element order, the last one ending the element data.
 */
import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { FormatError } from './errors.js';
import { readFileCapped } from './io/index.js';
import { OSTREE_CHECKSUM_RE, ostreeObjectPath } from './ostree.js';

/** Reads a repository-relative file (`objects/..`) of at most `cap` bytes. */
export type RepoFileReader = (rel: string, cap: number) => Promise<Buffer>;

/** Caps of what the walk reads: OSTree's own limits are far above what a rootfs needs. */
export const OSTREE_WALK_CAPS = {
  /**
   * A commit object (OSTree allows 10 MiB of metadata and more). A plain commit is under
   * 1 KiB, but `--generate-sizes` (which `targets publish` uses) adds `ostree.sizes`, about
   * 40 bytes per object: 1.3 MB for a rootfs of 30,000 files.
   */
  commit: 16 * 1024 * 1024,
  /** A dirtree or dirmeta object. */
  metadata: 16 * 1024 * 1024,
  /** Objects of one commit (every file, directory tree and metadata). */
  objects: 2_000_000,
  /** Directory depth. */
  depth: 256,
} as const;

export interface CommitObjects {
  /** The commit, dirtree and dirmeta objects, repository-relative, in walk order. */
  metadata: string[];
  /** The content objects (`.filez`), repository-relative, each once. */
  content: string[];
  /** Bytes of the metadata objects read. */
  metadataBytes: number;
}

const bad = (rel: string, what: string) =>
  new FormatError(
    'CONTENT_INVALID',
    `OSTree object ${rel} ${what}; the media is corrupt or was tampered with`,
    {
      file: rel,
    },
  );

function offsetSize(n: number): number {
  if (n === 0) return 0;
  if (n <= 0xff) return 1;
  if (n <= 0xffff) return 2;
  return 4;
}

function readOffset(buf: Buffer, at: number, size: number): number {
  switch (size) {
    case 1:
      return buf.readUInt8(at);
    case 2:
      return buf.readUInt16LE(at);
    default:
      return buf.readUInt32LE(at);
  }
}

/** The elements of an array of variable-size elements, as [start, end) ranges of `buf`. */
function arrayElements(buf: Buffer, start: number, end: number, rel: string): [number, number][] {
  const n = end - start;
  if (n === 0) return [];
  const osz = offsetSize(n);
  const last = readOffset(buf, end - osz, osz);
  if (last > n - osz || (n - last) % osz !== 0) throw bad(rel, 'has a malformed array');
  const count = (n - last) / osz;
  const out: [number, number][] = [];
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const e = readOffset(buf, start + last + i * osz, osz);
    if (e < prev || e > last) throw bad(rel, 'has a malformed array element');
    out.push([start + prev, start + e]);
    prev = e;
  }
  return out;
}

/** The end offsets (relative to `start`) of a tuple's first `k` variable members. */
function tupleEnds(buf: Buffer, start: number, end: number, k: number, rel: string): number[] {
  const n = end - start;
  const osz = offsetSize(n);
  if (osz === 0 || n < k * osz) throw bad(rel, 'is too short');
  const ends: number[] = [];
  for (let i = 0; i < k; i++) {
    const e = readOffset(buf, end - (i + 1) * osz, osz);
    if (e > n - k * osz || (i > 0 && e < ends[i - 1])) throw bad(rel, 'has malformed framing');
    ends.push(e);
  }
  return ends;
}

const hex = (buf: Buffer, start: number, end: number, rel: string): string => {
  if (end - start !== 32) throw bad(rel, 'holds a checksum that is not 32 bytes');
  return buf.toString('hex', start, end);
};

/** A checked name (a string member without its NUL): one path segment. */
function nameOf(buf: Buffer, start: number, end: number, rel: string): string {
  if (end <= start || buf[end - 1] !== 0) throw bad(rel, 'holds an unterminated name');
  const name = buf.toString('utf8', start, end - 1);
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0'))
    throw bad(rel, `holds an invalid name ${JSON.stringify(name)}`);
  return name;
}

/** The root tree and metadata checksums of a serialized commit. */
export function parseCommit(buf: Buffer, rel = 'commit'): { tree: string; meta: string } {
  return framed(rel, () => parseCommitIn(buf, rel));
}

/** Runs a parse, turning a read outside the buffer (lying offsets) into CONTENT_INVALID. */
function framed<T>(rel: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof RangeError) throw bad(rel, 'has framing that points outside it');
    throw err;
  }
}

function parseCommitIn(buf: Buffer, rel: string): { tree: string; meta: string } {
  // Six variable members before the last: a{sv}, ay, a(say), s, s, ay (tree contents).
  const ends = tupleEnds(buf, 0, buf.length, 6, rel);
  const osz = offsetSize(buf.length);
  const bodyEnd = ends[4];
  const tStart = Math.ceil(bodyEnd / 8) * 8;
  const treeStart = tStart + 8;
  const treeEnd = ends[5];
  if (treeStart > treeEnd) throw bad(rel, 'has malformed framing');
  return {
    tree: hex(buf, treeStart, treeEnd, rel),
    meta: hex(buf, treeEnd, buf.length - 6 * osz, rel),
  };
}

export interface DirTree {
  files: { name: string; checksum: string }[];
  dirs: { name: string; tree: string; meta: string }[];
}

/** A serialized dirtree `(a(say)a(sayay))`. */
export function parseDirTree(buf: Buffer, rel = 'dirtree'): DirTree {
  return framed(rel, () => parseDirTreeIn(buf, rel));
}

function parseDirTreeIn(buf: Buffer, rel: string): DirTree {
  const out: DirTree = { files: [], dirs: [] };
  if (buf.length === 0) throw bad(rel, 'is empty');
  const [filesEnd] = tupleEnds(buf, 0, buf.length, 1, rel);
  const osz = offsetSize(buf.length);
  for (const [s, e] of arrayElements(buf, 0, filesEnd, rel)) {
    const [nameEnd] = tupleEnds(buf, s, e, 1, rel);
    const isz = offsetSize(e - s);
    out.files.push({
      name: nameOf(buf, s, s + nameEnd, rel),
      checksum: hex(buf, s + nameEnd, e - isz, rel),
    });
  }
  for (const [s, e] of arrayElements(buf, filesEnd, buf.length - osz, rel)) {
    const [nameEnd, treeEnd] = tupleEnds(buf, s, e, 2, rel);
    const isz = offsetSize(e - s);
    out.dirs.push({
      name: nameOf(buf, s, s + nameEnd, rel),
      tree: hex(buf, s + nameEnd, s + treeEnd, rel),
      meta: hex(buf, s + treeEnd, e - 2 * isz, rel),
    });
  }
  return out;
}

/**
 * Walks `commit` through `read`: every metadata object read is checked against the
 * checksum that names it (CONTENT_INVALID otherwise, with the object's path; a read error
 * passes through as the reader threw it). Content objects are listed, not read.
 */
export async function commitObjects(read: RepoFileReader, commit: string): Promise<CommitObjects> {
  if (!OSTREE_CHECKSUM_RE.test(commit))
    throw new FormatError('INVALID_ARGUMENT', `not an OSTree checksum: ${commit}`);
  const out: CommitObjects = { metadata: [], content: [], metadataBytes: 0 };
  const seen = new Set<string>();
  const load = async (checksum: string, type: 'commit' | 'dirtree' | 'dirmeta') => {
    const rel = ostreeObjectPath(checksum, type);
    const cap = type === 'commit' ? OSTREE_WALK_CAPS.commit : OSTREE_WALK_CAPS.metadata;
    const buf = await read(rel, cap);
    if (createHash('sha256').update(buf).digest('hex') !== checksum)
      throw bad(rel, 'does not match its checksum');
    out.metadata.push(rel);
    out.metadataBytes += buf.length;
    return { buf, rel };
  };
  const note = (rel: string): boolean => {
    if (seen.has(rel)) return false;
    seen.add(rel);
    if (seen.size > OSTREE_WALK_CAPS.objects)
      throw new FormatError(
        'FILE_TOO_LARGE',
        `commit ${commit} names more than ${OSTREE_WALK_CAPS.objects} objects`,
      );
    return true;
  };
  const c = await load(commit, 'commit');
  note(c.rel);
  const root = parseCommit(c.buf, c.rel);
  const walk = async (tree: string, meta: string, depth: number): Promise<void> => {
    if (depth > OSTREE_WALK_CAPS.depth)
      throw bad(ostreeObjectPath(tree, 'dirtree'), 'nests directories too deeply');
    if (note(ostreeObjectPath(meta, 'dirmeta'))) await load(meta, 'dirmeta');
    if (!note(ostreeObjectPath(tree, 'dirtree'))) return;
    const t = await load(tree, 'dirtree');
    const dt = parseDirTree(t.buf, t.rel);
    for (const f of dt.files) {
      const rel = ostreeObjectPath(f.checksum, 'filez');
      if (note(rel)) out.content.push(rel);
    }
    for (const d of dt.dirs) await walk(d.tree, d.meta, depth + 1);
  };
  await walk(root.tree, root.meta, 0);
  return out;
}

/** A reader of a repository on disk (`repo` is its top: `config`, `objects/`). */
export function repoDirReader(repo: string): RepoFileReader {
  return (rel, cap) => readFileCapped(join(repo, rel), cap, { noFollow: true });
}

/**
 * Whether the repository at `repo` holds the object `rel` as the walk names it: a content
 * object is `.filez` in an archive repository and `.file` in a bare one (a symlink's
 * `.file` is itself a symlink); metadata objects are stored alike in both.
 */
export async function repoHasObject(repo: string, rel: string): Promise<boolean> {
  for (const name of rel.endsWith('.filez') ? [rel, `${rel.slice(0, -1)}`] : [rel]) {
    const st = await lstat(join(repo, name)).catch(() => undefined);
    if (st !== undefined && (st.isFile() || st.isSymbolicLink())) return true;
  }
  return false;
}

/**
 * Checks the structure of an archive content object (`.filez`): its header is complete
 * and the content inflates to exactly the size the header records. A zeroed or truncated
 * object fails (CONTENT_INVALID); whether its bytes are the right ones only the pull's
 * checksum says.
 */
export function checkFilez(buf: Buffer, rel = 'filez'): void {
  if (buf.length < 8) throw bad(rel, 'is truncated');
  const headerSize = buf.readUInt32BE(0);
  if (headerSize < 8 + 16 || 8 + headerSize > buf.length) throw bad(rel, 'has a broken header');
  const size = Number(buf.readBigUInt64BE(8));
  const mode = buf.readUInt32BE(8 + 8 + 8);
  const isFile = (mode & 0o170000) === 0o100000;
  const body = buf.subarray(8 + headerSize);
  if (!isFile) {
    if (body.length !== 0) throw bad(rel, 'holds content for a non-file');
    return;
  }
  if (size === 0 && body.length === 0) return;
  let inflated: Buffer;
  try {
    inflated = zlib.inflateRawSync(body, { maxOutputLength: Math.max(1, size + 1) });
  } catch {
    throw bad(rel, 'holds content that does not inflate (truncated or corrupt)');
  }
  if (inflated.length !== size)
    throw bad(rel, `inflates to ${inflated.length} bytes, not the ${size} its header records`);
}
