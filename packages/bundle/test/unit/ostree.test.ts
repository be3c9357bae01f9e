import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ostreeHasCommit } from '../../src/ostree.js';

describe('ostreeHasCommit', function () {
  this.timeout(30000);
  let dir: string;
  let repo: string;
  let commit: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'ostree-has-commit-'));
    repo = join(dir, 'repo');
    await mkdir(join(dir, 'tree'));
    await writeFile(join(dir, 'tree', 'f'), 'f');
    execFileSync('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
    commit = execFileSync(
      'ostree',
      ['commit', `--repo=${repo}`, '--branch=b', `--tree=dir=${join(dir, 'tree')}`],
      { encoding: 'utf8' },
    ).trim();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is true for a complete commit', async function () {
    expect(await ostreeHasCommit(repo, commit)).to.equal(true);
  });

  it('is false while state/<commit>.commitpartial marks the commit partial', async function () {
    const marker = join(repo, 'state', `${commit}.commitpartial`);
    await writeFile(marker, '');
    try {
      expect(await ostreeHasCommit(repo, commit)).to.equal(false);
    } finally {
      await rm(marker);
    }
  });
});
