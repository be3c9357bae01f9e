import { gzipSync } from 'node:zlib';
import { BundleError } from './errors.js';

/** One regular file of a tar archive built in memory. */
export interface TarEntry {
  /** Relative POSIX path, at most 100 bytes, no `..`. */
  path: string;
  data: Uint8Array;
  /** File mode; default 0644. */
  mode?: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(path: string, size: number, mode: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const name = Buffer.from(path, 'ascii');
  if (name.length > 100)
    throw new BundleError('INVALID_ARGUMENT', `tar entry name too long: ${path}`);
  name.copy(h, 0);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/**
 * A deterministic ustar archive: entries sorted by path, parent directories listed,
 * mtime 0, uid/gid 0, no user names. The same inputs always give the same bytes.
 */
export function buildTar(entries: readonly TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const dirs = new Set<string>();
  for (const e of sorted) {
    if (
      e.path === '' ||
      e.path.startsWith('/') ||
      e.path.split('/').some((p) => p === '..' || p === '' || p === '.')
    ) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `invalid tar entry path: ${JSON.stringify(e.path)}`,
      );
    }
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/') + '/');
  }
  const chunks: Buffer[] = [];
  const all: { path: string; entry?: TarEntry }[] = [
    ...[...dirs].map((path) => ({ path })),
    ...sorted.map((entry) => ({ path: entry.path, entry })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  let previous: string | undefined;
  for (const item of all) {
    if (item.path === previous)
      throw new BundleError('INVALID_ARGUMENT', `duplicate tar entry: ${item.path}`);
    previous = item.path;
    if (item.entry === undefined) {
      chunks.push(header(item.path, 0, 0o755, '5'));
      continue;
    }
    const data = Buffer.from(item.entry.data);
    chunks.push(header(item.path, data.length, item.entry.mode ?? 0o644, '0'));
    chunks.push(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) chunks.push(Buffer.alloc(pad, 0));
  }
  chunks.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(chunks);
}

/** gzip with a fixed header (mtime 0), so equal input gives equal bytes. */
export function gzipDeterministic(data: Uint8Array): Buffer {
  return gzipSync(data, { level: 9 });
}

export function buildTarGz(entries: readonly TarEntry[]): Buffer {
  return gzipDeterministic(buildTar(entries));
}
