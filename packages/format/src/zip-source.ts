/**
 * A bundle read from one zip file (`bundlectl pack`), without extracting it first
 * (docs/bundle-format.md §Tree and §Size caps; the zip holds the bundle tree at its top
 * level: `tuf/…`, `ostree_repo/…`, `apps/…`). Nothing in the archive is trusted: the whole
 * central directory is checked before any entry is read, every read is bounded, and
 * nothing is written outside the directory the caller names.
 *
 * Opening (openZipBundle) is a pipeline of named steps:
 *
 *   1. openArchiveFile     a regular file; one handle serves every later read
 *   2. locateDirectory     end of central directory (and ZIP64 record) parsed and bounded;
 *                          looked for in the last 22 + 65,535 bytes (the longest comment)
 *   3. readDirectory       the central directory, read front to back through one 1 MiB
 *                          window into one compact record per entry (ZIP64 extra fields
 *                          included); its records must fill exactly the bytes step 2 gives it
 *   4. checkName           every name: relative, no `..`, no backslash, each segment
 *                          FAT-safe by the rules bundlectl packs with (fat-names.ts)
 *   5. checkAllowList      top level is tuf/, ostree_repo/ or apps/ and nothing else
 *   6. checkEntry          regular file or directory, not encrypted, stored or deflated,
 *                          size caps, compression ratio
 *   7. checkUnique         no duplicate name, also case-insensitively (FAT media), and no
 *                          name that is both a file and a directory
 *   8. checkExtents        entries neither overlap nor run into the central directory
 *   9. checkTotal          the sum of the uncompressed sizes is capped
 *
 * Reading an entry (readSmall, readTufFiles, copyEntryTo, extractPrefix):
 *
 *  10. checkLocalHeader    the entry's local header agrees with the central directory
 *  11. entryChunks         exactly its compressed bytes, inflated, counted against the
 *                          recorded size (a lying size stops the read as soon as it shows)
 *                          and CRC-32 checked at the end
 *
 * Memory is bounded by the number of entries, not by the archive's size: the directory is
 * never held whole (steps 2 and 3 read it in windows), an entry costs one small record, and
 * the copy paths reuse a few 256 KiB buffers instead of allocating one per chunk. No zip
 * library is used (docs/architecture.md): unzipper, used before, buffered the whole parse
 * (some 1.5 KiB of transient heap per entry), and its entry reader reads a padded range,
 * takes sizes from the local header when the directory records a compressed size of 0,
 * checks no CRC, and leaves its reader open when inflating fails. The records' signatures,
 * lengths and markers are zip-format.ts's, shared with bundlectl pack's writer.
 *
 * Error codes: 'PATH_ESCAPE' for names (and symbolic links, and destinations outside the
 * staging directory), 'INVALID_METADATA' for the archive's structure, 'FILE_TOO_LARGE' for
 * sizes, counts and ratios over a cap (also an entry that inflates past its recorded size),
 * 'CONTENT_INVALID' for data that disagrees with the archive's record of it or with the
 * caller's expected digest and size, 'IO_ERROR' for the file system.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { FormatError, messageOf, type FormatErrorCode } from './errors.js';
import { fatFold, fatNameProblem } from './fat-names.js';
import { BUNDLE_DIRS, CAPS, ROOT_FILE_RE, SHA256_HEX_RE, tufFileCap } from './layout.js';
import {
  ZIP64,
  ZIP_DOS_DIRECTORY,
  ZIP_FLAG,
  ZIP_LEN,
  ZIP_MAX_COMMENT,
  ZIP_METHOD,
  ZIP_SIG,
  ZIP_UNIX,
} from './zip-format.js';
import { fsyncDir } from './io/fs.js';
import { MEDIA_GONE_ERRNOS, NO_SPACE_ERRNOS } from './io/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Defaults of the archive-wide limits (see ZipBundleOptions). */
export const ZIP_LIMITS = {
  /** Sum of the uncompressed sizes of all entries. */
  maxTotalSize: 64 * GiB,
  /**
   * Entries in the central directory. An OSTree repo of a full image holds some 10⁴ to 10⁵
   * objects; an open archive keeps a few hundred bytes per entry (its record, its name and
   * the lookup by name), so this bounds the memory of openZipBundle to well under 100 MiB.
   */
  maxEntries: 250_000,
  /**
   * Largest uncompressed:compressed ratio of a deflated entry bigger than `ratioFloor`.
   * Deflate peaks near 1032:1; bundle content that is already compressed is stored, and
   * JSON and OSTree metadata stay far below 200:1.
   */
  maxRatio: 200,
  ratioFloor: 1 * MiB,
  /** Bytes in one entry name (the longest bundle path is ~170). */
  maxNameLength: 1024,
} as const;

export interface ZipBundleOptions {
  /** Refuse an archive whose entries add up to more bytes than this (default 64 GiB). */
  maxTotalSize?: number;
  /** Refuse an archive with more entries than this (default 250,000). */
  maxEntries?: number;
  /** Refuse a deflated entry above `ratioFloor` bytes that expands more than this (200). */
  maxRatio?: number;
  /** Entries up to this many bytes skip the ratio check (default 1 MiB). */
  ratioFloor?: number;
}

/** One file of the archive, as its central directory records it. */
export interface ZipEntryInfo {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  compressedSize: number;
}

/** Progress of a copy or an extraction: `done` of `total` uncompressed bytes. */
export interface ZipProgress {
  name: string;
  done: number;
  total: number;
}

export interface CopyEntryOptions {
  /** The directory the destination must lie inside; it must exist. */
  stagingRoot: string;
  /** Lowercase hex sha256 the entry's bytes must have. */
  expectSha256?: string;
  /** Size in bytes the entry must have (checked against the directory before reading). */
  expectSize?: number;
  onProgress?: (p: ZipProgress) => void;
}

export interface ExtractPrefixOptions {
  onProgress?: (p: ZipProgress) => void;
  /**
   * Only these entries (full names, under the prefix) are written; the others are never
   * read. Every name must be in the archive (FILE_MISSING otherwise, before any write).
   */
  only?: ReadonlySet<string>;
}

export interface ZipBundle {
  /** The archive's path, as given to openZipBundle. */
  readonly path: string;
  /** Every file entry (directories excluded), in central directory order. */
  entries(): readonly ZipEntryInfo[];
  /** Whether the archive holds a file with exactly this name. */
  has(name: string): boolean;
  /** The whole entry in memory; refuses one recorded larger than `cap` bytes. */
  readSmall(name: string, cap: number): Promise<Buffer>;
  /**
   * Every allow-listed file directly under `tuf/` (`N.root.json`, timestamp, snapshot,
   * targets, bundle-targets), keyed by file name, each within its cap: what
   * `readBundleMetadata` reads from a bundle directory.
   */
  readTufFiles(): Promise<Map<string, Buffer>>;
  /**
   * Streams one entry to `destPath` (temp file, sha256 and size checked on the way,
   * fsync, rename, fsync of the directory). Missing directories between
   * `opts.stagingRoot` and `destPath` are created; none may be a symbolic link.
   */
  copyEntryTo(
    name: string,
    destPath: string,
    opts: CopyEntryOptions,
  ): Promise<{ sha256: string; size: number }>;
  /**
   * Writes every entry under `prefix` (e.g. `ostree_repo/`) into `stagingDir` with the
   * prefix removed, never following or replacing what is already there. Returns the
   * number of files written. On failure, removes what it created.
   */
  extractPrefix(prefix: string, stagingDir: string, opts?: ExtractPrefixOptions): Promise<number>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Zip constants (PKWARE APPNOTE 6.3.x)

/**
 * The end of central directory record ends the file but for the archive comment, which is at
 * most 65,535 bytes: it is looked for in the last 22 + 65,535 bytes, no further (bundlectl
 * pack writes no comment; other writers may).
 */
const TAIL_LEN = ZIP_LEN.eocd + ZIP_MAX_COMMENT;
const EOCD_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** The bytes before the end that must hold no second end record signature (see step 2). */
const AMBIGUOUS_TAIL = 80;
const READ_CHUNK = 256 * KiB;
/** The window the central directory is read through (a record is at most ~192 KiB). */
const DIR_WINDOW = 1 * MiB;
/** Entries extractPrefix writes at once. */
const EXTRACT_CONCURRENCY = 4;
/** Read buffers an open archive keeps for reuse (one per concurrent copy). */
const SPARE_BUFFERS = EXTRACT_CONCURRENCY;

const NOT_A_BUNDLE = 'the archive is not a bundle made by bundlectl pack; do not use it';
const TOP_LEVEL = new Set<string>([BUNDLE_DIRS.tuf, BUNDLE_DIRS.ostree, BUNDLE_DIRS.apps]);

/**
 * One record of the central directory, as step 3 reads it and steps 4 to 8 check it (in
 * place: one small object per entry, and no buffer).
 */
interface Entry extends ZipEntryInfo {
  /**
   * The name's bytes as a latin1 string (one character per byte, so nothing is lost; step 4
   * accepts printable ASCII only). At most `maxNameLength + 1` bytes are kept.
   */
  name: string;
  /** Bytes of the name as recorded. */
  nameLength: number;
  /** Sizes and offset: -1 when a ZIP64 value is missing or does not fit in a safe integer. */
  size: number;
  compressedSize: number;
  offset: number;
  flags: number;
  method: number;
  crc32: number;
  /** Number of the disk the entry starts on. */
  disk: number;
  externalAttributes: number;
  /** Set by step 6. */
  isDir: boolean;
  /** Where this entry's bytes must end: the next local header or the central directory (step 8). */
  limit: number;
}

// ---------------------------------------------------------------------------------------
// Helpers

/** A name as a message shows it: control and non-ASCII bytes escaped. */
function shown(raw: Buffer | string): string {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  let s = '';
  for (const b of bytes) {
    s += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `\`${s}\``;
}

const u64 = (buf: Buffer, at: number): number => {
  const v = buf.readBigUInt64LE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
};

const isSize = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads `length` bytes at `position` (into `into` when given, which must be large enough),
 * or less when the file ends first.
 */
async function readAt(
  fh: FileHandle,
  position: number,
  length: number,
  into?: Buffer,
): Promise<Buffer> {
  const buf = into ?? Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}

/**
 * The bytes [start, start + length) in bounded chunks; stops early if the file is shorter.
 * With `scratch`, every chunk is a view of that one buffer, valid until the next is asked
 * for (the consumer must be done with it by then); without, each chunk is a new buffer.
 */
async function* readRange(
  fh: FileHandle,
  start: number,
  length: number,
  scratch?: Buffer,
): AsyncGenerator<Buffer> {
  let pos = start;
  const end = start + length;
  while (pos < end) {
    const n = Math.min(scratch?.length ?? READ_CHUNK, end - pos);
    const buf = scratch ?? Buffer.allocUnsafe(n);
    const { bytesRead } = await fh.read(buf, 0, n, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

function ioError(what: string, err: unknown, file?: string): FormatError {
  if (err instanceof FormatError) return err;
  const errno = errnoOf(err) ?? '';
  const code = MEDIA_GONE_ERRNOS.has(errno)
    ? 'MEDIA_UNREADABLE'
    : NO_SPACE_ERRNOS.has(errno)
      ? 'NO_SPACE'
      : 'IO_ERROR';
  const said = code === 'MEDIA_UNREADABLE' ? ': the media went away' : '';
  return new FormatError(code, `${what}: ${messageOf(err)}${said}`, {
    cause: err,
    ...(file === undefined ? {} : { file }),
  });
}

/** The file name of an entry directly under tuf/, or undefined. */
function tufFileOf(name: string): string | undefined {
  const prefix = `${BUNDLE_DIRS.tuf}/`;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return rest !== '' && !rest.includes('/') ? rest : undefined;
}

/**
 * Makes every directory of `rel` (a checked, `/`-separated relative path) under `root`,
 * refusing any existing component that is a symbolic link or not a directory. Records the
 * directories it created in `created`, parents first; skips those already in `known`.
 */
async function ensureDirsUnder(
  root: string,
  rel: string,
  created: string[],
  known?: Set<string>,
): Promise<void> {
  let cur = root;
  for (const seg of rel.split('/').filter((s) => s !== '')) {
    cur = join(cur, seg);
    if (known?.has(cur)) continue;
    let st = await lstat(cur).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw ioError(`cannot inspect ${cur}`, err, cur);
    });
    if (st === undefined) {
      try {
        await mkdir(cur, 0o755);
        created.push(cur);
        known?.add(cur);
        continue;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw ioError(`cannot create ${cur}`, err, cur);
        st = await lstat(cur);
      }
    }
    if (st.isSymbolicLink()) {
      throw new FormatError(
        'PATH_ESCAPE',
        `${cur} is a symbolic link; refusing to write through it (remove it or use an empty staging directory)`,
        { file: cur },
      );
    }
    if (!st.isDirectory()) {
      throw new FormatError('IO_ERROR', `${cur} exists and is not a directory`, { file: cur });
    }
    known?.add(cur);
  }
}

/** Removes what a failed write created: files, then directories deepest first. */
async function undo(files: readonly string[], dirs: readonly string[]): Promise<void> {
  for (const f of files) await rm(f, { force: true }).catch(() => undefined);
  const deepestFirst = [...dirs].sort((a, b) => b.split(sep).length - a.split(sep).length);
  for (const d of deepestFirst) await rmdir(d).catch(() => undefined);
}

/** The state of one extractPrefix call, shared by its workers. */
interface ExtractRun {
  root: string;
  prefix: string;
  total: number;
  done: number;
  written: number;
  createdFiles: string[];
  createdDirs: string[];
  /** Directories checked or made by this call; a name's directories are checked once. */
  knownDirs: Set<string>;
  onProgress: ((p: ZipProgress) => void) | undefined;
}

async function requireDirectory(dir: string, what: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) {
    throw new FormatError(
      'INVALID_ARGUMENT',
      `${what} ${dir} is not an existing directory (a symbolic link is not accepted)`,
      { file: dir },
    );
  }
}

// ---------------------------------------------------------------------------------------
// Opening: steps 1 to 9

class ArchiveChecker {
  constructor(readonly path: string) {}

  fail(code: FormatErrorCode, what: string, cause?: unknown): FormatError {
    return new FormatError(code, `${basename(this.path)}: ${what}; ${NOT_A_BUNDLE}`, {
      file: this.path,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  entryFail(code: FormatErrorCode, raw: Buffer | string, what: string): FormatError {
    return this.fail(code, `entry ${shown(raw)} ${what}`);
  }
}

interface DirectoryBounds {
  offset: number;
  size: number;
  records: number;
  /** Where the central directory must end: the ZIP64 record or the end record. */
  end: number;
}

// 1. openArchiveFile
async function openArchiveFile(path: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      throw new FormatError('FILE_MISSING', `bundle file not found: ${path}`, {
        cause: err,
        file: path,
      });
    }
    throw ioError(`cannot open the bundle file ${path}`, err, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new FormatError('INVALID_ARGUMENT', `${path} is not a regular file`, { file: path });
    }
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw ioError(`cannot read ${path}`, err, path);
  }
}

// 2. locateDirectory: the end records, so that counts and offsets are bounded before the
// directory is read.
async function locateDirectory(
  fh: FileHandle,
  fileSize: number,
  chk: ArchiveChecker,
  maxEntries: number,
): Promise<DirectoryBounds> {
  const tailLen = Math.min(fileSize, TAIL_LEN);
  const tail = await readAt(fh, fileSize - tailLen, tailLen);
  let at = -1;
  for (let i = tail.length - ZIP_LEN.eocd; i >= 0; i--) {
    if (
      tail.readUInt32LE(i) === ZIP_SIG.eocd &&
      i + ZIP_LEN.eocd + tail.readUInt16LE(i + 20) === tail.length
    ) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    throw chk.fail(
      'INVALID_METADATA',
      'no end of central directory record: not a zip archive, or a truncated one',
    );
  }
  // Readers that take the first signature in their tail (unzipper's is the last 80 bytes)
  // or the first one found from the end would read another record than this one if a second
  // signature sat in those 80 bytes or in the comment (names cannot hold the bytes 05 06, so
  // a bundle has one).
  for (
    let j = tail.indexOf(EOCD_SIG_BYTES, Math.min(at, Math.max(0, tail.length - AMBIGUOUS_TAIL)));
    j >= 0;
    j = tail.indexOf(EOCD_SIG_BYTES, j + 1)
  ) {
    if (j !== at) {
      throw chk.fail('INVALID_METADATA', 'it has more than one end of central directory record');
    }
  }
  const eocdAt = fileSize - tailLen + at;
  let disk = tail.readUInt16LE(at + 4);
  let dirDisk = tail.readUInt16LE(at + 6);
  let onDisk = tail.readUInt16LE(at + 8);
  let records = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  let end = eocdAt;
  if (disk === ZIP64.u16Max || records === ZIP64.u16Max || offset === ZIP64.u32Max) {
    const locator =
      eocdAt >= ZIP_LEN.zip64Locator
        ? await readAt(fh, eocdAt - ZIP_LEN.zip64Locator, ZIP_LEN.zip64Locator)
        : Buffer.alloc(0);
    if (
      locator.length !== ZIP_LEN.zip64Locator ||
      locator.readUInt32LE(0) !== ZIP_SIG.zip64Locator
    ) {
      throw chk.fail('INVALID_METADATA', 'the ZIP64 end of central directory locator is missing');
    }
    const recordAt = u64(locator, 8);
    if (recordAt + ZIP_LEN.zip64Eocd > eocdAt - ZIP_LEN.zip64Locator) {
      throw chk.fail('INVALID_METADATA', 'the ZIP64 end of central directory is out of place');
    }
    const rec = await readAt(fh, recordAt, ZIP_LEN.zip64Eocd);
    if (rec.length !== ZIP_LEN.zip64Eocd || rec.readUInt32LE(0) !== ZIP_SIG.zip64Eocd) {
      throw chk.fail('INVALID_METADATA', 'the ZIP64 end of central directory record is missing');
    }
    disk = rec.readUInt32LE(16);
    dirDisk = rec.readUInt32LE(20);
    onDisk = u64(rec, 24);
    records = u64(rec, 32);
    size = u64(rec, 40);
    offset = u64(rec, 48);
    end = recordAt;
  }
  if (disk !== 0 || dirDisk !== 0 || onDisk !== records) {
    throw chk.fail('INVALID_METADATA', 'it spans several disks');
  }
  if (records > maxEntries) {
    throw chk.fail('FILE_TOO_LARGE', `it holds ${records} entries, more than ${maxEntries}`);
  }
  if (offset + size > end || size < records * ZIP_LEN.central) {
    throw chk.fail(
      'INVALID_METADATA',
      'the central directory does not fit where the end record places it (truncated or crafted)',
    );
  }
  return { offset, size, records, end };
}

// 3. readDirectory: every record, read front to back through one window of the file, so
// that memory grows with the number of entries and not with the directory's bytes. The
// records must fill exactly the bytes the end record gives the directory.
async function readDirectory(
  fh: FileHandle,
  bounds: DirectoryBounds,
  chk: ArchiveChecker,
): Promise<Entry[]> {
  const end = bounds.offset + bounds.size;
  const win = Buffer.allocUnsafe(Math.min(DIR_WINDOW, bounds.size));
  let winPos = bounds.offset; // file position of win[0]
  let winLen = 0;
  let pos = bounds.offset; // file position of the next record
  // Makes the `n` bytes at `pos` readable in the window and returns their index in it, or
  // -1 when the directory (or the file) ends first. `n` never exceeds the window.
  const need = async (n: number): Promise<number> => {
    if (pos + n > end) return -1;
    if (pos + n <= winPos + winLen) return pos - winPos;
    const keep = winPos + winLen - pos;
    win.copy(win, 0, pos - winPos, pos - winPos + keep);
    winPos = pos;
    winLen = keep;
    const want = Math.min(win.length, end - winPos) - winLen;
    winLen += (await readAt(fh, winPos + winLen, want, win.subarray(winLen))).length;
    return n <= winLen ? 0 : -1;
  };
  const overrun = () =>
    chk.fail(
      'INVALID_METADATA',
      `its central directory is ${bounds.size} bytes but its records run past its end`,
    );
  const entries: Entry[] = [];
  for (let i = 0; i < bounds.records; i++) {
    let at = await need(ZIP_LEN.central);
    if (at < 0) throw overrun();
    if (win.readUInt32LE(at) !== ZIP_SIG.central) {
      throw chk.fail('INVALID_METADATA', 'a central directory record has a bad signature');
    }
    const nameLength = win.readUInt16LE(at + 28);
    const extraLength = win.readUInt16LE(at + 30);
    const recordLength = ZIP_LEN.central + nameLength + extraLength + win.readUInt16LE(at + 32);
    at = await need(recordLength);
    if (at < 0) throw overrun();
    const nameAt = at + ZIP_LEN.central;
    const keptName = Math.min(nameLength, ZIP_LIMITS.maxNameLength + 1);
    const e: Entry = {
      name: win.toString('latin1', nameAt, nameAt + keptName),
      nameLength,
      size: win.readUInt32LE(at + 24),
      compressedSize: win.readUInt32LE(at + 20),
      offset: win.readUInt32LE(at + 42),
      flags: win.readUInt16LE(at + 8),
      method: win.readUInt16LE(at + 10),
      crc32: win.readUInt32LE(at + 16),
      disk: win.readUInt16LE(at + 34),
      externalAttributes: win.readUInt32LE(at + 38),
      isDir: false,
      limit: 0,
    };
    readZip64Extra(e, win.subarray(nameAt + nameLength, nameAt + nameLength + extraLength));
    entries.push(e);
    pos += recordLength;
  }
  if (pos !== end) {
    throw chk.fail(
      'INVALID_METADATA',
      `its central directory is ${bounds.size} bytes but its records fill ${pos - bounds.offset}`,
    );
  }
  return entries;
}

/**
 * Takes the 64-bit values of a record's ZIP64 extra field (APPNOTE 4.5.3): each one is
 * present, in this order, only when its 32-bit field holds the 0xFFFFFFFF (0xFFFF) marker.
 * A marked value that the field lacks, or that exceeds a safe integer, becomes -1, which
 * step 6 refuses. A disk number is not taken: a marked one stays 0xFFFF (another disk).
 */
function readZip64Extra(e: Entry, extra: Buffer): void {
  const marked = {
    size: e.size === ZIP64.u32Max,
    compressedSize: e.compressedSize === ZIP64.u32Max,
    offset: e.offset === ZIP64.u32Max,
  };
  if (!marked.size && !marked.compressedSize && !marked.offset) return;
  let data: Buffer | undefined;
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const len = extra.readUInt16LE(at + 2);
    if (id === ZIP64.extraId) {
      data = extra.subarray(at + 4, Math.min(at + 4 + len, extra.length));
      break;
    }
    at += 4 + len;
  }
  let at = 0;
  const next = (): number => {
    if (data === undefined || at + 8 > data.length) return -1;
    const v = u64(data, at);
    at += 8;
    return Number.isSafeInteger(v) ? v : -1;
  };
  if (marked.size) e.size = next();
  if (marked.compressedSize) e.compressedSize = next();
  if (marked.offset) e.offset = next();
}

// 4. checkName
function checkName(e: Entry, chk: ArchiveChecker): void {
  const name = e.name;
  const bad = (what: string) => chk.entryFail('PATH_ESCAPE', name, what);
  if (e.nameLength === 0) throw bad('has an empty name');
  if (e.nameLength > ZIP_LIMITS.maxNameLength) {
    throw chk.entryFail(
      'INVALID_METADATA',
      name.slice(0, 64),
      `has a name of ${e.nameLength} bytes, more than ${ZIP_LIMITS.maxNameLength}`,
    );
  }
  if (name.includes('\\')) throw bad('has a backslash in its name');
  if (name.startsWith('/')) throw bad('has an absolute name');
  if (/^[A-Za-z]:/.test(name)) throw bad('starts with a drive letter');
  const segments = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  for (const seg of segments) {
    if (seg === '..') throw bad('has a `..` segment');
    if (seg === '.') throw bad('has a `.` segment');
    if (seg === '') throw bad('has an empty path segment');
    // The media rules bundlectl checks before packing (fat-names.ts).
    const problem = fatNameProblem(seg);
    if (problem !== undefined) throw bad(problem);
  }
}

// 5. checkAllowList
function checkAllowList(name: string, chk: ArchiveChecker): void {
  const slash = name.indexOf('/');
  if (slash < 0 || !TOP_LEVEL.has(name.slice(0, slash))) {
    throw chk.entryFail(
      'INVALID_METADATA',
      name,
      `is outside tuf/, ostree_repo/ and apps/ (docs/bundle-format.md §Tree)`,
    );
  }
}

// 6. checkEntry
function checkEntry(e: Entry, chk: ArchiveChecker, opts: Required<ZipBundleOptions>): void {
  const { name, size, compressedSize, offset, method } = e;
  const bad = (code: FormatErrorCode, what: string) => chk.entryFail(code, name, what);
  const isDir = name.endsWith('/');
  const mode = (e.externalAttributes >>> 16) & 0xffff;
  const type = mode & ZIP_UNIX.typeMask;
  if (type === ZIP_UNIX.symlink) throw bad('PATH_ESCAPE', 'is a symbolic link');
  if (isDir ? type !== 0 && type !== ZIP_UNIX.directory : type !== 0 && type !== ZIP_UNIX.regular) {
    throw bad('INVALID_METADATA', `is not a regular file (mode 0${mode.toString(8)})`);
  }
  if (!isDir && (type === ZIP_UNIX.directory || (e.externalAttributes & ZIP_DOS_DIRECTORY) !== 0)) {
    throw bad('INVALID_METADATA', 'is marked as a directory but its name has no trailing /');
  }
  if ((e.flags & (ZIP_FLAG.encrypted | ZIP_FLAG.strongEncryption)) !== 0) {
    throw bad('INVALID_METADATA', 'is encrypted');
  }
  if (method !== ZIP_METHOD.stored && method !== ZIP_METHOD.deflated) {
    throw bad(
      'INVALID_METADATA',
      `uses compression method ${method} (only stored and deflated are read)`,
    );
  }
  if (e.disk !== 0) throw bad('INVALID_METADATA', 'is on another disk');
  if (!isSize(size) || !isSize(compressedSize) || !isSize(offset)) {
    throw bad(
      'INVALID_METADATA',
      'has a size or offset that cannot be read (a ZIP64 field is missing or too large)',
    );
  }
  if (isDir && size !== 0) throw bad('INVALID_METADATA', 'is a directory with content');
  if (method === ZIP_METHOD.stored && compressedSize !== size) {
    throw bad(
      'INVALID_METADATA',
      `is stored but records ${compressedSize} bytes compressed and ${size} uncompressed`,
    );
  }
  if (method === ZIP_METHOD.deflated && compressedSize === 0) {
    throw bad('INVALID_METADATA', 'is deflated but records no compressed bytes');
  }
  const tufFile = tufFileOf(name);
  const tufCap = tufFile === undefined ? undefined : tufFileCap(tufFile);
  if (tufCap !== undefined && size > tufCap) {
    throw bad('FILE_TOO_LARGE', `is ${size} bytes, over the ${tufCap}-byte cap of ${tufFile}`);
  }
  if (size > CAPS.layer) {
    throw bad('FILE_TOO_LARGE', `is ${size} bytes, over the ${CAPS.layer}-byte cap of any entry`);
  }
  if (
    method === ZIP_METHOD.deflated &&
    size > opts.ratioFloor &&
    size > compressedSize * opts.maxRatio
  ) {
    throw bad(
      'FILE_TOO_LARGE',
      `expands ${compressedSize} bytes to ${size}, a ratio over ${opts.maxRatio}:1 (a zip bomb)`,
    );
  }
  e.isDir = isDir;
}

// 7. checkUnique: names must stay distinct on FAT and exFAT, which ignore case, and no
// name may be both a file and the directory of another entry.
function checkUnique(entries: readonly Entry[], chk: ArchiveChecker): void {
  const files = new Map<string, string>();
  const dirs = new Map<string, string>();
  for (const e of entries) {
    const seen = e.isDir ? dirs : files;
    const key = fatFold(e.isDir ? e.name.slice(0, -1) : e.name);
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw chk.entryFail(
        'INVALID_METADATA',
        e.name,
        prev === e.name ? 'appears twice' : `differs from ${shown(prev)} only in case`,
      );
    }
    seen.set(key, e.name);
  }
  const implied = new Set<string>(dirs.keys());
  for (const e of entries) {
    const parts = fatFold(e.name).split('/');
    for (let i = 1; i < parts.length; i++) implied.add(parts.slice(0, i).join('/'));
  }
  for (const [key, name] of files) {
    if (implied.has(key)) {
      throw chk.entryFail(
        'INVALID_METADATA',
        name,
        'is a file but also the directory of another entry',
      );
    }
  }
}

// 8. checkExtents: no two entries share bytes (the overlapping-entry zip bomb) and no
// entry's data runs past the next local header or into the central directory.
function checkExtents(entries: Entry[], bounds: DirectoryBounds, chk: ArchiveChecker): void {
  const byOffset = [...entries].sort((a, b) => a.offset - b.offset);
  for (const [i, e] of byOffset.entries()) {
    const limit = i + 1 < byOffset.length ? byOffset[i + 1].offset : bounds.offset;
    if (e.offset + ZIP_LEN.local + e.nameLength + e.compressedSize > limit) {
      throw chk.entryFail(
        'INVALID_METADATA',
        e.name,
        'has data that runs into the next entry or the central directory (a truncated or overlapping archive)',
      );
    }
    e.limit = limit;
  }
}

// 9. checkTotal
function checkTotal(entries: readonly Entry[], chk: ArchiveChecker, maxTotal: number): void {
  const total = entries.reduce((sum, e) => sum + e.size, 0);
  if (total > maxTotal) {
    throw chk.fail(
      'FILE_TOO_LARGE',
      `its entries add up to ${total} bytes, more than the ${maxTotal}-byte limit`,
    );
  }
}

/**
 * Opens a bundle zip and checks its whole central directory (steps 1 to 9 above) before
 * returning. Nothing is written.
 */
export async function openZipBundle(path: string, opts: ZipBundleOptions = {}): Promise<ZipBundle> {
  const limits: Required<ZipBundleOptions> = {
    maxTotalSize: opts.maxTotalSize ?? ZIP_LIMITS.maxTotalSize,
    maxEntries: opts.maxEntries ?? ZIP_LIMITS.maxEntries,
    maxRatio: opts.maxRatio ?? ZIP_LIMITS.maxRatio,
    ratioFloor: opts.ratioFloor ?? ZIP_LIMITS.ratioFloor,
  };
  const chk = new ArchiveChecker(path);
  const { fh, size } = await openArchiveFile(path);
  try {
    const bounds = await locateDirectory(fh, size, chk, limits.maxEntries);
    const entries = await readDirectory(fh, bounds, chk);
    for (const e of entries) checkName(e, chk);
    for (const e of entries) checkAllowList(e.name, chk);
    for (const e of entries) checkEntry(e, chk, limits);
    checkUnique(entries, chk);
    checkExtents(entries, bounds, chk);
    checkTotal(entries, chk, limits.maxTotalSize);
    return new ZipBundleImpl(path, fh, size, entries, chk);
  } catch (err) {
    await fh.close();
    throw err instanceof FormatError ? err : ioError(`cannot read ${path}`, err, path);
  }
}

// ---------------------------------------------------------------------------------------
// Reading: steps 10 and 11

class ZipBundleImpl implements ZipBundle {
  private readonly byName = new Map<string, Entry>();
  private readonly fileList: readonly ZipEntryInfo[];
  /** Read buffers no copy is using (at most SPARE_BUFFERS). */
  private readonly spare: Buffer[] = [];
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    /** The archive's size when it was opened: a later, smaller one is media going away. */
    private readonly openedSize: number,
    private readonly all: readonly Entry[],
    private readonly chk: ArchiveChecker,
  ) {
    const files = all.filter((e) => !e.isDir);
    for (const e of files) this.byName.set(e.name, e);
    this.fileList = Object.freeze(
      files.map((e) =>
        Object.freeze({ name: e.name, size: e.size, compressedSize: e.compressedSize }),
      ),
    );
  }

  entries(): readonly ZipEntryInfo[] {
    return this.fileList;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new FormatError('INVALID_ARGUMENT', `${this.path} was closed`, { file: this.path });
    }
  }

  private entry(name: string): Entry {
    this.assertOpen();
    const e = this.byName.get(name);
    if (e === undefined) {
      throw new FormatError('FILE_MISSING', `${basename(this.path)} holds no entry \`${name}\``, {
        file: name,
      });
    }
    return e;
  }

  /** A read buffer of READ_CHUNK bytes, reused across copies (see giveBack). */
  private takeBuffer(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(READ_CHUNK);
  }

  private giveBack(buf: Buffer): void {
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(buf);
  }

  // 10. checkLocalHeader
  private async dataStart(e: Entry, scratch?: Buffer): Promise<number> {
    const bad = (what: string) =>
      this.chk.entryFail('INVALID_METADATA', e.name, `has a local header that ${what}`);
    // One read for the header and the name it should hold (names are at most 1 KiB).
    const head = await readAt(this.fh, e.offset, ZIP_LEN.local + e.nameLength, scratch);
    if (head.length < ZIP_LEN.local + e.nameLength) await this.assertNotShrunk(e);
    if (head.length < ZIP_LEN.local || head.readUInt32LE(0) !== ZIP_SIG.local) {
      throw bad('is missing');
    }
    const flags = head.readUInt16LE(6);
    const nameLen = head.readUInt16LE(26);
    const extraLen = head.readUInt16LE(28);
    if ((flags & (ZIP_FLAG.encrypted | ZIP_FLAG.strongEncryption)) !== 0)
      throw bad('marks it encrypted');
    if (head.readUInt16LE(8) !== e.method) throw bad('names another compression method');
    const localName = head.toString('latin1', ZIP_LEN.local, ZIP_LEN.local + nameLen);
    if (nameLen !== e.nameLength || localName !== e.name) {
      throw bad(`names it ${shown(localName)}`);
    }
    if ((flags & ZIP_FLAG.dataDescriptor) === 0) {
      const crc = head.readUInt32LE(14);
      const csize = head.readUInt32LE(18);
      const usize = head.readUInt32LE(22);
      if (crc !== e.crc32) throw bad('records another CRC-32');
      if (
        (csize !== ZIP64.u32Max && csize !== e.compressedSize) ||
        (usize !== ZIP64.u32Max && usize !== e.size)
      ) {
        throw bad('records other sizes');
      }
    }
    const start = e.offset + ZIP_LEN.local + nameLen + extraLen;
    if (start + e.compressedSize > e.limit) {
      throw bad('pushes its data into the next entry or the central directory');
    }
    return start;
  }

  /**
   * 11. entryChunks: the entry's bytes, counted against its recorded size and CRC-checked.
   * With `scratch` (a READ_CHUNK buffer), a stored entry is read through it and each chunk
   * is valid only until the next is asked for; without, every chunk is a new buffer.
   */
  private async *chunks(e: Entry, scratch?: Buffer): AsyncGenerator<Buffer> {
    const start = await this.dataStart(e, scratch).catch((err: unknown) => {
      throw ioError(`cannot read ${e.name} from ${this.path}`, err, this.path);
    });
    // A small deflated entry (most are: OSTree dirtree and dirmeta objects, JSON) is
    // inflated in one call, its zlib state freed at once; a large one is streamed.
    const small =
      e.method === ZIP_METHOD.deflated && e.compressedSize <= READ_CHUNK && e.size <= READ_CHUNK;
    const raw =
      e.method === ZIP_METHOD.deflated && !small
        ? Readable.from(readRange(this.fh, start, e.compressedSize), { objectMode: false })
        : undefined;
    let count = 0;
    let crc = 0;
    try {
      const source: AsyncIterable<Buffer> | Iterable<Buffer> = small
        ? [await this.inflateSmall(e, start, scratch)]
        : raw === undefined
          ? readRange(this.fh, start, e.compressedSize, scratch)
          : pipeline(raw, zlib.createInflateRaw(), () => undefined);
      for await (const chunk of source) {
        count += chunk.length;
        if (count > e.size) {
          throw this.chk.entryFail(
            'FILE_TOO_LARGE',
            e.name,
            `inflates past its recorded ${e.size} bytes (a zip bomb or a corrupt archive)`,
          );
        }
        crc = zlib.crc32(chunk, crc);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof FormatError) throw err;
      if (/^(Z_|ERR_ZLIB)/.test(errnoOf(err) ?? '')) {
        throw this.chk.entryFail(
          'CONTENT_INVALID',
          e.name,
          `is not valid deflate data (${messageOf(err)})`,
        );
      }
      throw ioError(`cannot read ${e.name} from ${this.path}`, err, this.path);
    } finally {
      raw?.destroy();
    }
    if (count !== e.size) {
      await this.assertNotShrunk(e);
      throw this.chk.entryFail(
        'CONTENT_INVALID',
        e.name,
        `holds ${count} bytes but its directory records ${e.size} (truncated or corrupt)`,
      );
    }
    if (crc >>> 0 !== e.crc32) {
      throw this.chk.entryFail('CONTENT_INVALID', e.name, 'fails its CRC-32 check (corrupt data)');
    }
  }

  /**
   * A read that ended early because the archive got shorter than it was when opened is the
   * media going away (a stick pulled, a copy truncated while read), not corrupt content:
   * MEDIA_UNREADABLE. An archive that was short from the start stays CONTENT_INVALID.
   */
  private async assertNotShrunk(e: Entry): Promise<void> {
    let now: number | undefined;
    let cause: unknown;
    try {
      now = (await this.fh.stat()).size;
    } catch (err) {
      cause = err;
    }
    if (now !== undefined && now >= this.openedSize) return;
    throw new FormatError(
      'MEDIA_UNREADABLE',
      `${this.path} ` +
        (now === undefined
          ? `can no longer be read (${messageOf(cause)})`
          : `shrank from ${this.openedSize} to ${now} bytes`) +
        ` while ${e.name} was read: the media went away`,
      { file: this.path, ...(cause === undefined ? {} : { cause }) },
    );
  }

  /**
   * A deflated entry of at most READ_CHUNK bytes either way, inflated in one call; output
   * past the recorded size stops it (FILE_TOO_LARGE).
   */
  private async inflateSmall(e: Entry, start: number, scratch?: Buffer): Promise<Buffer> {
    const input = await readAt(this.fh, start, e.compressedSize, scratch);
    try {
      // One byte more than recorded shows an entry that inflates past its size.
      return zlib.inflateRawSync(input, { maxOutputLength: e.size + 1 });
    } catch (err) {
      if (errnoOf(err) === 'ERR_BUFFER_TOO_LARGE') {
        throw this.chk.entryFail(
          'FILE_TOO_LARGE',
          e.name,
          `inflates past its recorded ${e.size} bytes (a zip bomb or a corrupt archive)`,
        );
      }
      throw err;
    }
  }

  async readSmall(name: string, cap: number): Promise<Buffer> {
    const e = this.entry(name);
    if (e.size > cap) {
      throw new FormatError(
        'FILE_TOO_LARGE',
        `${name} is ${e.size} bytes, over the ${cap}-byte cap`,
        { file: name },
      );
    }
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(e)) parts.push(chunk);
    return Buffer.concat(parts, e.size);
  }

  async readTufFiles(): Promise<Map<string, Buffer>> {
    this.assertOpen();
    const files = new Map<string, Buffer>();
    const prefix = `${BUNDLE_DIRS.tuf}/`;
    if (!this.all.some((e) => e.name.startsWith(prefix))) {
      throw new FormatError(
        'TUF_MISSING',
        `TUF metadata not found: ${basename(this.path)} holds no tuf/ entries; is this a bundle zip?`,
        { file: this.path },
      );
    }
    let roots = 0;
    for (const e of this.all) {
      const file = e.isDir ? undefined : tufFileOf(e.name);
      const cap = file === undefined ? undefined : tufFileCap(file);
      if (file === undefined || cap === undefined) continue;
      if (ROOT_FILE_RE.test(file) && ++roots > CAPS.rootChainLength) {
        throw new FormatError(
          'ROOT_CHAIN_BROKEN',
          `tuf/ holds more than ${CAPS.rootChainLength} roots`,
          { file: this.path },
        );
      }
      files.set(file, await this.readSmall(e.name, cap));
    }
    return files;
  }

  async copyEntryTo(
    name: string,
    destPath: string,
    opts: CopyEntryOptions,
  ): Promise<{ sha256: string; size: number }> {
    const e = this.entry(name);
    if (opts.expectSha256 !== undefined && !SHA256_HEX_RE.test(opts.expectSha256)) {
      throw new FormatError('INVALID_ARGUMENT', `not a sha256 digest: ${opts.expectSha256}`);
    }
    const root = resolve(opts.stagingRoot);
    const dest = resolve(destPath);
    const rel = relative(root, dest);
    if (rel === '' || rel.split(sep)[0] === '..' || isAbsolute(rel)) {
      throw new FormatError(
        'PATH_ESCAPE',
        `refusing to write ${name} to ${dest}: it is not inside the staging directory ${root}`,
        { file: dest },
      );
    }
    await requireDirectory(root, 'the staging directory');
    if (opts.expectSize !== undefined && opts.expectSize !== e.size) {
      throw new FormatError(
        'CONTENT_INVALID',
        `${name} is ${e.size} bytes in ${basename(this.path)} but the signed metadata says ${opts.expectSize}; the bundle is corrupt or was tampered with; do not use it`,
        { file: name },
      );
    }
    const createdDirs: string[] = [];
    const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
    let out: FileHandle | undefined;
    try {
      await ensureDirsUnder(root, relative(root, dirname(dest)).split(sep).join('/'), createdDirs);
      out = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644).catch(
        (err: unknown) => {
          throw ioError(`cannot create ${tmp}`, err, tmp);
        },
      );
      const hash = createHash('sha256');
      let done = 0;
      const scratch = this.takeBuffer();
      try {
        for await (const chunk of this.chunks(e, scratch)) {
          // entryChunks stops at the recorded size, which equals expectSize when given.
          done += chunk.length;
          hash.update(chunk);
          await writeAll(out, chunk).catch((err: unknown) => {
            throw ioError(`cannot write ${tmp}`, err, tmp);
          });
          opts.onProgress?.({ name, done, total: e.size });
        }
      } finally {
        this.giveBack(scratch);
      }
      const sha256 = hash.digest('hex');
      if (opts.expectSha256 !== undefined && sha256 !== opts.expectSha256) {
        throw new FormatError(
          'CONTENT_INVALID',
          `${name} in ${basename(this.path)} has sha256 ${sha256}, not the signed ${opts.expectSha256}; the bundle is corrupt or was tampered with; do not use it`,
          { file: name },
        );
      }
      try {
        await out.sync();
        await out.close();
        out = undefined;
        await rename(tmp, dest);
        await fsyncDir(dirname(dest));
      } catch (err) {
        throw ioError(`cannot store ${dest}`, err, dest);
      }
      if (done === 0) opts.onProgress?.({ name, done, total: e.size });
      return { sha256, size: done };
    } catch (err) {
      if (out !== undefined) await out.close().catch(() => undefined);
      await undo([tmp], createdDirs);
      throw err;
    }
  }

  async extractPrefix(
    prefix: string,
    stagingDir: string,
    opts: ExtractPrefixOptions = {},
  ): Promise<number> {
    this.assertOpen();
    if (!prefix.endsWith('/') || prefix.startsWith('/') || prefix.split('/').includes('..')) {
      throw new FormatError(
        'INVALID_ARGUMENT',
        `prefix must be a relative directory name ending in /, like ostree_repo/ (got ${prefix})`,
      );
    }
    const root = resolve(stagingDir);
    await requireDirectory(root, 'the staging directory');
    // In archive order, so that the media is read front to back.
    const only = opts.only;
    if (only !== undefined) {
      for (const name of only) {
        const e = this.byName.get(name);
        if (e === undefined || !name.startsWith(prefix)) {
          throw new FormatError(
            'FILE_MISSING',
            `${basename(this.path)} holds no entry \`${name}\``,
            {
              file: name,
            },
          );
        }
      }
    }
    const selected = this.all
      .filter(
        (e) =>
          e.name.startsWith(prefix) &&
          e.name !== prefix &&
          (only === undefined ? true : e.isDir ? false : only.has(e.name)),
      )
      .sort((a, b) => a.offset - b.offset);
    const total = selected.reduce((sum, e) => sum + e.size, 0);
    const run: ExtractRun = {
      root,
      prefix,
      total,
      done: 0,
      written: 0,
      createdFiles: [],
      createdDirs: [],
      knownDirs: new Set<string>(),
      onProgress: opts.onProgress,
    };
    // A few entries in flight: each one is a handful of small file system calls.
    let failure: { err: unknown } | undefined;
    let next = 0;
    const worker = async () => {
      const scratch = this.takeBuffer();
      while (failure === undefined && next < selected.length) {
        const e = selected[next++];
        try {
          await this.extractOne(e, run, scratch);
        } catch (err) {
          failure ??= { err };
        }
      }
      this.giveBack(scratch);
    };
    await Promise.all(Array.from({ length: EXTRACT_CONCURRENCY }, worker));
    if (failure !== undefined) {
      await undo(run.createdFiles, run.createdDirs);
      throw failure.err;
    }
    return run.written;
  }

  private async extractOne(e: Entry, run: ExtractRun, scratch: Buffer): Promise<void> {
    const rel = e.name.slice(run.prefix.length);
    if (e.isDir) {
      await ensureDirsUnder(run.root, rel, run.createdDirs, run.knownDirs);
      return;
    }
    const slash = rel.lastIndexOf('/');
    if (slash > 0) {
      await ensureDirsUnder(run.root, rel.slice(0, slash), run.createdDirs, run.knownDirs);
    }
    const dest = join(run.root, rel);
    let out: FileHandle;
    try {
      out = await open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
    } catch (err) {
      const existing = await lstat(dest).catch(() => undefined);
      if (existing?.isSymbolicLink()) {
        throw new FormatError(
          'PATH_ESCAPE',
          `${dest} is a symbolic link; refusing to write through it (use an empty staging directory)`,
          { file: dest },
        );
      }
      throw ioError(
        `cannot create ${dest}${errnoOf(err) === 'EEXIST' ? ' (use an empty staging directory)' : ''}`,
        err,
        dest,
      );
    }
    run.createdFiles.push(dest);
    try {
      for await (const chunk of this.chunks(e, scratch)) {
        await writeAll(out, chunk).catch((err: unknown) => {
          throw ioError(`cannot write ${dest}`, err, dest);
        });
        run.done += chunk.length;
        run.onProgress?.({ name: e.name, done: run.done, total: run.total });
      }
    } finally {
      await out.close();
    }
    run.written++;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.spare.length = 0;
    await this.fh.close();
  }
}
