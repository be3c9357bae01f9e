import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatTufTime } from '@offline-ota/format';
import { BundleError } from './errors.js';

const execFileP = promisify(execFile);

/** The `ostree` executable; tests may point it elsewhere with OSTREE_BIN. */
function ostreeBin(): string {
  return process.env.OSTREE_BIN ?? 'ostree';
}

async function run(args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileP(ostreeBin(), args, {
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, LC_ALL: 'C' },
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const detail =
      e.code === 'ENOENT'
        ? 'the ostree command was not found; install the ostree package'
        : (e.stderr ?? '').trim() || e.message;
    throw new BundleError('OSTREE_FAILED', `${what} failed: ${detail}`, { cause: err });
  }
}

export async function ostreeInitArchive(repo: string): Promise<void> {
  await run(['init', '--mode=archive', `--repo=${repo}`], `ostree init of ${repo}`);
}

export interface CommitOptions {
  repo: string;
  branch: string;
  treeDir: string;
  timestamp: Date;
  subject?: string;
}

/** Commits a directory tree; owners are normalised to 0:0. Returns the commit checksum. */
export async function ostreeCommit(o: CommitOptions): Promise<string> {
  const args = [
    'commit',
    `--repo=${o.repo}`,
    `--branch=${o.branch}`,
    `--tree=dir=${o.treeDir}`,
    `--timestamp=${formatTufTime(o.timestamp)}`,
    '--owner-uid=0',
    '--owner-gid=0',
    // Records the commit's object sizes (ostree.sizes), which size the pull progress of create.
    '--generate-sizes',
  ];
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  const out = (await run(args, `ostree commit of ${o.treeDir}`)).trim();
  if (!/^[0-9a-f]{64}$/.test(out)) {
    throw new BundleError('OSTREE_FAILED', `ostree commit printed an unexpected checksum: ${out}`);
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = {
  bytes: 1,
  byte: 1,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
};

/**
 * The compressed size of a commit's content objects, from its `ostree.sizes` metadata
 * (`ostree show --print-sizes`, which prints sizes rounded like "90.1 MB"), or undefined
 * when the commit was made without `--generate-sizes`. An estimate, for progress only.
 */
export async function ostreeCommitSize(repo: string, commit: string): Promise<number | undefined> {
  let out: string;
  try {
    out = await run(
      ['show', `--repo=${repo}`, '--print-sizes', commit],
      `ostree show of ${commit}`,
    );
  } catch {
    return undefined;
  }
  const m = /^Compressed size \(needed\/total\): .*\/\s*([0-9.]+)\s*([A-Za-z]+)\s*$/m.exec(out);
  const unit = m === null ? undefined : SIZE_UNITS[m[2]];
  if (m === null || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/**
 * Sums the sizes of content objects (`.filez`) as they appear in a repo, in `objects/`
 * or in a pull's staging directories under `tmp/`. Each object is counted once.
 */
class ObjectWatcher {
  private readonly seen = new Set<string>();
  private bytes = 0;

  constructor(private readonly repo: string) {}

  async scan(): Promise<number> {
    const dirs: string[] = [join(this.repo, 'objects')];
    for (const t of await readdir(join(this.repo, 'tmp')).catch(() => [] as string[]))
      if (t.startsWith('staging-')) dirs.push(join(this.repo, 'tmp', t));
    for (const d of dirs) {
      for (const sub of await readdir(d).catch(() => [] as string[])) {
        if (sub.length !== 2) continue;
        for (const f of await readdir(join(d, sub)).catch(() => [] as string[])) {
          if (!f.endsWith('.filez') || this.seen.has(sub + f)) continue;
          const st = await stat(join(d, sub, f)).catch(() => undefined);
          if (st === undefined) continue;
          this.seen.add(sub + f);
          this.bytes += st.size;
        }
      }
    }
    return this.bytes;
  }
}

/**
 * Copies a commit and everything it references from a local repo. With `onBytes`, reports
 * the bytes of content objects that have arrived in `dstRepo` (new ones only) about every
 * `intervalMs` while ostree runs.
 */
export async function ostreePullLocal(
  dstRepo: string,
  srcRepo: string,
  commit: string,
  opts: { onBytes?: (done: number) => void; intervalMs?: number } = {},
): Promise<void> {
  const onBytes = opts.onBytes;
  if (onBytes === undefined) {
    await run(
      ['pull-local', `--repo=${dstRepo}`, srcRepo, commit],
      `ostree pull-local of ${commit} into ${dstRepo}`,
    );
    return;
  }
  const watcher = new ObjectWatcher(dstRepo);
  const base = await watcher.scan();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    watcher
      .scan()
      .then((b) => onBytes(b - base))
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, opts.intervalMs ?? 250);
  try {
    await run(
      ['pull-local', `--repo=${dstRepo}`, srcRepo, commit],
      `ostree pull-local of ${commit} into ${dstRepo}`,
    );
  } finally {
    clearInterval(timer);
  }
  onBytes((await watcher.scan()) - base);
}

export async function ostreeFsck(repo: string): Promise<void> {
  await run(['fsck', `--repo=${repo}`], `ostree fsck of ${repo}`);
}

/** True when the repo holds the commit object (reference §1.4: the `.commit` file). */
export async function ostreeHasCommit(repo: string, commit: string): Promise<boolean> {
  try {
    const st = await stat(join(repo, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`));
    return st.isFile();
  } catch {
    return false;
  }
}
