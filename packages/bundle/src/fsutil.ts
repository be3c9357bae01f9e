/**
 * The host's file helpers: the device-safe primitives of `@offline-ota/format` (`io/`:
 * atomic write, fsync, capped read) with their errors wrapped into `BundleError` codes
 * (`IO_FAILED`; `BUNDLE_INVALID` for a file over its cap or not a regular file), plus the
 * verified copy the app store and `create` use.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as io from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';

/** sha256 of bytes as lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw wrapIo(err, `cannot read ${path}`, path);
  }
}

export function wrapIo(err: unknown, what: string, file?: string): BundleError {
  if (err instanceof BundleError) return err;
  if (err instanceof io.IoError) {
    const code = err.code === 'IO_FAILED' ? 'IO_FAILED' : 'BUNDLE_INVALID';
    return new BundleError(code, err.message, { cause: err, file: err.file });
  }
  return new BundleError('IO_FAILED', `${what}: ${errorMessage(err)}`, {
    cause: err,
    ...(file === undefined ? {} : { file }),
  });
}

/** fsync a directory so that a rename inside it survives a power cut (`io.fsyncDir`). */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    await io.fsyncDir(dir);
  } catch (err) {
    throw wrapIo(err, `cannot sync ${dir}`, dir);
  }
}

/**
 * Writes a file atomically (`io.writeFileAtomic`: temp file in the same directory, fsync,
 * rename over the target, fsync the directory). Parent directories are created.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  try {
    await io.writeFileAtomic(path, data, options);
  } catch (err) {
    throw wrapIo(err, `cannot write ${path}`, path);
  }
}

/**
 * Copies `src` to a new temporary file next to `dst` while hashing, and returns its path;
 * refuses (and leaves nothing behind) when the sha256 or the size differ from what is
 * expected. The temporary file is not synced.
 */
async function copyToTempVerified(
  src: string,
  dst: string,
  expect: { sha256: string; size?: number },
  opts: { onBytes?: (n: number) => void },
): Promise<string> {
  const tmp = io.tempPathFor(dst);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await fs.mkdir(dirname(dst), { recursive: true });
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        opts.onBytes?.(chunk.length);
        if (expect.size !== undefined && size > expect.size) {
          cb(
            new BundleError(
              'BUNDLE_INVALID',
              `${src} is larger than its descriptor says (${expect.size} bytes)`,
            ),
          );
          return;
        }
        cb(null, chunk);
      },
    });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    await pipeline(createReadStream(src), meter, out);
    const digest = hash.digest('hex');
    if (digest !== expect.sha256 || (expect.size !== undefined && size !== expect.size)) {
      throw new BundleError(
        'BUNDLE_INVALID',
        `${src} does not match its digest: expected sha256:${expect.sha256}${
          expect.size === undefined ? '' : ` (${expect.size} bytes)`
        }, found sha256:${digest} (${size} bytes)`,
        { file: src },
      );
    }
    return tmp;
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw wrapIo(err, `cannot copy ${src} to ${dst}`, src);
  }
}

/**
 * Copies `src` to `dst` atomically while hashing; refuses (and leaves nothing behind)
 * when the sha256 or the size differ from what is expected.
 */
export async function copyFileVerified(
  src: string,
  dst: string,
  expect: { sha256: string; size?: number },
  opts: { onBytes?: (n: number) => void } = {},
): Promise<void> {
  await copyFilesVerified([{ src, dst, ...expect }], opts);
}

/** One file of `copyFilesVerified`. */
export interface VerifiedCopy {
  src: string;
  dst: string;
  sha256: string;
  size?: number;
}

/** How many temporary files are fsynced at once by `copyFilesVerified`. */
const SYNC_AT_ONCE = 8;

/**
 * Copies files atomically while hashing each; refuses (and leaves none of them behind)
 * when one differs from what is expected. Durable in three steps: every file is written to
 * a temporary name and verified; all of them are fsynced, `SYNC_AT_ONCE` at a time, so the
 * file system commits them together instead of once per file; only then are they renamed
 * into place, and each destination directory is fsynced once. A file under its final name
 * is therefore always complete, whenever the power goes: the same guarantee as a sync and
 * rename per file, without a journal commit per file.
 */
export async function copyFilesVerified(
  files: readonly VerifiedCopy[],
  opts: { onBytes?: (n: number) => void } = {},
): Promise<void> {
  const tmps: string[] = [];
  let renamed = 0;
  try {
    for (const f of files) {
      tmps.push(
        await copyToTempVerified(
          f.src,
          f.dst,
          { sha256: f.sha256, ...(f.size === undefined ? {} : { size: f.size }) },
          opts,
        ),
      );
    }
    for (let i = 0; i < tmps.length; i += SYNC_AT_ONCE)
      await Promise.all(tmps.slice(i, i + SYNC_AT_ONCE).map((t) => io.fsyncFile(t)));
    for (const [i, f] of files.entries()) {
      await fs.rename(tmps[i], f.dst);
      renamed = i + 1;
    }
    for (const d of new Set(files.map((f) => dirname(f.dst)))) await io.fsyncDir(d);
  } catch (err) {
    await Promise.all(
      tmps.slice(renamed).map((t) => fs.rm(t, { force: true }).catch(() => undefined)),
    );
    throw wrapIo(err, `cannot copy ${files[renamed]?.src ?? 'files'}`, files[renamed]?.src);
  }
}

/** Reads a file, refusing one larger than `cap` bytes (`io.readFileCapped`). */
export async function readCapped(path: string, cap: number): Promise<Buffer> {
  try {
    return await io.readFileCapped(path, cap);
  } catch (err) {
    throw wrapIo(err, `cannot read ${path}`, path);
  }
}

/** Reads and parses a JSON file (capped). */
export async function readJsonFile(path: string, cap = 64 * 1024 * 1024): Promise<unknown> {
  const bytes = await readCapped(path, cap);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new BundleError('BUNDLE_INVALID', `${path} is not valid JSON: ${errorMessage(err)}`, {
      cause: err,
      file: path,
    });
  }
}

/** True when `dir` is missing or an empty directory. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    const entries = await fs.readdir(dir);
    return entries.length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw wrapIo(err, `cannot read ${dir}`, dir);
  }
}
