/**
 * The host's OSTree: the shared port of `@offline-ota/format` (`OstreeCli`: the real
 * `ostree`, run with `LC_ALL=C`; `OSTREE_BIN` may point tests elsewhere) with failures
 * wrapped into `OSTREE_FAILED`, plus what only the host does: commit, read a commit's
 * sizes and objects, fsck, and count the bytes of a pull as they arrive.
 */
import { readFile } from 'node:fs/promises';
import {
  ExecError,
  execChecked,
  formatTufTime,
  OstreeCli,
  repoHasCommit,
  type OstreeOp,
} from '@offline-ota/format';
import { BundleError } from './errors.js';

/** What each operation was, as the host's messages say it. */
function described(op: OstreeOp): string {
  switch (op.op) {
    case 'init':
      return `ostree init of ${op.repo}`;
    case 'ls':
      return `ostree ls -R of ${op.commit} in ${op.repo}`;
    case 'pull-local':
      return `ostree pull-local of ${op.commit} into ${op.repo}`;
    case 'status':
      return `ostree admin status of ${op.sysroot}`;
    case 'deploy':
      return `ostree admin deploy of ${op.commit}`;
    case 'undeploy':
      return `ostree admin undeploy ${op.index}`;
    case 'other':
      return op.what;
  }
}

function failure(op: OstreeOp, err: ExecError): BundleError {
  const detail =
    err.code === 'NOT_FOUND'
      ? 'the ostree command was not found; install the ostree package'
      : err.stderr.trim() || err.message;
  return new BundleError('OSTREE_FAILED', `${described(op)} failed: ${detail}`, { cause: err });
}

/** The host's `ostree` (a new one per call: `OSTREE_BIN` is read when it runs). */
function ostree(): OstreeCli {
  return new OstreeCli({
    bin: process.env.OSTREE_BIN ?? 'ostree',
    env: { ...process.env, LC_ALL: 'C' },
    failure,
  });
}

async function run(args: string[], what: string): Promise<string> {
  return (await ostree().run(args, { op: 'other', args, what })).stdout;
}

export async function ostreeInitArchive(repo: string): Promise<void> {
  await ostree().initRepo(repo, 'archive');
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
 * Bytes a running process has written, from `/proc/<pid>/io` (Linux): the larger of what it
 * handed to write calls (`wchar`) and what it dirtied in the page cache (`write_bytes`,
 * which counts copies made inside the kernel too). Undefined where there is no such file.
 */
async function processBytesWritten(pid: number): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/io`, 'latin1');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return Math.max(field('wchar'), field('write_bytes'));
}

/**
 * Copies a commit and everything it references from a local repo. With `onBytes`, reports
 * about every `intervalMs` how many bytes the `ostree` process has written so far (one
 * read of its `/proc/<pid>/io`: nothing walks the repo while it fills). Within one file
 * system a trusted pull-local hardlinks objects and writes little; the caller reports the
 * commit's size once it is done.
 */
export async function ostreePullLocal(
  dstRepo: string,
  srcRepo: string,
  commit: string,
  opts: { onBytes?: (done: number) => void; intervalMs?: number } = {},
): Promise<void> {
  const onBytes = opts.onBytes;
  if (onBytes === undefined) {
    await ostree().pullLocal(dstRepo, srcRepo, commit, false);
    return;
  }
  const args = [`--repo=${dstRepo}`, 'pull-local', srcRepo, commit];
  const op: OstreeOp = { op: 'pull-local', repo: dstRepo, src: srcRepo, commit, untrusted: false };
  let pid: number | undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || pid === undefined) return;
    busy = true;
    processBytesWritten(pid)
      .then((b) => {
        if (b !== undefined) onBytes(b);
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, opts.intervalMs ?? 250);
  try {
    await execChecked(process.env.OSTREE_BIN ?? 'ostree', args, {
      env: { ...process.env, LC_ALL: 'C' },
      onSpawn: (p) => {
        pid = p;
      },
    });
  } catch (err) {
    throw err instanceof ExecError ? failure(op, err) : err;
  } finally {
    clearInterval(timer);
  }
}

export async function ostreeFsck(repo: string): Promise<void> {
  await run(['fsck', `--repo=${repo}`], `ostree fsck of ${repo}`);
}

/**
 * True when the repo holds the complete commit: its `.commit` object and no
 * `state/<commit>.commitpartial` marker (`repoHasCommit` of `@offline-ota/format`).
 */
export async function ostreeHasCommit(repo: string, commit: string): Promise<boolean> {
  try {
    return await repoHasCommit(repo, commit);
  } catch {
    return false;
  }
}
