import archiver from 'archiver';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BUNDLE_DIRS, TUF_FILES } from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { exists, fsyncDir, wrapIo } from './fsutil.js';
import { assertMediaSafe, scanBundleTree, type TreeEntry } from './media.js';
import { ByteProgress, noProgress, type ProgressFn } from './progress.js';

/**
 * `bundlectl pack`: one zip file holding a directory bundle (docs/bundle-format.md
 * §Single-file bundles). The same tree always gives the same bytes: entries sorted by name,
 * a fixed time (1980-01-01T00:00:00Z) and fixed modes (0644 files, 0755 directories), and
 * one compression rule. Files are streamed, never held in memory.
 */

/** The time every entry carries (the earliest a zip can record). */
export const ZIP_ENTRY_TIME = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));
/** The most a FAT32 file can hold is one byte less than 4 GiB. */
export const FAT32_MAX_FILE = 0xffffffff;
/** Deflate level for entries that are not compressed already. */
const DEFLATE_LEVEL = 6;
/** Entries appended to the archiver queue ahead of the one being written (bounds open files). */
const APPEND_WINDOW = 2;

/** Names whose content is compressed already: stored, not deflated again. */
const COMPRESSED_EXTENSIONS = ['.filez', '.tgz', '.gz', '.zst'];

/** gzip (1f 8b) or zstd (28 b5 2f fd) magic at the start of a file. */
export function isCompressedMagic(head: Uint8Array): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  return (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd
  );
}

/**
 * Whether an archive of `entries` entries and about `bytes` bytes needs ZIP64 records:
 * more than 65,534 entries, or an offset or size that may pass 4 GiB. Local headers,
 * central records and data descriptors of a bundle entry stay under 512 bytes each.
 */
export function needsZip64(bytes: number, entries: number): boolean {
  return entries >= 0xffff || bytes + entries * 512 >= 0xffffffff;
}

/** OSTree's working files, which are no part of a bundle and are left out of the zip. */
function isOstreeWorkingFile(rel: string): boolean {
  const repo = `${BUNDLE_DIRS.ostree}/`;
  return rel === `${repo}.lock` || rel === `${repo}tmp` || rel.startsWith(`${repo}tmp/`);
}

async function isCompressedFile(e: TreeEntry): Promise<boolean> {
  if (COMPRESSED_EXTENSIONS.some((x) => e.rel.endsWith(x))) return true;
  if (e.size < 2) return false;
  let handle;
  try {
    handle = await open(e.path, 'r');
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return isCompressedMagic(head.subarray(0, bytesRead));
  } catch (err) {
    throw wrapIo(err, `cannot read ${e.path}`, e.path);
  } finally {
    await handle?.close();
  }
}

export interface PackPlanEntry {
  /** Name in the zip: `/`-separated, directories end with `/`. */
  name: string;
  /** Source path of a file; undefined for a directory. */
  path?: string;
  size: number;
  store: boolean;
}

/**
 * What `pack` writes, in order: every directory and regular file of the bundle tree
 * (except OSTree's working files), sorted by name, each with its compression.
 */
export async function planPack(src: string): Promise<PackPlanEntry[]> {
  const scan = await scanBundleTree(src);
  assertMediaSafe(src, scan);
  const plan: PackPlanEntry[] = [];
  for (const e of scan.entries) {
    if (isOstreeWorkingFile(e.rel)) continue;
    if (e.dir) plan.push({ name: `${e.rel}/`, size: 0, store: true });
    else plan.push({ name: e.rel, path: e.path, size: e.size, store: await isCompressedFile(e) });
  }
  return plan.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface PackBundleOptions {
  /** A directory bundle (as `bundlectl create` writes it). */
  src: string;
  /** The zip file to write; must not exist. */
  dst: string;
  /** Write ZIP64 records even for a small archive (tests; large archives get them anyway). */
  forceZip64?: boolean;
  /** Warn (through `onProgress`) once the file passes this many bytes; default FAT32's limit. */
  warnAboveBytes?: number;
  onProgress?: ProgressFn;
}

export interface PackBundleResult {
  file: string;
  /** Size of the zip file in bytes. */
  bytes: number;
  /** sha256 of the zip file (lowercase hex), e.g. to check a copy. */
  sha256: string;
  entries: number;
  stored: number;
  deflated: number;
  zip64: boolean;
  /** True when the file is larger than a FAT32 file can be. */
  tooLargeForFat32: boolean;
}

/** Hashes and counts what goes to the file; warns once when it passes FAT32's limit. */
class OutputMeter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private warned = false;

  constructor(
    private readonly limit: number,
    private readonly onLarge: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (!this.warned && this.bytes > this.limit) {
      this.warned = true;
      this.onLarge();
    }
    cb(null, chunk);
  }
}

/** Counts bytes read from a source file. */
class InputMeter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
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
  const total = plan.reduce((s, e) => s + e.size, 0);
  const zip64 = o.forceZip64 === true || needsZip64(total, plan.length);
  const bytes = new ByteProgress(progress, 'pack', `Writing ${basename(dst)}`, total);

  const tmp = `${dst}.tmp-${randomBytes(6).toString('hex')}`;
  const archive = archiver('zip', {
    forceZip64: zip64,
    zlib: { level: DEFLATE_LEVEL },
  });
  const meter = new OutputMeter(o.warnAboveBytes ?? FAT32_MAX_FILE, () =>
    progress({
      step: 'warning',
      message: `${o.dst} is now larger than 4 GiB: a FAT32 stick cannot hold it. Use an exFAT stick, or copy the directory bundle instead`,
    }),
  );
  let failed: unknown;
  const fail = (err: unknown): void => {
    failed ??= err;
    archive.abort();
  };
  try {
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    const written = pipeline(archive, meter, out);
    written.catch(() => undefined);
    await new Promise<void>((done, reject) => {
      let next = 0;
      let inFlight = 0;
      const pump = (): void => {
        while (failed === undefined && inFlight < APPEND_WINDOW && next < plan.length) {
          const e = plan[next++];
          inFlight++;
          const data = { name: e.name, date: ZIP_ENTRY_TIME, store: e.store };
          if (e.path === undefined) {
            archive.append(Buffer.alloc(0), { ...data, mode: 0o755 });
          } else if (e.size === 0) {
            archive.append(Buffer.alloc(0), { ...data, mode: 0o644 });
          } else {
            const file = createReadStream(e.path);
            const counted = new InputMeter((n) => bytes.add(n));
            file.once('error', (err) => {
              const wrapped = wrapIo(err, `cannot read ${e.path ?? e.name}`, e.path);
              fail(wrapped);
              reject(wrapped);
            });
            archive.append(file.pipe(counted), { ...data, mode: 0o644 });
          }
        }
        if (next === plan.length && inFlight === 0) done();
      };
      archive.on('entry', () => {
        inFlight--;
        pump();
      });
      archive.on('error', (err) => {
        fail(err);
        reject(err);
      });
      archive.on('warning', (err) => {
        fail(err);
        reject(err);
      });
      pump();
    });
    await archive.finalize();
    await written;
    bytes.finish();
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, dst);
    await fsyncDir(dirname(dst));
  } catch (err) {
    archive.abort();
    await rm(tmp, { force: true }).catch(() => undefined);
    const cause = failed ?? err;
    if (cause instanceof BundleError) throw cause;
    throw new BundleError('IO_FAILED', `cannot write ${o.dst}: ${errorMessage(cause)}`, {
      cause,
      file: o.dst,
    });
  }
  const size = (await stat(dst)).size;
  const stored = plan.filter((e) => e.path !== undefined && e.store).length;
  return {
    file: o.dst,
    bytes: size,
    sha256: meter.hash.digest('hex'),
    entries: plan.length,
    stored,
    deflated: plan.filter((e) => e.path !== undefined).length - stored,
    zip64,
    tooLargeForFat32: size > FAT32_MAX_FILE,
  };
}
