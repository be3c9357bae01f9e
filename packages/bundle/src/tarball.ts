/**
 * Small deterministic tar archives built in memory (sample apps, key archives), written by
 * the `tar` package: entries are handed to its `PackSync` as in-memory entries, with fixed
 * owners (0:0), a fixed mtime (the epoch) and no user names.
 */
import { gzipSync } from 'node:zlib';
import { Header, PackSync, ReadEntry } from 'tar';
import { BundleError } from './errors.js';

/** One regular file of a tar archive built in memory. */
export interface TarEntry {
  /** Relative POSIX path, no `..`. */
  path: string;
  data: Uint8Array;
  /** File mode; default 0644. */
  mode?: number;
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
  const all: { path: string; entry?: TarEntry }[] = [
    ...[...dirs].map((path) => ({ path })),
    ...sorted.map((entry) => ({ path: entry.path, entry })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pack = new PackSync({ cwd: '/', noPax: false, portable: false });
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
  let previous: string | undefined;
  for (const item of all) {
    if (item.path === previous)
      throw new BundleError('INVALID_ARGUMENT', `duplicate tar entry: ${item.path}`);
    previous = item.path;
    const data = item.entry === undefined ? Buffer.alloc(0) : Buffer.from(item.entry.data);
    const entry = new ReadEntry(
      new Header({
        path: item.path,
        type: item.entry === undefined ? 'Directory' : 'File',
        mode: item.entry === undefined ? 0o755 : (item.entry.mode ?? 0o644),
        size: data.length,
        uid: 0,
        gid: 0,
        mtime: EPOCH,
      }),
    );
    pack.add(entry);
    entry.end(data);
  }
  pack.end();
  return Buffer.concat(chunks);
}

const EPOCH = new Date(0);

/** gzip with a fixed header (mtime 0), so equal input gives equal bytes. */
export function gzipDeterministic(data: Uint8Array): Buffer {
  return gzipSync(data, { level: 9 });
}

export function buildTarGz(entries: readonly TarEntry[]): Buffer {
  return gzipDeterministic(buildTar(entries));
}
