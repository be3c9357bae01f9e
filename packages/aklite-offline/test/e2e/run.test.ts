import { expect } from 'chai';
import {
  aklite,
  cleanupAll,
  containers,
  imageOf,
  fwPrint,
  getFixtures,
  hashTree,
  install,
  newDevice,
  readState,
  reboot,
  runCmd,
  simStatus,
  treeDiff,
  type Fixtures,
} from './helpers.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

describe('run', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  describe('when nothing is pending', function () {
    it('exits 40 and leaves the device untouched', async function () {
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(40);
      expect(r.stderr).to.match(/No pending installation/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when the device has not rebooted since the install', function () {
    it('exits 100 and keeps the installation pending', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(100);
      expect((await readState(root))?.pending?.target.name).to.equal(fx.t.v2);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v1]);
    });
  });

  describe('when the new commit does not boot and U-Boot falls back', function () {
    it('exits 99, marks the Target failed and makes the booted deployment the default again', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      await reboot(root, true);
      const mid = await simStatus(root);
      expect(mid.booted.commit).to.equal(fx.commits[fx.t.v1]);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(99);
      const st = await simStatus(root);
      expect(st.deployments.map((d) => d.commit)).to.deep.equal([fx.commits[fx.t.v1]]);
      expect(st.env.upgrade_available).to.equal(0);
      expect(st.apps.running).to.deep.equal(['shellhttpd']);
      const state = await readState(root);
      expect(state?.pending).to.equal(null);
      expect(state?.current?.name).to.equal(fx.t.v1);
      expect(state?.failed.map((f) => f.name)).to.deep.equal([fx.t.v2]);
      // The device still boots the old Target.
      await reboot(root);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v1]);
      // check --json marks the Target failed.
      const { aklite } = await import('./helpers.js');
      const check = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      const targets = JSON.parse(check.stdout) as { name: string; failed?: boolean }[];
      expect(targets.find((t) => t.name === fx.t.v2)?.failed).to.equal(true);
    });
  });

  describe('when the update succeeds', function () {
    it("stops and removes v1's container and runs v2's, all with no network (exits 0)", async function () {
      const root = await newDevice(fx);
      const v1 = await containers(root);
      expect(v1.map((c) => [c.state, c.image, c.log])).to.deep.equal([
        ['running', await imageOf(fx, fx.t.v1), 'shellhttpd serving version 1'],
      ]);
      // install loads v2's images before the reboot; v1's container keeps running.
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      expect((await containers(root)).map((c) => c.log)).to.deep.equal([
        'shellhttpd serving version 1',
      ]);
      await reboot(root);
      // aklite() runs the CLI, and so the engine it drives, where the network is unreachable.
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(0);
      const v2 = await containers(root);
      expect(v2.map((c) => [c.container, c.state, c.image, c.log])).to.deep.equal([
        [
          'shellhttpd_shellhttpd_1',
          'running',
          await imageOf(fx, fx.t.v2),
          'shellhttpd serving version 2',
        ],
      ]);
    });
  });

  describe("when the new Target's apps fail to start", function () {
    it('exits 100 after deploying the previous Target; the next reboot and run complete the rollback with 0', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.failing)).code).to.equal(100);
      await reboot(root);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.failing]);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(100);
      expect(r.stdout).to.match(/rolling back to sim-x86-lmp-1/);
      // The engine said why: the app, the service, its exit code and its last log lines.
      expect(r.stdout).to.match(/app shellhttpd: service shellhttpd exited with code 3/);
      expect(r.stdout).to.match(/shellhttpd: cannot start: no configuration/);
      const json = await aklite(root, ['status', '--json']);
      const failure = (
        JSON.parse(json.stdout) as { failed_targets: { app_failure?: Record<string, unknown> }[] }
      ).failed_targets[0]?.app_failure;
      expect(failure).to.deep.include({ app: 'shellhttpd', service: 'shellhttpd', exit_code: 3 });
      expect(failure?.log).to.match(/shellhttpd serving version 3\nshellhttpd: cannot start/);
      const mid = await readState(root);
      expect(mid?.failed.map((f) => f.name)).to.deep.equal([fx.t.failing]);
      expect(mid?.pending?.rollback).to.equal(true);
      expect((await simStatus(root)).deployments[0]?.commit).to.equal(fx.commits[fx.t.v1]);
      expect(await fwPrint(root, 'upgrade_available')).to.equal('1');

      await reboot(root);
      const done = await runCmd(root);
      expect(done.code, done.stderr).to.equal(0);
      const st = await simStatus(root);
      expect(st.booted.commit).to.equal(fx.commits[fx.t.v1]);
      expect(st.apps.running).to.deep.equal(['shellhttpd']);
      // After the reboot the v1 container runs again, from v1's image.
      const cs = await containers(root);
      expect(cs.map((c) => [c.container, c.state, c.image])).to.deep.equal([
        ['shellhttpd_shellhttpd_1', 'running', await imageOf(fx, fx.t.v1)],
      ]);
      expect(cs[0].log).to.equal('shellhttpd serving version 1');
      expect(st.env.upgrade_available).to.equal(0);
      expect(st.currentTarget?.TARGET_NAME).to.equal(fx.t.v1);
      const state = await readState(root);
      expect(state?.current?.name).to.equal(fx.t.v1);
      expect(state?.pending).to.equal(null);
    });

    it('exits 120 when there is no previous Target to roll back to', async function () {
      const root = await newDevice(fx);
      // A device without an install record: its current Target is unknown.
      await rm(join(root, 'var/sota/import/installed_versions'));
      expect((await install(root, fx.bundles.failing)).code).to.equal(100);
      await reboot(root);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(120);
      expect(r.stdout).to.match(/undefined state/);
      const state = await readState(root);
      expect(state?.pending).to.equal(null);
      expect(state?.failed.map((f) => f.name)).to.deep.equal([fx.t.failing]);
      const st = await simStatus(root);
      expect(st.booted.commit).to.equal(fx.commits[fx.t.failing]);
      expect(st.env.upgrade_available).to.equal(0);
    });
  });

  describe('when the Target brings new boot firmware', function () {
    it('exits 5 and asks U-Boot to confirm it (bootupgrade_available=1); the next install exits 90 until the reboot', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.bootFw)).code).to.equal(100);
      await reboot(root);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(5);
      expect(await fwPrint(root, 'bootupgrade_available')).to.equal('1');
      expect((await readState(root))?.bootFirmwareVersion).to.equal('2026.10');
      expect((await runCmd(root)).code).to.equal(40);
      const { aklite } = await import('./helpers.js');
      expect((await aklite(root, ['probation', 'mark-good'])).code).to.equal(0);
      const again = await install(root, fx.bundles.appsOnly, ['--force']);
      expect(again.code, again.stderr).to.equal(90);
      await reboot(root);
      expect(await fwPrint(root, 'bootupgrade_available')).to.equal('0');
    });
  });
});
