import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { BUNDLE_DIRS, FAT32_MAX_FILE, TUF_FILES } from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { exists, fsyncDir, wrapIo } from './fsutil.js';
import { assertMediaSafe, walkBundleTree } from './media.js';
import { ByteProgress, noProgress, type ProgressFn } from './progress.js';
import { changedWhilePacking, ZipWriter, type ZipWriterSummary } from './zip-writer.js';

/**
 * `bundlectl pack`: one zip file holding a directory bundle (docs/bundle-format.md
 * §Single-file bundles). The same tree always gives the same bytes: entries sorted by name,
 * a fixed time (1980-01-01T00:00:00Z) and fixed modes (0644 files, 0755 directories), and
 * one compression rule. Files are streamed, never held in memory, by a zip writer
 * (zip-writer.ts) that keeps a few dozen bytes per entry for the central directory.
 */

/** The time every entry carries (the earliest a zip can record). */
export const ZIP_ENTRY_TIME = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));
/** Deflate level for entries that are not compressed already. */
const DEFLATE_LEVEL = 6;

/** Names whose content is compressed already: stored, not deflated again. */
const COMPRESSED_EXTENSIONS = ['.filez', '.tgz', '.gz', '.zst'];

/** gzip (1f 8b) or zstd (28 b5 2f fd) magic at the start of a file. */
export function isCompressedMagic(head: Uint8Array): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  return (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd
  );
}

/** Whether a file is stored (compressed already, by its name or its first bytes). */
export function isStoredEntry(name: string, head: Uint8Array): boolean {
  return COMPRESSED_EXTENSIONS.some((x) => name.endsWith(x)) || isCompressedMagic(head);
}

/** OSTree's working files, which are no part of a bundle and are left out of the zip. */
function isOstreeWorkingFile(rel: string): boolean {
  const repo = `${BUNDLE_DIRS.ostree}/`;
  return rel === `${repo}.lock` || rel === `${repo}tmp` || rel.startsWith(`${repo}tmp/`);
}

/**
 * What `pack` writes, in order: every directory and regular file of the bundle tree
 * (except OSTree's working files), sorted by name. Kept compact (one string and one number
 * per entry), since a bundle may hold a few hundred thousand entries.
 */
export interface PackPlan {
  /** Names in the zip, sorted: `/`-separated, directories end with `/`. */
  names: string[];
  /** Size in bytes of each entry of `names` (0 for a directory). */
  sizes: Float64Array;
  /** The sum of `sizes`. */
  total: number;
}

export async function planPack(src: string): Promise<PackPlan> {
  const names: string[] = [];
  const unsorted: number[] = [];
  const problems = await walkBundleTree(
    src,
    (rel, dir, size) => {
      if (isOstreeWorkingFile(rel)) return;
      names.push(dir ? `${rel}/` : rel);
      unsorted.push(size);
    },
    { sizes: true },
  );
  assertMediaSafe(src, { problems });
  const order = Uint32Array.from(names.keys()).sort((a, b) =>
    names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0,
  );
  const sizes = new Float64Array(order.length);
  let total = 0;
  for (const [i, j] of order.entries()) {
    sizes[i] = unsorted[j];
    total += unsorted[j];
  }
  return { names: Array.from(order, (j) => names[j]), sizes, total };
}

/** Files up to this size are read whole, a few at once ahead of the one being written. */
const SMALL_FILE = 64 * 1024;
/** How many entries ahead of the writer small files are read (bounds memory to ~1 MiB). */
const READ_AHEAD = 16;

/**
 * Reads the small files of a plan ahead of the writer, so that the latency of opening and
 * reading tens of thousands of small files overlaps instead of adding up. Large files are
 * streamed by the writer itself.
 */
class ReadAhead {
  private readonly pending = new Map<number, Promise<Buffer>>();
  private next = 0;

  constructor(
    private readonly src: string,
    private readonly plan: PackPlan,
  ) {}

  /** The content of entry `i` when it is a small file (read ahead), else undefined. */
  take(i: number): Promise<Buffer> | undefined {
    for (this.next = Math.max(this.next, i); this.next < i + READ_AHEAD; this.next++) {
      const j = this.next;
      if (j >= this.plan.names.length) break;
      const name = this.plan.names[j];
      const size = this.plan.sizes[j];
      if (name.endsWith('/') || size > SMALL_FILE) continue;
      const read = readSmallFile(join(this.src, name), size);
      // Awaited by take's caller; a failure past an earlier one is not reported twice.
      read.catch(() => undefined);
      this.pending.set(j, read);
    }
    const p = this.pending.get(i);
    this.pending.delete(i);
    return p;
  }
}

/** The whole of a file of `size` bytes; fails if it holds more or fewer. */
async function readSmallFile(path: string, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    // One byte more than expected, to see a file that grew.
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) break;
    }
    if (got !== size) throw changedWhilePacking(path, got, size);
    return buf.subarray(0, size);
  } catch (err) {
    throw wrapIo(err, `cannot read ${path}`, path);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

export interface PackBundleOptions {
  /** A directory bundle (as `bundlectl create` writes it). */
  src: string;
  /** The zip file to write; must not exist. */
  dst: string;
  /** Write ZIP64 records even for a small archive (tests; large archives get them anyway). */
  forceZip64?: boolean;
  /**
   * Tests only: lower the values at which ZIP64 takes over (entry count, sizes and offsets),
   * to reach those paths without 65,535 entries or 4 GiB of content.
   */
  zip64Thresholds?: { entries?: number; bytes?: number };
  /** Warn (through `onProgress`) once the file passes this many bytes; default FAT32's limit. */
  warnAboveBytes?: number;
  onProgress?: ProgressFn;
}

/** The writer's summary (size, sha256 to check a copy, entry counts, ZIP64) of the file. */
export interface PackBundleResult extends ZipWriterSummary {
  file: string;
  /** True when the file is larger than a FAT32 file can be. */
  tooLargeForFat32: boolean;
}

/**
 * Packs a directory bundle into one zip file: written to `<dst>.tmp-<random>`, fsynced,
 * then renamed to `dst`. On failure nothing is left at `dst` and the temp file is removed.
 */
export async function packBundle(o: PackBundleOptions): Promise<PackBundleResult> {
  const progress = o.onProgress ?? noProgress;
  const src = resolve(o.src);
  const dst = resolve(o.dst);
  const rel = relative(src, dst);
  if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..')) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `the zip file ${o.dst} must not be inside the bundle ${o.src}; write it elsewhere`,
    );
  }
  if (await exists(dst)) {
    throw new BundleError(
      'DESTINATION_NOT_EMPTY',
      `${o.dst} already exists; choose a new file name or remove it first`,
      { file: o.dst },
    );
  }
  if (!(await exists(`${src}/${BUNDLE_DIRS.tuf}/${TUF_FILES.manifest}`))) {
    throw new BundleError(
      'BUNDLE_INVALID',
      `${o.src} is not an offline bundle (no ${BUNDLE_DIRS.tuf}/${TUF_FILES.manifest}); make one with bundlectl create`,
      { file: o.src },
    );
  }
  progress({ step: 'pack', message: `Packing ${o.src} into ${o.dst}` });
  const plan = await planPack(src);
  const bytes = new ByteProgress(progress, 'pack', `Writing ${basename(dst)}`, plan.total);
  const warnAbove = o.warnAboveBytes ?? FAT32_MAX_FILE;
  let warned = false;

  const tmp = `${dst}.tmp-${randomBytes(6).toString('hex')}`;
  let handle: FileHandle | undefined;
  try {
    // Write-only: the writer hashes as it writes and never reads the archive back.
    handle = await open(tmp, 'wx', 0o644);
    const zip = new ZipWriter(handle, {
      name: o.dst,
      level: DEFLATE_LEVEL,
      ...(o.forceZip64 === true ? { forceZip64: true } : {}),
      ...(o.zip64Thresholds === undefined ? {} : { zip64Thresholds: o.zip64Thresholds }),
      onInput: (n) => bytes.add(n),
      onOutput: (n) => {
        if (warned || n <= warnAbove) return;
        warned = true;
        progress({
          step: 'warning',
          message: `${o.dst} is now larger than 4 GiB: a FAT32 stick cannot hold it. Use an exFAT stick, or copy the directory bundle instead`,
        });
      },
    });
    const ahead = new ReadAhead(src, plan);
    for (const [i, name] of plan.names.entries()) {
      const store = (head: Buffer) => isStoredEntry(name, head);
      const small = ahead.take(i);
      if (name.endsWith('/')) await zip.addDirectory(name);
      else if (small !== undefined) await zip.addData(name, await small, store);
      else await zip.addFile(name, join(src, name), plan.sizes[i], store);
    }
    const written = await zip.finish();
    bytes.finish();
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, dst);
    await fsyncDir(dirname(dst));
    return {
      file: o.dst,
      bytes: written.bytes,
      sha256: written.sha256,
      entries: written.entries,
      stored: written.stored,
      deflated: written.deflated,
      zip64: written.zip64,
      tooLargeForFat32: written.bytes > FAT32_MAX_FILE,
    };
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof BundleError) throw err;
    throw new BundleError('IO_FAILED', `cannot write ${o.dst}: ${errorMessage(err)}`, {
      cause: err,
      file: o.dst,
    });
  }
}
