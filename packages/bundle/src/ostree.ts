import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
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
  ];
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  const out = (await run(args, `ostree commit of ${o.treeDir}`)).trim();
  if (!/^[0-9a-f]{64}$/.test(out)) {
    throw new BundleError('OSTREE_FAILED', `ostree commit printed an unexpected checksum: ${out}`);
  }
  return out;
}

/** Copies a commit and everything it references from a local repo. */
export async function ostreePullLocal(
  dstRepo: string,
  srcRepo: string,
  commit: string,
): Promise<void> {
  await run(
    ['pull-local', `--repo=${dstRepo}`, srcRepo, commit],
    `ostree pull-local of ${commit} into ${dstRepo}`,
  );
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
