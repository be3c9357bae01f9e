import { link, mkdir, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { exists, writeFileAtomic, wrapIo } from './fsutil.js';

/**
 * Tracks what one run writes into a destination so a failure can undo it: paths the run
 * created are removed, files it replaced get their previous bytes back (kept as hard
 * links until commit). Pre-existing files are never modified in place.
 */
export class WriteTransaction {
  private readonly created: string[] = [];
  private readonly replaced: { path: string; backup: string }[] = [];
  private readonly undo: (() => Promise<void>)[] = [];

  /** Registers an extra undo step (run before created paths are removed). */
  onRollback(fn: () => Promise<void>): void {
    this.undo.push(fn);
  }

  /** Creates a directory (and parents), remembering each one that did not exist. */
  async mkdirs(dir: string): Promise<void> {
    const missing: string[] = [];
    let d = dir;
    while (!(await exists(d))) {
      missing.unshift(d);
      const parent = dirname(d);
      if (parent === d) break;
      d = parent;
    }
    for (const m of missing) {
      try {
        await mkdir(m);
      } catch (err) {
        throw wrapIo(err, `cannot create ${m}`, m);
      }
      this.created.push(m);
    }
  }

  /** Records a path this run created by other means (e.g. `ostree init`). */
  noteCreated(path: string): void {
    this.created.push(path);
  }

  /** Writes a file atomically; an existing file is kept as a backup until commit. */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    await this.mkdirs(dirname(path));
    if (await exists(path)) {
      const backup = join(
        dirname(path),
        `.${basename(path)}.${randomBytes(6).toString('hex')}.bak`,
      );
      try {
        await link(path, backup);
      } catch (err) {
        throw wrapIo(err, `cannot keep a backup of ${path}`, path);
      }
      this.replaced.push({ path, backup });
    } else {
      this.created.push(path);
    }
    await writeFileAtomic(path, data);
  }

  /** Keeps everything written; drops the backups. */
  async commit(): Promise<void> {
    for (const r of this.replaced) await unlink(r.backup).catch(() => undefined);
    this.replaced.length = 0;
    this.created.length = 0;
    this.undo.length = 0;
  }

  /** Undoes the run: restores replaced files, removes created paths (newest first). */
  async rollback(): Promise<void> {
    for (const r of this.replaced.reverse()) await rename(r.backup, r.path).catch(() => undefined);
    for (const fn of this.undo.reverse()) await fn().catch(() => undefined);
    this.undo.length = 0;
    for (const p of this.created.reverse()) {
      await rm(p, { recursive: true, force: true }).catch(() => undefined);
    }
    this.replaced.length = 0;
    this.created.length = 0;
  }
}

/** Removes a directory if empty (ignores failures). */
export async function removeIfEmpty(dir: string): Promise<void> {
  if ((await readdir(dir).catch(() => ['x'])).length === 0) await rmdir(dir).catch(() => undefined);
}
