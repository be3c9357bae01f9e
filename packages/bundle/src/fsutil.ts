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
 * Copies `src` to `dst` atomically while hashing; refuses (and leaves nothing behind)
 * when the sha256 or the size differ from what is expected.
 */
export async function copyFileVerified(
  src: string,
  dst: string,
  expect: { sha256: string; size?: number },
  opts: { onBytes?: (n: number) => void } = {},
): Promise<void> {
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
    await io.fsyncFile(tmp);
    await fs.rename(tmp, dst);
    await io.fsyncDir(dirname(dst));
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw wrapIo(err, `cannot copy ${src} to ${dst}`, src);
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
