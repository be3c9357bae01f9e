import { expect } from 'chai';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpretConfig } from '../../src/lib/config.js';
import { AkliteError } from '../../src/lib/errors.js';
import { exitStatusOf } from '../../src/lib/exit-status.js';
import {
  commandArgv,
  isStray,
  pickBundle,
  scanStick,
  STRAY_NAMES,
  type StickContents,
} from '../../src/lib/usb.js';

/** The error `fn` throws. */
function thrown(fn: () => unknown): AkliteError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AkliteError);
    return err as AkliteError;
  }
  throw new Error('nothing was thrown');
}

describe('the USB trigger (usb.ts)', function () {
  let stick: string;
  beforeEach(async function () {
    stick = await mkdtemp(join(tmpdir(), 'aklite-stick-'));
  });
  afterEach(async function () {
    await rm(stick, { recursive: true, force: true });
  });

  const bundleDir = async (name: string): Promise<void> => {
    await mkdir(join(stick, name, 'tuf'), { recursive: true });
    await mkdir(join(stick, name, 'ostree_repo'), { recursive: true });
  };

  describe('isStray', function () {
    it('knows what macOS, Windows and Linux desktops leave on a stick, in any case', function () {
      for (const n of [
        ...STRAY_NAMES,
        '._bundle.zip',
        '._bundle',
        '.spotlight-v100',
        '.TRASHES',
        'SYSTEM VOLUME INFORMATION',
        '.Trash-1000',
      ])
        expect(isStray(n), n).to.equal(true);
      for (const n of ['bundle', 'bundle.zip', '.Trash-me', '_bundle', 'Trashes'])
        expect(isStray(n), n).to.equal(false);
    });
  });

  describe('scanStick', function () {
    it('finds bundle directories and single-file bundles, and ignores desktop leftovers', async function () {
      await bundleDir('bundle');
      await writeFile(join(stick, 'BUNDLE.ZIP'), 'zip');
      await writeFile(join(stick, 'secret.zip.gpg'), 'wrapped zip');
      await writeFile(join(stick, '._bundle.zip'), 'AppleDouble');
      await mkdir(join(stick, '.Spotlight-V100'));
      await mkdir(join(stick, 'System Volume Information'));
      await mkdir(join(stick, 'photos'));
      await writeFile(join(stick, 'notes.txt'), '');
      expect(await scanStick(stick)).to.deep.equal({
        bundles: [
          { name: 'BUNDLE.ZIP', path: join(stick, 'BUNDLE.ZIP'), kind: 'zip' },
          { name: 'bundle', path: join(stick, 'bundle'), kind: 'dir' },
          { name: 'secret.zip.gpg', path: join(stick, 'secret.zip.gpg'), kind: 'zip' },
        ],
        ignored: ['.Spotlight-V100', '._bundle.zip', 'System Volume Information'],
        other: ['notes.txt', 'photos'],
      });
    });

    it('takes the stick itself as the bundle when tuf/ is at its top level', async function () {
      await bundleDir('.');
      await mkdir(join(stick, 'apps'));
      await mkdir(join(stick, '.fseventsd'));
      expect(await scanStick(stick)).to.deep.equal({
        bundles: [{ name: '.', path: stick, kind: 'dir' }],
        ignored: ['.fseventsd'],
        other: [],
      });
    });

    it('never follows a symbolic link (to a bundle directory or a zip)', async function () {
      const elsewhere = await mkdtemp(join(tmpdir(), 'aklite-elsewhere-'));
      try {
        await mkdir(join(elsewhere, 'b/tuf'), { recursive: true });
        await writeFile(join(elsewhere, 'b.zip'), 'zip');
        await symlink(join(elsewhere, 'b'), join(stick, 'linked'));
        await symlink(join(elsewhere, 'b.zip'), join(stick, 'linked.zip'));
        const c = await scanStick(stick);
        expect(c.bundles).to.deep.equal([]);
        expect(c.other).to.deep.equal(['linked', 'linked.zip']);
      } finally {
        await rm(elsewhere, { recursive: true, force: true });
      }
    });

    it('refuses a stick it cannot read with DOWNLOAD_FAILED (50)', async function () {
      let caught: unknown;
      await scanStick(join(stick, 'gone')).catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(AkliteError);
      expect(exitStatusOf(caught)).to.equal(50);
    });
  });

  describe('pickBundle', function () {
    const contents = (c: Partial<StickContents>): StickContents => ({
      bundles: [],
      ignored: [],
      other: [],
      ...c,
    });

    it('gives the one bundle', function () {
      const b = { name: 'bundle.zip', path: '/m/bundle.zip', kind: 'zip' as const };
      expect(pickBundle(contents({ bundles: [b] }), '/dev/sda1')).to.equal(b);
    });

    it('refuses a stick without a bundle with 14, naming what it holds', function () {
      const err = thrown(() =>
        pickBundle(contents({ other: ['photos'], ignored: ['.Trashes'] }), '/dev/sda1'),
      );
      expect(err.code).to.equal('NO_BUNDLE');
      expect(exitStatusOf(err)).to.equal(14);
      expect(err.message).to.equal(
        'no bundle on the stick /dev/sda1: expected, at its top level, a directory holding tuf/ ' +
          '(e.g. bundle/), a .zip file, or tuf/, ostree_repo/ and apps/ themselves; found photos ' +
          '(ignored: .Trashes)',
      );
    });

    it('refuses two bundles with 1, naming both', function () {
      const err = thrown(() =>
        pickBundle(
          contents({
            bundles: [
              { name: 'bundle', path: '/m/bundle', kind: 'dir' },
              { name: 'v2.zip', path: '/m/v2.zip', kind: 'zip' },
            ],
          }),
          '/dev/sda1',
        ),
      );
      expect(err.code).to.equal('MANY_BUNDLES');
      expect(exitStatusOf(err)).to.equal(1);
      expect(err.message).to.equal(
        'the stick /dev/sda1 holds 2 bundles: bundle/ (a bundle directory); v2.zip (a single-file bundle); ' +
          'nothing was done: leave exactly one bundle at its top level and insert it again',
      );
    });
  });

  describe('commandArgv', function () {
    it('replaces {device} and {dir} inside each argument, never splitting one', function () {
      expect(
        commandArgv(['mount', '-o', 'ro', '--source={device}', '{dir}'], {
          device: '/dev/sda1',
          dir: '/run/a b',
        }),
      ).to.deep.equal(['mount', '-o', 'ro', '--source=/dev/sda1', '/run/a b']);
    });
  });

  describe('[usb] config', function () {
    const config = (usb: Record<string, unknown> | undefined) =>
      interpretConfig(
        { provision: { primary_ecu_hardware_id: 'board-a' }, ...(usb ? { usb } : {}) },
        ['x.toml'],
        '/dev-root',
      ).usb;

    it('defaults to check only, the kernel’s read-only mount, under /run', function () {
      expect(config(undefined)).to.deep.equal({
        autoInstall: false,
        mountCommand: ['mount', '-o', 'ro,nodev,nosuid,noexec', '{device}', '{dir}'],
        unmountCommand: ['umount', '{dir}'],
        mountDir: '/dev-root/run/aklite-offline/usb',
        lockWaitSeconds: 60,
      });
    });

    it('reads auto_install as a boolean or "true"/"false", and the commands and directory', function () {
      expect(
        config({
          auto_install: true,
          mount_command: 'fusefat -o ro {device} {dir}',
          unmount_command: 'fusermount -u {dir}',
          mount_dir: '/media/stick',
          lock_wait_seconds: 0,
        }),
      ).to.deep.equal({
        autoInstall: true,
        mountCommand: ['fusefat', '-o', 'ro', '{device}', '{dir}'],
        unmountCommand: ['fusermount', '-u', '{dir}'],
        mountDir: '/dev-root/media/stick',
        lockWaitSeconds: 0,
      });
      expect(config({ auto_install: 'false' }).autoInstall).to.equal(false);
    });

    for (const [key, value, why] of [
      ['auto_install', 'yes', 'must be true or false, got "yes"'],
      ['mount_command', 'mount {device} /mnt', 'must use {device} and {dir}'],
      ['unmount_command', '  ', 'must name a program'],
      ['lock_wait_seconds', -1, 'must be a whole number from 0 to 86400'],
      ['mount_dir', 'run/usb', 'must be an absolute directory other than / (no ..), got "run/usb"'],
      [
        'mount_dir',
        '/run/../etc',
        'must be an absolute directory other than / (no ..), got "/run/../etc"',
      ],
    ] as const) {
      it(`refuses [usb] ${key} = ${JSON.stringify(value)}`, function () {
        const err = thrown(() => config({ [key]: value }));
        expect(err.code).to.equal('CONFIG_INVALID');
        expect(err.message).to.equal(`config key [usb] ${key} ${why} (read from x.toml)`);
      });
    }
  });
});
