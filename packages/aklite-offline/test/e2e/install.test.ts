import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { destroyDevice, deviceEngine } from '@offline-ota/device-sim';
import {
  aklite,
  cleanupAll,
  containers,
  imageOf,
  fwPrint,
  fwSet,
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

/** Asserts the device tree is bit-for-bit what it was (nothing excluded but the lock file). */
async function expectUntouched(root: string, before: Map<string, string>): Promise<void> {
  expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
}

describe('install', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  describe('when the bundle holds a newer Target', function () {
    it('exits 100, deploys the new commit as the default with /etc changes kept, and arms the bootloader', async function () {
      const root = await newDevice(fx);
      // A local configuration change in the booted deployment's /etc (the 3-way merge keeps it).
      const booted = (await simStatus(root)).booted;
      const etc = join(
        root,
        'sysroot/ostree/deploy/lmp/deploy',
        `${booted.commit}.${booted.serial}`,
        'etc',
      );
      await writeFile(join(etc, 'local.conf'), 'operator=alice\n');

      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(100);
      expect(r.stdout).to.match(/Reboot the device and run `aklite-offline run`/);
      const st = await simStatus(root);
      expect(st.deployments.map((d) => d.commit)).to.deep.equal([
        fx.commits[fx.t.v2],
        fx.commits[fx.t.v1],
      ]);
      expect(st.booted.commit).to.equal(fx.commits[fx.t.v1]);
      expect(st.env.upgrade_available).to.equal(1);
      expect(st.env.bootcount).to.equal(0);
      const state = await readState(root);
      expect(state?.pending?.target.name).to.equal(fx.t.v2);
      expect(state?.pending?.phase).to.equal('installed');
      expect(state?.current?.name).to.equal(fx.t.v1);
      expect(state?.deviceType).to.equal(undefined);
      const newEtc = join(
        root,
        'sysroot/ostree/deploy/lmp/deploy',
        `${fx.commits[fx.t.v2]}.0`,
        'etc',
      );
      expect(await readFile(join(newEtc, 'local.conf'), 'utf8')).to.equal('operator=alice\n');
      expect(await readdir(join(root, 'run/aktualizr-session'))).to.include('need_reboot');
      // The refreshed TUF metadata is stored only now that the install went ahead.
      expect(await readdir(join(root, 'var/sota/tuf/ci'))).to.include.members([
        'root.json',
        'timestamp.json',
        'targets.json',
      ]);

      await reboot(root);
      const run = await runCmd(root);
      expect(run.code, run.stderr).to.equal(0);
      const after = await simStatus(root);
      expect(after.booted.commit).to.equal(fx.commits[fx.t.v2]);
      // The new system starts its probation: upgrade_available stays 1 until it is good.
      expect(after.env.upgrade_available).to.equal(1);
      expect((await aklite(root, ['probation', 'mark-good'])).code).to.equal(0);
      expect((await simStatus(root)).env.upgrade_available).to.equal(0);
      expect(after.apps.running).to.deep.equal(['shellhttpd']);
      expect(after.currentTarget?.TARGET_NAME).to.equal(fx.t.v2);
      expect(after.currentTarget?.CUSTOM_VERSION).to.equal('2');
      expect(after.currentTarget?.TAG).to.equal('main');
      expect((await readState(root))?.current?.name).to.equal(fx.t.v2);
      const compose = await readFile(
        join(root, 'var/sota/compose-apps/shellhttpd/docker-compose.yml'),
        'utf8',
      );
      expect(compose).to.match(/@sha256:[0-9a-f]{64}/);
    });
  });

  describe('when the device already runs the Target', function () {
    it('exits 0 and leaves the device untouched', async function () {
      const root = await newDevice(fx, { target: fx.t.v2 });
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/already installed/);
      await expectUntouched(root, before);
    });
  });

  describe('when the bundle Target is older than the current one', function () {
    it('exits 102 and leaves the device untouched', async function () {
      const root = await newDevice(fx, { target: fx.t.v2 });
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v1);
      expect(r.code, r.stderr).to.equal(102);
      expect(r.stderr).to.match(/--force/);
      await expectUntouched(root, before);
    });

    it('with --force exits 100 and the downgrade completes after the reboot', async function () {
      const root = await newDevice(fx, { target: fx.t.v2 });
      const r = await install(root, fx.bundles.v1, ['--force']);
      expect(r.code, r.stderr).to.equal(100);
      await reboot(root);
      expect((await runCmd(root)).code).to.equal(0);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v1]);
    });
  });

  describe('when --target names a Target the bundle does not offer', function () {
    it('exits 20 and leaves the device untouched', async function () {
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2, ['--target', 'sim-x86-lmp-99']);
      expect(r.code, r.stderr).to.equal(20);
      expect(r.stderr).to.match(/sim-x86-lmp-99/);
      await expectUntouched(root, before);
    });

    it('installs the named Target when it is offered', async function () {
      const root = await newDevice(fx);
      const r = await install(root, fx.bundles.v2, ['--target', fx.t.v2]);
      expect(r.code, r.stderr).to.equal(100);
    });
  });

  describe('when an installation is pending', function () {
    it('exits 30 and changes nothing', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(30);
      expect(r.stderr).to.match(/reboot the device and run `aklite-offline run`/);
      await expectUntouched(root, before);
    });
  });

  describe('when a boot firmware update awaits its confirming reboot', function () {
    it('exits 90 and leaves the device untouched; after the reboot the install goes ahead', async function () {
      const root = await newDevice(fx);
      await fwSet(root, { bootupgrade_available: 1 });
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(90);
      await expectUntouched(root, before);
      await reboot(root); // U-Boot confirms the boot firmware
      expect(await fwPrint(root, 'bootupgrade_available')).to.equal('0');
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
    });
  });

  describe('when an app of the current Target is missing from the engine', function () {
    it('check exits 17, install from a bundle holding it exits 10, and run restores it (0)', async function () {
      const root = await newDevice(fx);
      await deviceEngine(root).down('shellhttpd');
      expect(await containers(root)).to.deep.equal([]);
      const c = await aklite(root, ['check', '--src-dir', fx.bundles.v1]);
      expect(c.code, c.stderr).to.equal(17);
      const i = await install(root, fx.bundles.v1);
      expect(i.code, i.stderr).to.equal(10);
      const r = await runCmd(root);
      expect(r.code, r.stderr).to.equal(0);
      expect((await containers(root)).map((x) => [x.state, x.log])).to.deep.equal([
        ['running', 'shellhttpd serving version 1'],
      ]);
      expect((await aklite(root, ['check', '--src-dir', fx.bundles.v1])).code).to.equal(0);
    });
  });

  describe('when only the apps change (same OSTree commit)', function () {
    it('exits 10 without deploying, and run starts the new apps without a reboot', async function () {
      const root = await newDevice(fx);
      const r = await install(root, fx.bundles.appsOnly);
      expect(r.code, r.stderr).to.equal(10);
      const st = await simStatus(root);
      expect(st.deployments).to.have.length(1);
      expect(st.env.upgrade_available).to.equal(0);
      const run = await runCmd(root);
      expect(run.code, run.stderr).to.equal(0);
      const after = await simStatus(root);
      expect(after.booted.commit).to.equal(fx.commits[fx.t.v1]);
      expect(after.apps.running).to.deep.equal(['shellhttpd']);
      // The containers were swapped in place: v2's app image, no reboot.
      const cs = await containers(root);
      expect(cs.map((c) => [c.state, c.image, c.log])).to.deep.equal([
        ['running', await imageOf(fx, fx.t.appsOnly), 'shellhttpd serving version 2'],
      ]);
      expect(after.currentTarget?.TARGET_NAME).to.equal(fx.t.appsOnly);
      const state = await readState(root);
      expect(state?.current?.name).to.equal(fx.t.appsOnly);
      expect(state?.pending).to.equal(null);
    });
  });

  describe('when the device type is unset', function () {
    it('takes the type of its first installed bundle and then refuses the other type with 15', async function () {
      const root = await newDevice(fx, { type: 'none' });
      const r = await install(root, fx.bundles.prod);
      expect(r.code, r.stderr).to.equal(100);
      expect((await readState(root))?.deviceType).to.equal('prod');
      await reboot(root);
      expect((await runCmd(root)).code).to.equal(0);
      expect((await aklite(root, ['probation', 'mark-good'])).code).to.equal(0);
      const before = await hashTree(root);
      const again = await install(root, fx.bundles.bootFw);
      expect(again.code, again.stderr).to.equal(15);
      expect(again.stderr).to.match(/type `ci` differs from the device type `prod`/);
      await expectUntouched(root, before);
    });
  });

  describe('when the sysroot filesystem would fill past the storage watermark', function () {
    let mnt: string;
    let root: string | undefined;
    before(async function () {
      mnt = join(fx.work, 'small-fs');
      await mkdir(mnt, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
    });
    after(async function () {
      // Its running container keeps the small file system busy until the device goes.
      if (root !== undefined) await destroyDevice(root);
      execFileSync('sh', [
        '-c',
        `chattr -R -i ${JSON.stringify(mnt)} 2>/dev/null; umount ${JSON.stringify(mnt)}`,
      ]);
    });

    it('exits 60 and leaves the device untouched', async function () {
      root = await newDevice(fx, { parent: join(mnt, 'devices') });
      // Fill the filesystem to about 85%, outside the device root.
      const { statfsSync } = await import('node:fs');
      const s = statfsSync(mnt);
      const fill = Math.floor(s.blocks * s.bsize * 0.85) - (s.blocks - s.bavail) * s.bsize;
      await writeFile(join(mnt, 'filler'), Buffer.alloc(Math.max(fill, 0)));
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(60);
      expect(r.stderr).to.match(/storage_watermark = 80%/);
      await expectUntouched(root, before);
      await rm(join(mnt, 'filler'));
    });
  });

  describe('when another instance holds the lock', function () {
    it('exits 1 with a clear message and leaves the device untouched', async function () {
      const root = await newDevice(fx);
      await writeFile(join(root, 'var/lock/aklite.lock'), `${process.pid}\n`);
      const before = await hashTree(root);
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/another aklite-offline instance \(pid \d+\) is running/);
      await expectUntouched(root, before);
      const run = await runCmd(root);
      expect(run.code).to.equal(1);
    });

    it('takes over a stale lock left by a dead process', async function () {
      const root = await newDevice(fx);
      await writeFile(join(root, 'var/lock/aklite.lock'), '4194303\n');
      const r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(100);
      expect(await readdir(join(root, 'var/lock'))).to.deep.equal([]);
    });
  });

  describe('when the configuration is given with --config', function () {
    it('reads only those files and refuses a config without a hardware id with 44 (a broken device file)', async function () {
      const root = await newDevice(fx);
      const cfg = join(fx.work, 'empty.toml');
      await writeFile(cfg, '[pacman]\ntags = "main"\n');
      const r = await aklite(root, ['install', '--src-dir', fx.bundles.v2, '--config', cfg]);
      // Issue 11 §4: a device file the CLI cannot use is 44, naming the file.
      expect(r.code).to.equal(44);
      expect(r.stderr).to.match(/primary_ecu_hardware_id is not set in .*empty\.toml/);
    });
  });
});
