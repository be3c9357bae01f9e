import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ostreeRepoWithOneCommit } from '@offline-ota/testkit';
import { ostreeTool } from '../../src/lib/ports.js';

describe('ostreeTool.hasCommit', function () {
  this.timeout(30000);
  let dir: string;
  let repo: string;
  let commit: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'ostree-has-commit-'));
    ({ repo, commit } = await ostreeRepoWithOneCommit(dir));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is true for a complete commit (also through a spread copy of the port)', async function () {
    expect(await ostreeTool.hasCommit(repo, commit)).to.equal(true);
    expect(await { ...ostreeTool }.hasCommit(repo, commit)).to.equal(true);
  });

  it('is false while state/<commit>.commitpartial marks the commit partial', async function () {
    const marker = join(repo, 'state', `${commit}.commitpartial`);
    await writeFile(marker, '');
    try {
      expect(await ostreeTool.hasCommit(repo, commit)).to.equal(false);
    } finally {
      await rm(marker);
    }
  });
});
