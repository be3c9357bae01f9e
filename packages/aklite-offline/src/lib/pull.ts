/**
 * The one verified pull of a Target into the device's repo, and its undo (issue 13).
 *
 * `ostree pull-local --untrusted` from the media (or a scratch copy of a single-file
 * bundle's objects) straight into the sysroot repo: OSTree re-hashes every object it
 * imports and stores it under the checksum it computed, and pulling by checksum writes no
 * ref, so nothing references the new commit until the deploy. What an undo needs is
 * written down first, in the pull journal (`<storage>/.ostree-pull`, atomically, fsynced):
 *
 *   line 1   `aklite-offline ostree-pull 1`
 *   line 2   JSON `{ "commit": <checksum>, "tmp": [names in the repo's tmp/ before],
 *            "dirs": [names in its objects/ before], "lock": whether its .lock existed }`
 *   then     one repository-relative object path per line: the Target's objects the
 *            device's repo lacked before the pull (and the commit's `.commitmeta`).
 *
 * `undo` (a failed install, or `cleanInterruptedPull` at the next start after a power
 * cut) removes exactly those objects that now exist (a `.filez` of the walk is `.file` in
 * the bare repo), the pull's `state/<commit>.commitpartial` marker, the entries of the
 * repo's `tmp/` that were not there before (OSTree's staging directories), the
 * `objects/<xx>` directories it made (when empty) and the `.lock` file it made, then the
 * journal: the repo is as it was, file for file. `finish` removes the journal once the objects are the device's to keep.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { commitPartialPath, ostreeObjectPath, OSTREE_CHECKSUM_RE } from '@offline-ota/format';
import type { Device } from './device.js';
import { isErrno, messageOf } from './errors.js';
import { forEachLimit, fsyncDir, pathExists, removeTree } from './fsutil.js';

const MAGIC = 'aklite-offline ostree-pull 1';
/** Objects removed at once by an undo. */
const UNLINK_CONCURRENCY = 16;
/** What a journal line may name: an object of the repository, nothing else. */
const OBJECT_REL_RE =
  /^objects\/[0-9a-f]{2}\/[0-9a-f]{62}\.(commit|commitmeta|dirtree|dirmeta|filez?)$/;
/** OSTree's own long-lived entry of `tmp/`, never removed. */
const TMP_KEEP = new Set(['cache']);

export const pullJournalPath = (dev: Device): string => join(dev.config.storageDir, '.ostree-pull');

/** The pull of one commit into the sysroot repo, with what undoing it takes. */
export interface PullUndo {
  /** Removes what the pull added (the journal's objects, marker, tmp entries), then the journal. */
  undo(): Promise<void>;
  /** The pull's objects stay: removes the journal (durably, before any record names them). */
  finish(): Promise<void>;
}

/** The names in a directory of the repo (none when it does not exist). */
async function namesIn(repo: string, sub: string): Promise<string[]> {
  return readdir(join(repo, sub)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  });
}

interface JournalHead {
  commit: string;
  tmp: string[];
  dirs: string[];
  lock: boolean;
}

/**
 * Writes the pull journal for pulling `commit` into the sysroot repo, whose repo lacks
 * `lacking` (repository-relative, as format's commit walk names them). Call before the
 * pull; the journal is on disk (fsynced) when this returns.
 */
export async function beginPull(
  dev: Device,
  commit: string,
  lacking: readonly string[],
): Promise<PullUndo> {
  const file = pullJournalPath(dev);
  const repo = dev.sysrootRepo;
  const head: JournalHead = {
    commit,
    tmp: await namesIn(repo, 'tmp'),
    dirs: await namesIn(repo, 'objects'),
    lock: await pathExists(join(repo, '.lock')),
  };
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    // Written in slices, so that the journal of a large Target is never one string.
    const lines = [MAGIC, JSON.stringify(head), ostreeObjectPath(commit, 'commitmeta')];
    await fh.write(lines.join('\n') + '\n');
    const SLICE = 4096;
    for (let i = 0; i < lacking.length; i += SLICE)
      await fh.write(lacking.slice(i, i + SLICE).join('\n') + '\n');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  await fsyncDir(dev.config.storageDir);
  return {
    undo: () => undoPull(dev, file),
    finish: async () => {
      await rm(file, { force: true });
      await fsyncDir(dev.config.storageDir);
    },
  };
}

/** Removes one object of a bare repo, under either name the walk may give it. */
async function removeObject(repo: string, rel: string): Promise<void> {
  const names = rel.endsWith('.filez') ? [rel, rel.slice(0, -1)] : [rel];
  for (const name of names)
    await unlink(join(repo, name)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
}

/** Undoes the pull the journal `file` describes (see the module header). */
async function undoPull(dev: Device, file: string): Promise<void> {
  const repo = dev.sysrootRepo;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  let head: JournalHead | undefined;
  const objects: string[] = [];
  const flush = () =>
    forEachLimit(objects.splice(0), UNLINK_CONCURRENCY, (rel) => removeObject(repo, rel));
  for await (const line of lines) {
    n++;
    if (n === 1) {
      if (line !== MAGIC) throw new Error(`${file} is not a pull journal`);
    } else if (n === 2) {
      head = parseHead(line, file);
    } else if (line !== '') {
      if (!OBJECT_REL_RE.test(line))
        throw new Error(`${file} names ${line}, not an object of the repo`);
      objects.push(line);
      if (objects.length >= 4096) await flush();
    }
  }
  await flush();
  if (head === undefined) throw new Error(`${file} is incomplete`);
  await rm(join(repo, commitPartialPath(head.commit)), { force: true });
  const before = new Set(head.tmp);
  for (const name of await namesIn(repo, 'tmp'))
    if (!before.has(name) && !TMP_KEEP.has(name)) await removeTree(join(repo, 'tmp', name));
  const dirs = new Set(head.dirs);
  for (const name of await namesIn(repo, 'objects'))
    if (!dirs.has(name))
      await rmdir(join(repo, 'objects', name)).catch((err: unknown) => {
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'ENOENT')) throw err;
      });
  if (!head.lock) await rm(join(repo, '.lock'), { force: true });
  await rm(file, { force: true });
  await fsyncDir(dev.config.storageDir);
}

function parseHead(line: string, file: string): JournalHead {
  const v = JSON.parse(line) as Partial<Record<keyof JournalHead, unknown>>;
  const names = (x: unknown): x is string[] =>
    Array.isArray(x) &&
    x.every((t) => typeof t === 'string' && t !== '' && t !== '..' && !t.includes('/'));
  const ok =
    typeof v.commit === 'string' &&
    OSTREE_CHECKSUM_RE.test(v.commit) &&
    names(v.tmp) &&
    names(v.dirs) &&
    typeof v.lock === 'boolean';
  if (!ok) throw new Error(`${file} has a malformed header`);
  return v as JournalHead;
}

/**
 * At the start of a command, under the lock: a pull journal left behind means a power cut
 * (or a kill) came during or after a pull whose objects no record names yet; what that
 * pull added is removed. A journal that cannot be read is reported and left in place.
 * Returns whether one was found.
 */
export async function cleanInterruptedPull(dev: Device): Promise<boolean> {
  const file = pullJournalPath(dev);
  // A journal still being written when the power went never got its name.
  for (const name of await readdir(dev.config.storageDir).catch(() => []))
    if (name.startsWith('.ostree-pull.tmp-'))
      await rm(join(dev.config.storageDir, name), { force: true });
  if (!(await pathExists(file))) return false;
  try {
    await undoPull(dev, file);
  } catch (err) {
    dev.ports.progress(`Warning: cleaning up an interrupted OSTree pull failed: ${messageOf(err)}`);
    return false;
  }
  dev.ports.progress('Removed what an interrupted OSTree pull had written');
  return true;
}
