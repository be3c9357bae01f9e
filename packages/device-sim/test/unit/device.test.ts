import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { lstat, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { devicePaths } from '@offline-ota/format';
import {
  createDevice,
  deviceStatus,
  destroyDevice,
  rebootDevice,
  DeviceSimError,
} from '../../src/index.js';
import { makeSimFactory, type SimFactory } from '../helpers/factory.js';
import { caught, fwPrintenv, fwSetenv, scratch, simulateInstall } from '../helpers/device.js';

describe('device', function () {
  let work: Awaited<ReturnType<typeof scratch>>;
  let factory: SimFactory;
  let n = 0;
  const newRoot = () => join(work.dir, `dev${++n}`);

  before(async function () {
    work = await scratch('device');
    factory = await makeSimFactory({
      dir: join(work.dir, 'f'),
      apps: ['shellhttpd', 'web'],
    });
  });
  after(async function () {
    await work.cleanup();
  });

  describe('createDevice', function () {
    let root: string;
    before(async function () {
      root = newRoot();
      await createDevice({
        root,
        factory: factory.dir,
        target: factory.targets[0].name,
        tag: 'main',
      });
    });

    it('boots the device on the Target commit, named in /proc/cmdline', async function () {
      const cmdline = await readFile(join(root, 'proc/cmdline'), 'utf8');
      expect(cmdline.trim()).to.equal(
        `console=ttyS0 root=/dev/vda2 ostree=/ostree/deploy/lmp/deploy/${factory.targets[0].commit}.0`,
      );
      const status = await deviceStatus(root);
      expect(status.booted.commit).to.equal(factory.targets[0].commit);
      expect(status.deployments).to.have.length(1);
      expect(status.deployments[0].booted).to.equal(true);
      expect(status.currentTarget).to.equal(null);
    });

    it('initialises the U-Boot environment through fw_setenv', function () {
      expect(fwPrintenv(root)).to.include({
        bootcount: '0',
        bootlimit: '3',
        upgrade_available: '0',
        bootupgrade_available: '0',
        rollback: '0',
      });
    });

    it('ships every root of both chains', async function () {
      for (const type of ['ci', 'prod']) {
        const shipped = await readdir(join(root, 'usr/lib/sota/tuf', type));
        expect(shipped.sort()).to.deep.equal(
          (await readdir(join(factory.dir, 'tuf', type)))
            .filter((n) => n.endsWith('.root.json'))
            .sort(),
        );
        expect(shipped).to.include('1.root.json');
      }
    });

    it('writes the hardware id, sota.toml and the one-off installed_versions import', async function () {
      const hw = parseToml(
        await readFile(join(root, 'usr/lib/sota/conf.d/40-hardware-id.toml'), 'utf8'),
      );
      expect(hw).to.deep.equal({ provision: { primary_ecu_hardware_id: factory.hardwareId } });
      const sota = parseToml(await readFile(join(root, 'var/sota/sota.toml'), 'utf8'));
      expect(sota).to.deep.equal({
        provision: { device_type: 'ci' },
        pacman: {
          type: 'ostree+compose_apps',
          tags: 'main',
          reset_apps: '',
          container_engine: 'podman',
          podman_storage_root: '/var/lib/containers/storage',
          podman_run_root: '/run/containers/storage',
          podman_storage_driver: 'vfs',
          containers_conf: '/etc/containers/containers.conf',
        },
        bootloader: { rollback_mode: 'uboot_masked' },
      });
      const iv = JSON.parse(
        await readFile(join(root, 'var/sota/import/installed_versions'), 'utf8'),
      ) as Record<
        string,
        {
          is_current: boolean;
          hashes: { sha256: string };
          length: number;
          custom: { version: string };
        }
      >;
      expect(Object.keys(iv)).to.deep.equal([factory.targets[0].name]);
      const entry = iv[factory.targets[0].name];
      expect(entry.is_current).to.equal(true);
      expect(entry.hashes.sha256).to.equal(factory.targets[0].commit);
      expect(entry.custom.version).to.equal('1');
      expect(await caught(lstat(join(root, 'var/sota/state.json')))).to.have.property(
        'code',
        'ENOENT',
      );
    });

    it('preloads the apps into the store and its engine, and starts their containers', async function () {
      const status = await deviceStatus(root);
      expect(status.apps.running).to.deep.equal(['shellhttpd', 'web']);
      expect(status.containers.map((c) => [c.container, c.state, c.restartPolicy])).to.deep.equal([
        ['shellhttpd_shellhttpd_1', 'running', 'always'],
        ['web_web_1', 'running', 'always'],
      ]);
      const hex = factory.apps.shellhttpd;
      expect(
        await readFile(join(root, 'var/sota/reset-apps/apps/shellhttpd', hex, 'uri'), 'utf8'),
      ).to.equal(`registry.local/acme/shellhttpd@sha256:${hex}`);
      await lstat(join(root, 'var/sota/reset-apps/blobs/sha256', hex));
      for (const layer of factory.imageLayers)
        await lstat(join(root, 'var/sota/reset-apps/blobs/sha256', layer));
      await lstat(join(root, 'var/sota/compose-apps/web/docker-compose.yml'));
    });

    it('creates the empty lock and etc config directories, and run holds only the engine', async function () {
      for (const d of ['var/lock', 'etc/sota/conf.d'])
        expect(await readdir(join(root, d))).to.deep.equal([]);
      expect(await readdir(join(root, 'run'))).to.deep.equal(['containers']);
    });

    it('refuses a directory that is not empty', async function () {
      const err = await caught(
        createDevice({ root, factory: factory.dir, target: factory.targets[0].name }),
      );
      expect(err).to.be.instanceOf(DeviceSimError);
      expect((err as DeviceSimError).code).to.equal('DEVICE_NOT_EMPTY');
    });
  });

  describe('createDevice with --type none and no tag', function () {
    it('leaves device_type and tags out of sota.toml', async function () {
      const root = newRoot();
      await createDevice({
        root,
        factory: factory.dir,
        target: factory.targets[0].name,
        type: 'none',
      });
      const sota = parseToml(await readFile(join(root, 'var/sota/sota.toml'), 'utf8'));
      expect(sota).to.not.have.property('provision');
      expect(sota.pacman).to.not.have.property('tags');
    });
  });

  describe('createDevice for an unknown Target', function () {
    it('fails with FACTORY_INVALID naming the published Targets, and writes nothing', async function () {
      const root = newRoot();
      const err = await caught(createDevice({ root, factory: factory.dir, target: 'nope-1' }));
      expect((err as DeviceSimError).code).to.equal('FACTORY_INVALID');
      expect((err as Error).message).to.contain(factory.targets[1].name);
      expect(await caught(lstat(root))).to.have.property('code', 'ENOENT');
    });
  });

  describe('rebootDevice', function () {
    describe('when no upgrade is pending', function () {
      it('boots the default deployment without counting and empties run/', async function () {
        const root = newRoot();
        await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
        await mkdir(join(root, 'run/aktualizr-session'), { recursive: true });
        await writeFile(join(root, 'run/aktualizr-session/need_reboot'), '');
        const r = await rebootDevice(root);
        expect(r.booted.commit).to.equal(factory.targets[0].commit);
        expect(r.env.bootcount).to.equal(0);
        // Emptied: what is there now is the run state podman made again as the device's
        // containers started after the boot.
        expect(await readdir(join(root, 'run'))).to.deep.equal(['containers']);
        expect(await readFile(join(root, 'var/log/device-sim/boot.log'), 'utf8')).to.match(
          /reboot: booted /,
        );
      });

      it('refuses --fail-boot because U-Boot does not count boots', async function () {
        const root = newRoot();
        await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
        const err = await caught(rebootDevice(root, { failBoot: true }));
        expect((err as DeviceSimError).code).to.equal('BOOT_FAILED');
        expect((err as Error).message).to.contain(
          'the device would not come up: no upgrade is pending so U-Boot does not count boots',
        );
      });
    });

    describe('after an install of a second commit', function () {
      let root: string;
      beforeEach(async function () {
        root = newRoot();
        await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
        simulateInstall(root, factory.dir, factory.targets[1].commit);
      });

      it('boots the new deployment and bootcount is 1', async function () {
        const before = await deviceStatus(root);
        expect(before.deployments.map((d) => [d.commit, d.booted])).to.deep.equal([
          [factory.targets[1].commit, false],
          [factory.targets[0].commit, true],
        ]);
        const r = await rebootDevice(root);
        expect(r.booted).to.include({ index: 0, commit: factory.targets[1].commit });
        expect(r.rolledBack).to.equal(false);
        expect(fwPrintenv(root)).to.include({
          bootcount: '1',
          rollback: '0',
          upgrade_available: '1',
        });
        const after = await deviceStatus(root);
        expect(after.booted.commit).to.equal(factory.targets[1].commit);
        expect(after.deployments[0].booted).to.equal(true);
      });

      it('with --fail-boot and bootlimit 3 ends on the old deployment with bootcount 4 and rollback=1', async function () {
        const r = await rebootDevice(root, { failBoot: true });
        expect(r.attempts.map((a) => [a.bootcount, a.index, a.outcome])).to.deep.equal([
          [1, 0, 'failed'],
          [2, 0, 'failed'],
          [3, 0, 'failed'],
          [4, 1, 'booted'],
        ]);
        expect(r.rolledBack).to.equal(true);
        expect(r.booted.commit).to.equal(factory.targets[0].commit);
        expect(fwPrintenv(root)).to.include({ bootcount: '4', rollback: '1' });
        const s = await deviceStatus(root);
        expect(s.booted.commit).to.equal(factory.targets[0].commit);
        expect(s.deployments[1].booted).to.equal(true);
        expect(s.env).to.deep.equal({
          bootcount: 4,
          bootlimit: 3,
          upgrade_available: 1,
          bootupgrade_available: 0,
          rollback: 1,
        });
      });

      it('confirms new boot firmware by clearing bootupgrade_available', async function () {
        fwSetenv(root, 'bootupgrade_available', '1');
        await rebootDevice(root);
        expect(fwPrintenv(root)).to.include({ bootupgrade_available: '0' });
      });
    });
  });

  describe('deviceStatus', function () {
    it('parses var/sota/current-target as KEY=VALUE', async function () {
      const root = newRoot();
      await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
      await writeFile(devicePaths(root).currentTarget, 'TARGET_NAME="a-1"\nCUSTOM_VERSION="1"\n');
      expect((await deviceStatus(root)).currentTarget).to.deep.equal({
        TARGET_NAME: 'a-1',
        CUSTOM_VERSION: '1',
      });
    });
  });

  describe('deviceStatus when the booted deployment was removed from the sysroot', function () {
    it('still names it, with present false', async function () {
      const root = newRoot();
      await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
      simulateInstall(root, factory.dir, factory.targets[1].commit);
      execFileSync('ostree', ['admin', `--sysroot=${join(root, 'sysroot')}`, 'undeploy', '1'], {
        stdio: 'pipe',
      });
      const s = await deviceStatus(root);
      expect(s.booted).to.include({ commit: factory.targets[0].commit, present: false });
      expect(s.deployments.map((d) => [d.commit, d.booted])).to.deep.equal([
        [factory.targets[1].commit, false],
      ]);
    });
  });

  describe('destroyDevice', function () {
    it('removes a device whose deployments are immutable', async function () {
      const root = newRoot();
      await createDevice({ root, factory: factory.dir, target: factory.targets[0].name });
      await destroyDevice(root);
      expect(await caught(lstat(root))).to.have.property('code', 'ENOENT');
    });
  });
});
