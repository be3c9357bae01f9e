import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleHasCommit, openBundleSource } from '../../src/bundle-source.js';
import { ExecError } from '../../src/io/errors.js';
import {
  commitObjectPath,
  commitPartialPath,
  deploymentAtEndOf,
  deploymentPath,
  OstreeCli,
  ostreeObjectPath,
  parseAdminStatus,
  parseDeploymentPath,
  repoHasCommit,
} from '../../src/ostree.js';

const C = 'ab' + 'c'.repeat(62);

describe('ostree', () => {
  describe('facts', () => {
    it('places objects at objects/<2 hex>/<62 hex>.<type> and the partial marker in state/', () => {
      expect(ostreeObjectPath(C, 'filez')).to.equal(`objects/ab/${'c'.repeat(62)}.filez`);
      expect(commitObjectPath(C)).to.equal(`objects/ab/${'c'.repeat(62)}.commit`);
      expect(commitPartialPath(C)).to.equal(`state/${C}.commitpartial`);
    });

    it('splits deployment paths, exactly or at the end of an absolute path', () => {
      const p = deploymentPath('lmp', C, 1);
      expect(p).to.equal(`/ostree/deploy/lmp/deploy/${C}.1`);
      expect(parseDeploymentPath(p)).to.deep.equal({ os: 'lmp', commit: C, serial: 1 });
      expect(parseDeploymentPath('/sysroot' + p)).to.equal(null);
      expect(deploymentAtEndOf('/sysroot' + p)).to.deep.equal({ os: 'lmp', commit: C, serial: 1 });
      expect(deploymentAtEndOf(`/ostree/deploy/lmp/deploy/${C}.1/x`)).to.equal(null);
    });

    it('parses ostree admin status, pins included', () => {
      const out = `* lmp ${C}.1\n    Version: 2\n  lmp ${C}.0 (rollback)\n    Pinned: yes\n`;
      expect(parseAdminStatus(out)).to.deep.equal([
        { index: 0, os: 'lmp', commit: C, serial: 1, pinned: false },
        { index: 1, os: 'lmp', commit: C, serial: 0, pinned: true },
      ]);
    });
  });

  describe('has the commit (real ostree)', function () {
    this.timeout(30000);
    let dir: string;
    let repo: string;
    let commit: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ostree-facts-test-'));
      repo = join(dir, 'bundle', 'ostree_repo');
      await mkdir(join(dir, 'tree'));
      await mkdir(repo, { recursive: true });
      await writeFile(join(dir, 'tree', 'hello'), 'hello');
      await new OstreeCli().initRepo(repo, 'archive');
      commit = execFileSync(
        'ostree',
        ['commit', `--repo=${repo}`, '--branch=b', `--tree=dir=${join(dir, 'tree')}`],
        { encoding: 'utf8' },
      ).trim();
    });
    after(() => rm(dir, { recursive: true, force: true }));
    afterEach(() => rm(join(repo, commitPartialPath(commit)), { force: true }));

    it('counts a complete commit as present, in the repo and in a bundle directory', async () => {
      expect(await repoHasCommit(repo, commit)).to.equal(true);
      expect(await new OstreeCli().hasCommit(repo, commit)).to.equal(true);
      const source = await openBundleSource(join(dir, 'bundle'));
      expect(await bundleHasCommit(source, commit)).to.equal(true);
    });

    it('never counts a commit with a state/<commit>.commitpartial marker as present', async () => {
      await writeFile(join(repo, commitPartialPath(commit)), '');
      expect(await repoHasCommit(repo, commit)).to.equal(false);
      expect(await new OstreeCli().hasCommit(repo, commit)).to.equal(false);
      const source = await openBundleSource(join(dir, 'bundle'));
      expect(await bundleHasCommit(source, commit)).to.equal(false);
    });

    it('does not count a commit that is not there', async () => {
      expect(await repoHasCommit(repo, C)).to.equal(false);
    });
  });

  describe('OstreeCli', () => {
    it('hands a failed command with its operation to the failure mapper', async () => {
      const seen: unknown[] = [];
      const cli = new OstreeCli({
        failure: (op, err) => {
          seen.push(op, err.code, err.exitCode);
          return new Error(`mapped: ${err.stderr.trim()}`);
        },
      });
      let caught: unknown;
      await cli.initRepo('/nonexistent/dir/repo', 'archive').catch((e: unknown) => (caught = e));
      expect((caught as Error).message).to.match(/^mapped: /);
      expect(seen[0]).to.deep.equal({ op: 'init', repo: '/nonexistent/dir/repo', mode: 'archive' });
      expect(seen[1]).to.equal('FAILED');
      expect(seen[2]).to.not.equal(0);
    });

    it('reports a missing executable as NOT_FOUND', async () => {
      let caught: unknown;
      await new OstreeCli({ bin: '/nonexistent/ostree' })
        .pullLocal('r', 's', C, true)
        .catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(ExecError);
      expect((caught as ExecError).code).to.equal('NOT_FOUND');
    });
  });
});
