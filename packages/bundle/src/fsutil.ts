import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
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
  return new BundleError('IO_FAILED', `${what}: ${errorMessage(err)}`, {
    cause: err,
    ...(file === undefined ? {} : { file }),
  });
}

/** fsync a directory so that a rename inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some file systems (e.g. FAT on some kernels) refuse fsync on a directory.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM')
      throw wrapIo(err, `cannot sync ${dir}`, dir);
  } finally {
    await handle?.close();
  }
}

function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a file atomically: temp file in the same directory, fsync, rename over the
 * target, fsync the directory. Parent directories are created.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const tmp = tempNameFor(path);
  try {
    await fs.mkdir(dirname(path), { recursive: true });
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, path);
    await fsyncDir(dirname(path));
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
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
  const tmp = tempNameFor(dst);
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
    const handle = await fs.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, dst);
    await fsyncDir(dirname(dst));
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw wrapIo(err, `cannot copy ${src} to ${dst}`, src);
  }
}

/** Reads a file, refusing one larger than `cap` bytes. */
export async function readCapped(path: string, cap: number): Promise<Buffer> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, 'r');
    const st = await handle.stat();
    if (!st.isFile())
      throw new BundleError('BUNDLE_INVALID', `${path} is not a regular file`, { file: path });
    if (st.size > cap) {
      throw new BundleError(
        'BUNDLE_INVALID',
        `${path} is ${st.size} bytes, more than the ${cap} allowed`,
        {
          file: path,
        },
      );
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await handle.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } catch (err) {
    throw wrapIo(err, `cannot read ${path}`, path);
  } finally {
    await handle?.close();
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
