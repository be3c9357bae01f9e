/**
 * Issue 14 §6, "a reused pid blocks the lock", through the real device CLI: a lock left
 * by an earlier boot is taken over even while its pid belongs to a live, unrelated process
 * (pid 1 here); a lock of the current boot held by a live pid still blocks.
 */
import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { devicePaths } from '@offline-ota/format';
import {
  cleanupAll,
  getFixtures,
  hashTree,
  install,
  newDevice,
  reboot,
  runCmd,
  treeDiff,
  type Fixtures,
} from './helpers.js';

const OLD_BOOT = '00000000-0000-4000-8000-000000000001';

async function leaveLock(root: string, pid: number, bootId: string): Promise<void> {
  const file = devicePaths(root).lockFile;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${pid}\n${bootId}\n`);
}

const bootIdOf = async (root: string) => (await readFile(devicePaths(root).bootId, 'utf8')).trim();

describe('install and run with a lock file left behind', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  describe('when the lock is of an earlier boot and its pid is alive now', function () {
    it('install and run take it over and succeed', async function () {
      const root = await newDevice(fx);
      await leaveLock(root, 1, OLD_BOOT);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(100);
      const before = await bootIdOf(root);
      await reboot(root);
      expect(await bootIdOf(root)).to.not.equal(before);
      await leaveLock(root, 1, before);
      const run = await runCmd(root);
      expect(run.code, run.stderr).to.equal(0);
    });
  });

  describe('when the lock is of the current boot and its pid is alive', function () {
    it('install exits 1 naming the pid and leaves the device untouched', async function () {
      const root = await newDevice(fx);
      await leaveLock(root, 1, await bootIdOf(root));
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/another aklite-offline instance \(pid 1\)/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });
});
