import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { cp, lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TRUST_SWAP_STEPS } from '@offline-ota/format';
import {
  aklite,
  cleanupAll,
  cutPowerAt,
  getFixtures,
  install,
  newDevice,
  reboot,
  runCmd,
  type Fixtures,
} from './helpers.js';

const ROLES = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'];

/** The trusted ci metadata in force, read the way the check-in reads it (through `ci`). */
async function trusted(root: string): Promise<Record<string, string> | null> {
  const out: Record<string, string> = {};
  for (const f of ROLES) {
    try {
      out[f] = await readFile(join(root, 'var/sota/tuf/ci', f), 'utf8');
    } catch {
      return null;
    }
  }
  return out;
}

const versionOf = (json: string | undefined) =>
  (JSON.parse(json ?? '{}') as { signed?: { version?: number } }).signed?.version;

describe('the trusted TUF metadata store', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  /** A device that runs v2 and trusts the v2 bundle's metadata. */
  async function deviceOnV2(): Promise<{ root: string; v2Set: Record<string, string> }> {
    const root = await newDevice(fx);
    const r = await install(root, fx.bundles.v2);
    expect(r.code, r.stderr).to.equal(100);
    await reboot(root);
    const run = await runCmd(root);
    expect(run.code, run.stderr).to.equal(0);
    // End the probation of v2 so that the next install is accepted.
    const good = await aklite(root, ['probation', 'mark-good']);
    expect(good.code, good.stderr).to.equal(0);
    const v2Set = await trusted(root);
    expect(v2Set, 'v2 metadata in force').to.not.equal(null);
    return { root, v2Set: v2Set! };
  }

  const leftovers = async (root: string) =>
    (await readdir(join(root, 'var/sota/tuf'))).filter(
      (n) => n.startsWith('.work-') || n.includes('.old-') || n.includes('.link-'),
    );

  for (const step of TRUST_SWAP_STEPS.filter((s) => s !== 'trust-legacy-moved')) {
    describe(`after a power cut during install at ${step}`, function () {
      it('holds exactly the old or exactly the new metadata, never the shipped root, and the next command cleans up', async function () {
        const { root, v2Set } = await deviceOnV2();
        await cutPowerAt(root, ['install', '--src-dir', fx.bundles.appsOnly], step);
        await reboot(root);
        // Any locked command repairs the store first; check changes nothing else. Once the
        // newer set is in force, the v2 stick is older than it: 3, in words (issue 11 §3).
        const flipped =
          TRUST_SWAP_STEPS.indexOf(step) >= TRUST_SWAP_STEPS.indexOf('trust-link-flipped');
        const check = await aklite(root, ['check', '--src-dir', fx.bundles.v2]);
        expect(check.code, check.stderr).to.equal(flipped ? 3 : 0);
        if (flipped) expect(check.stderr).to.contain("is older than the device's");
        const got = await trusted(root);
        if (flipped) {
          expect(versionOf(got?.['timestamp.json'])).to.be.greaterThan(
            versionOf(v2Set['timestamp.json'])!,
          );
        } else {
          expect(got).to.deep.equal(v2Set);
        }
        expect(await leftovers(root)).to.deep.equal([]);
        expect((await lstat(join(root, 'var/sota/tuf/ci'))).isSymbolicLink()).to.equal(true);
      });
    });
  }

  describe('left by the two-rename swap of earlier releases, cut between its renames', function () {
    it('is recovered to the old metadata at start-up, and a bundle with older metadata cannot roll it back', async function () {
      const { root, v2Set } = await deviceOnV2();
      // Recreate what an earlier release left on disk: a plain `ci` directory moved to
      // `ci.old-*`, the refreshed working copy not yet renamed, and leaked working copies.
      const tuf = join(root, 'var/sota/tuf');
      const plain = join(tuf, `ci.old-${randomBytes(4).toString('hex')}`);
      await mkdir(plain);
      for (const f of ROLES) await cp(join(tuf, 'ci', f), join(plain, f));
      for (const n of await readdir(tuf))
        if (!n.startsWith('ci.old-')) await rm(join(tuf, n), { recursive: true });
      await mkdir(join(tuf, `.work-ci-${randomBytes(6).toString('hex')}`));
      const refreshed = join(tuf, `.work-ci-${randomBytes(6).toString('hex')}`);
      await mkdir(refreshed);
      await cp(join(root, 'usr/lib/sota/tuf/ci/1.root.json'), join(refreshed, 'root.json'));
      expect(await trusted(root)).to.equal(null);

      // The v1 bundle's timestamp and snapshot are older than the trusted v2 ones.
      const older = await readFile(join(fx.bundles.v1, 'tuf/timestamp.json'), 'utf8');
      expect(versionOf(older)).to.be.lessThan(versionOf(v2Set['timestamp.json'])!);
      // Issue 11 §3: the older stick is refused in words with 3 (was a silent 0).
      const check = await aklite(root, ['check', '--src-dir', fx.bundles.v1]);
      expect(check.code, check.stderr).to.equal(3);
      expect(check.stderr).to.match(
        /this stick's metadata \(timestamp v\d+, tuf\/timestamp\.json\) is older than the device's/,
      );
      expect(await trusted(root)).to.deep.equal(v2Set);
      expect(await leftovers(root)).to.deep.equal([]);
      expect((await lstat(join(tuf, 'ci'))).isSymbolicLink()).to.equal(true);
    });

    it('keeps a plain ci directory of an earlier release working (migrated in place)', async function () {
      const { root, v2Set } = await deviceOnV2();
      const tuf = join(root, 'var/sota/tuf');
      const plain = join(tuf, 'plain');
      await mkdir(plain);
      for (const f of ROLES) await cp(join(tuf, 'ci', f), join(plain, f));
      for (const n of await readdir(tuf))
        if (n !== 'plain') await rm(join(tuf, n), { recursive: true });
      await rename(plain, join(tuf, 'ci'));
      const check = await aklite(root, ['check', '--src-dir', fx.bundles.v2]);
      expect(check.code, check.stderr).to.equal(0);
      expect(await trusted(root)).to.deep.equal(v2Set);
      expect((await lstat(join(tuf, 'ci'))).isSymbolicLink()).to.equal(true);
    });
  });
});
