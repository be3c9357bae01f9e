/**
 * The USB trigger end to end: `aklite-offline usb <stick>` as a process, on FAT32 images
 * made here with `mkfs.vfat -C`, which the trigger's own mount step mounts read-only
 * through FUSE (`[usb] mount_command = "fusefat -o ro {device} {dir}"`: this kernel has no
 * vfat driver; a device's default is the kernel's `mount`). The devices are simulated ones
 * made from the committed test-bundles/factory, and the bundles are the committed good-ci
 * ones, so nothing is built here. Each image is written once (`fusefat -o rw+`) and only
 * read by the tests, which also check that the trigger never writes to the stick.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as v from 'valibot';
import { StatusCode } from '@offline-ota/format';
import { UsbJson } from '../../src/cli/json.js';
import {
  aklite,
  destroyDevices,
  hashTree,
  mustRun,
  readState,
  REPO,
  runProc,
  simDevice,
  STOP_AT,
  treeDiff,
} from './helpers.js';

const TEST_BUNDLES = join(REPO, 'test-bundles');
const FROM = 'sim-x86-lmp-1';
const TO = 'sim-x86-lmp-2';

const onPath = (cmd: string): boolean =>
  (process.env.PATH ?? '').split(delimiter).some((d) => existsSync(join(d, cmd)));
/** Debian's fuse ships `fusermount`, fuse3 `fusermount3`; fusefat works with either. */
const FUSERMOUNT = onPath('fusermount') ? 'fusermount' : 'fusermount3';

/** The mount points (octal escapes undone) of this machine's mounts under `dir`. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text
    .split('\n')
    .map((l) =>
      (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(parseInt(o, 8)),
      ),
    )
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/**
 * The mounts under a device root other than the container engine's own (a running
 * container's `userdata/shm` in the device's store): what the trigger may have left.
 */
async function triggerMounts(root: string): Promise<string[]> {
  const store = join(root, 'var/lib/containers');
  return (await mountsUnder(root)).filter((m) => !m.startsWith(`${store}/`));
}

/** The pids of processes whose whole argv is `argv`. */
async function pidsOf(argv: readonly string[]): Promise<number[]> {
  const want = argv.join('\0');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replace(/\0$/, '') === want) pids.push(Number(name));
  }
  return pids;
}

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** Whether the process is stopped (SIGSTOP): `T` in /proc/<pid>/stat. */
async function isStopped(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

/**
 * Copies a tree onto the FAT image as a person would (contents only: fusefat implements no
 * chmod or utimes, which `fs.cp` calls).
 */
async function copyTo(src: string, dst: string): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const e of await readdir(src, { withFileTypes: true })) {
    if (e.isDirectory()) await copyTo(join(src, e.name), join(dst, e.name));
    else await writeFile(join(dst, e.name), await readFile(join(src, e.name)));
  }
}

const parseUsb = (stdout: string): UsbJson => v.parse(UsbJson, JSON.parse(stdout));

describe('the USB trigger (aklite-offline usb) on a FAT32 stick', function () {
  this.timeout(180000);
  let work: string;
  let factory: string;
  /** The stick images, by what they hold. */
  const stick = { dir: '', zip: '', two: '' };

  /** A FAT32 image holding what `fill` writes into it (mounted read-write through FUSE). */
  async function makeStick(name: string, fill: (dir: string) => Promise<void>): Promise<string> {
    const img = join(work, `${name}.img`);
    const mnt = join(work, `fill-${name}`);
    await mustRun('mkfs.vfat', ['-F', '32', '-n', 'UPDATE', '-C', img, '40960']);
    await mkdir(mnt);
    await mustRun('fusefat', ['-o', 'rw+', img, mnt]);
    try {
      await fill(mnt);
    } finally {
      await mustRun(FUSERMOUNT, ['-u', mnt]);
    }
    return img;
  }

  /** The committed good-ci directory bundle, as `bundlectl create` writes it. */
  async function putBundleDir(dst: string): Promise<void> {
    await copyTo(join(TEST_BUNDLES, 'good-ci'), dst);
    // bundlectl's repo has an empty tmp/, which git does not keep: ostree reading a repo on
    // read-only media needs it (it cannot create it there).
    await mkdir(join(dst, 'ostree_repo/tmp'));
  }

  /** A fresh device booted on v1 with the trigger's FUSE mount step and `auto_install`. */
  async function newDevice(
    name: string,
    autoInstall?: boolean,
    usbKeys: string[] = [],
  ): Promise<string> {
    const root = join(work, 'devices', name);
    await simDevice(root, { factory, target: FROM, tag: 'main' });
    await writeFile(
      join(root, 'etc/sota/conf.d/90-usb.toml'),
      [
        '[usb]',
        'mount_command = "fusefat -o ro {device} {dir}"',
        `unmount_command = "${FUSERMOUNT} -u {dir}"`,
        ...(autoInstall === undefined ? [] : [`auto_install = ${autoInstall}`]),
        ...usbKeys,
        '',
      ].join('\n'),
    );
    return root;
  }

  before(async function () {
    work = await mkdtemp(join(tmpdir(), 'aklite-usb-'));
    factory = join(work, 'factory');
    await cp(join(TEST_BUNDLES, 'factory'), factory, { recursive: true });
    stick.dir = await makeStick('dir', async (d) => {
      await putBundleDir(join(d, 'bundle'));
      // What macOS, Windows and Linux desktops leave behind, at the top and in the bundle.
      for (const [path, text] of Object.entries({
        '._bundle': 'AppleDouble',
        '.DS_Store': 'Finder',
        '.Spotlight-V100/Store-V2/index': 'Spotlight',
        '.Trashes/501/old.zip': 'trash',
        '.fseventsd/fseventsd-uuid': 'events',
        'System Volume Information/IndexerVolumeGuid': 'Windows',
        'bundle/._tuf': 'AppleDouble',
        'bundle/tuf/._targets.json': 'AppleDouble',
        'notes.txt': 'not a bundle',
      })) {
        await mkdir(join(d, path, '..'), { recursive: true });
        await writeFile(join(d, path), text);
      }
    });
    stick.zip = await makeStick('zip', async (d) => {
      await writeFile(join(d, 'good-ci.zip'), await readFile(join(TEST_BUNDLES, 'good-ci.zip')));
      // macOS's AppleDouble twin: named like a second single-file bundle.
      await writeFile(join(d, '._good-ci.zip'), 'AppleDouble');
      await mkdir(join(d, '.Trashes'));
    });
    stick.two = await makeStick('two', async (d) => {
      await putBundleDir(join(d, 'bundle'));
      await writeFile(join(d, 'good-ci.zip'), await readFile(join(TEST_BUNDLES, 'good-ci.zip')));
    });
  });

  after(async function () {
    if (work === undefined) return;
    for (const m of (await mountsUnder(work)).reverse()) await runProc(FUSERMOUNT, ['-u', '-z', m]);
    await destroyDevices();
    if (process.env.AKLITE_TEST_KEEP !== '1') await rm(work, { recursive: true, force: true });
  });

  describe('with one bundle directory and the files desktop systems leave', function () {
    it('installs it with auto_install = true (100), ignores the leftovers, unmounts, and never writes to the stick', async function () {
      const root = await newDevice('dir-auto', true);
      const image = await sha256(stick.dir);
      const r = await aklite(root, ['usb', stick.dir, '--json']);
      expect(r.code, r.stderr).to.equal(StatusCode.InstallNeedsReboot);
      const out = parseUsb(r.stdout);
      expect(out.bundle).to.deep.equal({ name: 'bundle', kind: 'dir' });
      expect(out.ignored).to.deep.equal([
        '.DS_Store',
        '.Spotlight-V100',
        '.Trashes',
        '._bundle',
        '.fseventsd',
        'System Volume Information',
      ]);
      expect(out.check.status).to.equal(StatusCode.CheckinUpdateNewVersion);
      expect(out.install?.target).to.equal(TO);
      expect(out.unmounted).to.equal(true);
      expect((await readState(root))?.pending?.target.name).to.equal(TO);
      expect(await triggerMounts(root)).to.deep.equal([]);
      expect(await sha256(stick.dir), 'the image').to.equal(image);
    });
  });

  describe('with one single-file bundle and its AppleDouble twin (._good-ci.zip)', function () {
    it('waits for the lock, then only checks when auto_install is unset (16), naming the Target, and leaves the device unchanged', async function () {
      const root = await newDevice('zip-check');
      const before = await hashTree(root);
      // Another instance holds the lock (a live pid) and finishes while the trigger waits
      // ([usb] lock_wait_seconds, 60 by default); meanwhile nothing is mounted.
      const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
      await writeFile(join(root, 'var/lock/aklite.lock'), `${holder.pid}\n\n`);
      const run = aklite(root, ['usb', stick.zip, '--json']);
      await new Promise((res) => setTimeout(res, 2500));
      expect(await triggerMounts(root), 'mounted while waiting').to.deep.equal([]);
      holder.kill('SIGKILL');
      const r = await run;
      expect(r.code, r.stderr).to.equal(StatusCode.CheckinUpdateNewVersion);
      const out = parseUsb(r.stdout);
      expect(out.bundle).to.deep.equal({ name: 'good-ci.zip', kind: 'zip' });
      expect(out.ignored).to.deep.equal(['.Trashes', '._good-ci.zip']);
      expect(out.auto_install).to.equal(false);
      expect(out.install).to.equal(null);
      expect(out.check.targets.find((t) => t.selected === true)?.name).to.equal(TO);
      // The mount directories it made are gone again: the tree is byte for byte the same.
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      expect(await triggerMounts(root)).to.deep.equal([]);
    });
  });

  describe('with two bundles', function () {
    it('exits 1 naming both, leaves the device unchanged and unmounts', async function () {
      const root = await newDevice('two', true);
      const before = await hashTree(root);
      const r = await aklite(root, ['usb', stick.two]);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.UnknownError);
      expect(r.stderr).to.match(/holds 2 bundles: bundle\/ \(a bundle directory\); good-ci\.zip/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      expect(await triggerMounts(root)).to.deep.equal([]);
    });
  });

  describe('when something is left in the mount directory', function () {
    it('exits 44 (a device file in the way) and mounts nothing over it', async function () {
      const root = await newDevice('leftover', true);
      const leftover = join(root, 'run/aklite-offline/usb/bundle.zip');
      await mkdir(join(leftover, '..'), { recursive: true });
      await writeFile(leftover, 'left behind');
      const r = await aklite(root, ['usb', stick.zip]);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.DeviceFilesInvalid);
      expect(r.stderr).to.match(/\[usb\] mount_dir\) is not empty/);
      expect(await triggerMounts(root)).to.deep.equal([]);
      expect(await readFile(leftover, 'utf8')).to.equal('left behind');
      expect((await readState(root))?.pending ?? null, 'nothing installed').to.equal(null);
    });
  });

  describe('when the stick is pulled mid-install', function () {
    let stoppedChild: ChildProcess | undefined;
    // Never leave the install stopped when an assertion fails: mocha would wait for it forever.
    afterEach(function () {
      if (stoppedChild?.exitCode === null && stoppedChild.signalCode === null) {
        stoppedChild.kill('SIGKILL');
        stoppedChild.kill('SIGCONT');
      }
    });
    it('exits 50 with the device unchanged, refuses a second trigger meanwhile, and installs on the next insertion', async function () {
      const root = await newDevice('pulled', true, ['lock_wait_seconds = 0']);
      const before = await hashTree(root);
      // The real command, stopped once the check-in passed and space was checked: the
      // install is about to read the content from the stick.
      const child = spawn(
        process.execPath,
        [STOP_AT, 'space-checked', 'usb', stick.dir, '--device-root', root],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      stoppedChild = child;
      for (let i = 0; i < 1200 && !(await isStopped(child.pid!)); i++)
        await new Promise((res) => setTimeout(res, 25));
      expect(await isStopped(child.pid!), `stopped before installing:\n${output}`).to.equal(true);

      // Another stick (here: the same one again) while it runs, with no wait for the lock:
      // refused at once, nothing mounted.
      const mountDir = join(root, 'run/aklite-offline/usb');
      const second = await aklite(root, ['usb', stick.dir]);
      expect(second.code, second.stderr).to.equal(StatusCode.UnknownError);
      expect(second.stderr).to.match(/another aklite-offline instance \(pid \d+\) is running/);
      expect(await triggerMounts(root)).to.deep.equal([mountDir]);

      // Pull the stick: its FUSE driver dies, every read fails (ENOTCONN), as on a real pull.
      const fuse = await pidsOf(['fusefat', '-o', 'ro', stick.dir, mountDir]);
      expect(fuse, 'the stick mounted by the trigger').to.have.length(1);
      process.kill(fuse[0], 'SIGKILL');
      child.kill('SIGCONT');
      expect(await exited, output).to.equal(StatusCode.DownloadFailure);
      expect(output).to.match(/Unmounted/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      expect(await triggerMounts(root)).to.deep.equal([]);

      // Inserted again: the next trigger installs from the start.
      const again = await aklite(root, ['usb', stick.dir]);
      expect(again.code, again.stdout + again.stderr).to.equal(StatusCode.InstallNeedsReboot);
      expect((await readState(root))?.pending?.target.name).to.equal(TO);
    });
  });
});
