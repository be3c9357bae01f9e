/**
 * A throw-away archive-mode OSTree repo holding one commit of one small file, made with
 * the real `ostree`, for tests of what counts as "has the commit".
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface OneCommitRepo {
  repo: string;
  commit: string;
}

/** Creates `<dir>/repo` with one commit on branch `b` of the tree `<dir>/tree`. */
export async function ostreeRepoWithOneCommit(dir: string): Promise<OneCommitRepo> {
  const repo = join(dir, 'repo');
  await mkdir(join(dir, 'tree'), { recursive: true });
  await writeFile(join(dir, 'tree', 'f'), 'f');
  execFileSync('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
  const commit = execFileSync(
    'ostree',
    ['commit', `--repo=${repo}`, '--branch=b', `--tree=dir=${join(dir, 'tree')}`],
    { encoding: 'utf8' },
  ).trim();
  return { repo, commit };
}
