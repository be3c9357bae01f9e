import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(
  prefix = 'bundlectl-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A fixed clock for deterministic tests. */
export const fixedClock =
  (iso = '2026-01-15T10:00:00Z') =>
  (): Date =>
    new Date(iso);

/** sha256 over every path, mode and content under `dir` (symlinks by target). */
export async function hashTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  async function walk(rel: string): Promise<void> {
    const p = join(dir, rel);
    const st = await lstat(p);
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort())
        await walk(rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      h.update(await readFile(p));
    }
  }
  try {
    await walk('');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  return h.digest('hex');
}
