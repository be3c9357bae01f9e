/**
 * A stick pulled mid-install, and corrupt objects on it (issue 14 §2). The media is a FAT
 * image served by `fusefat` (as a USB stick's file system would be); install is stopped
 * by `aklite-stop-at` after its pre-flight, the FUSE daemon is killed (reads then fail with
 * ENOTCONN, as a pulled stick fails them with EIO or ENODEV), and install goes on. It must
 * exit 50 with words that say the media went away, leaving the device unchanged. Zeroed or
 * truncated objects on an intact stick are corrupt content: 70.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  aklite,
  cleanupAll,
  copyBundle,
  findFiles,
  getFixtures,
  hashTree,
  install,
  mustRun,
  newDevice,
  REPO,
  runProc,
  treeDiff,
  type Fixtures,
} from './helpers.js';

const STOP_AT = join(REPO, 'packages/testkit/bin/aklite-stop-at.js');

async function isStopped(pid: number): Promise<boolean> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

async function isMounted(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === dir);
}

/** Copies a tree onto FAT (which has no modes: fusefat refuses chmod, which cp does). */
async function copyToFat(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyToFat(join(from, e.name), join(to, e.name));
    else await writeFile(join(to, e.name), await readFile(join(from, e.name)));
  }
}

/** A FAT image holding `files` (copied in through a read-write FUSE mount). */
class FatStick {
  daemon: ChildProcess | undefined;
  constructor(
    readonly image: string,
    readonly mnt: string,
  ) {}

  static async create(image: string, mnt: string): Promise<FatStick> {
    await mustRun('truncate', ['-s', '64M', image]);
    await mustRun('mkfs.vfat', [image]);
    await mkdir(mnt, { recursive: true });
    return new FatStick(image, mnt);
  }

  async mount(mode: 'ro' | 'rw+'): Promise<void> {
    const d = spawn('fusefat', ['-f', '-o', mode, this.image, this.mnt], { stdio: 'ignore' });
    d.on('error', () => undefined);
    this.daemon = d;
    for (let i = 0; i < 400 && !(await isMounted(this.mnt)); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await isMounted(this.mnt), `fusefat mounted ${this.mnt}`).to.equal(true);
  }

  /** The stick pulled: the FUSE daemon dies, its mount stays and fails every read. */
  pull(): void {
    this.daemon?.kill('SIGKILL');
  }

  async unmount(): Promise<void> {
    if (await isMounted(this.mnt)) {
      const r = await runProc('umount', [this.mnt]);
      if (r.code !== 0) await runProc('umount', ['-l', this.mnt]);
    }
    const d = this.daemon;
    if (d !== undefined && d.exitCode === null && d.signalCode === null) {
      const gone = new Promise((r) => d.once('exit', r));
      d.kill('SIGKILL');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    }
    this.daemon = undefined;
  }
}

/**
 * `install <flag> <bundle>` stopped at `space-checked` (check-in and pre-flight done,
 * nothing written), the stick pulled, then continued.
 */
async function installPullingStick(
  root: string,
  flag: '--src-dir' | '--src-file',
  bundle: string,
  stick: FatStick,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    [STOP_AT, 'space-checked', 'install', flag, bundle, '--device-root', root],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let finished: number | null | undefined;
  void exited.then((c) => (finished = c));
  for (let i = 0; i < 2400 && !(await isStopped(child.pid!)); i++) {
    if (finished !== undefined) throw new Error(`install exited ${finished} early:\n${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!(await isStopped(child.pid!))) {
    child.kill('SIGKILL');
    throw new Error(`install did not reach space-checked:\n${out}`);
  }
  // What install read so far sits in the page cache, which outlives the daemon: drop it
  // (posix_fadvise DONTNEED), so later reads reach the dead daemon as a real stick's reach
  // its gone device. (fusefat's direct_io mode returns wrong data for reads ostree makes.)
  if (flag === '--src-file')
    await mustRun('dd', [`if=${bundle}`, 'iflag=nocache', 'count=0', 'status=none']);
  stick.pull();
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGCONT');
  return { code: await exited, out };
}

describe('a stick pulled mid-install (FUSE-mounted FAT image)', function () {
  this.timeout(600_000);
  let fx: Fixtures;
  let stick: FatStick;
  let zip: string;

  before(async function () {
    fx = await getFixtures();
    zip = join(fx.work, 'v2-media.zip');
    await mustRun(process.execPath, [
      join(REPO, 'packages/bundle/bin/run.js'),
      'pack',
      fx.bundles.v2,
      zip,
    ]);
    stick = await FatStick.create(join(fx.work, 'stick.img'), join(fx.work, 'stick'));
    await stick.mount('rw+');
    await copyToFat(fx.bundles.v2, join(stick.mnt, 'v2'));
    await writeFile(join(stick.mnt, 'v2.zip'), await readFile(zip));
    await stick.unmount();
  });

  after(async function () {
    await stick?.unmount();
    await rm(join(fx.work, 'stick.img'), { force: true });
    await cleanupAll();
  });

  afterEach(() => stick.unmount());

  for (const flag of ['--src-dir', '--src-file'] as const) {
    it(`${flag}: exits 50 saying the media went away, the device unchanged; a re-run with the stick back completes`, async function () {
      const root = await newDevice(fx);
      const before = await hashTree(root);
      await stick.mount('ro');
      const bundle = join(stick.mnt, flag === '--src-dir' ? 'v2' : 'v2.zip');
      const r = await installPullingStick(root, flag, bundle, stick);
      expect(r.code, r.out).to.equal(50);
      expect(r.out, r.out).to.match(/media went away|cannot be read/);
      expect(r.out).to.match(/check the media|reconnect it/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);

      await stick.unmount();
      await stick.mount('ro');
      const again =
        flag === '--src-dir'
          ? await install(root, bundle)
          : await aklite(root, ['install', '--src-file', bundle]);
      expect(again.code, again.stderr).to.equal(100);
    });
  }
});

describe('zeroed or truncated objects on an intact stick', function () {
  this.timeout(600_000);
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  const cases: [string, RegExp, (f: string) => Promise<void>][] = [
    [
      'a zeroed content object',
      /\.filez$/,
      async (f) => writeFile(f, Buffer.alloc((await readFile(f)).length)),
    ],
    [
      'a truncated content object',
      /\.filez$/,
      async (f) => truncate(f, Math.floor((await readFile(f)).length / 2)),
    ],
    [
      'a zeroed directory tree object',
      /\.dirtree$/,
      async (f) => writeFile(f, Buffer.alloc((await readFile(f)).length)),
    ],
  ];
  for (const [what, re, damage] of cases) {
    it(`${what}: exits 70 (corrupt), not 50, and the device is unchanged`, async function () {
      const bundle = await copyBundle(fx, fx.bundles.v2);
      const files = await findFiles(join(bundle, 'ostree_repo', 'objects'), re);
      // The largest: a real file of the rootfs, not an empty one.
      const sizes = await Promise.all(files.map(async (f) => (await readFile(f)).length));
      const victim = files[sizes.indexOf(Math.max(...sizes))];
      await damage(victim);
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await install(root, bundle);
      expect(r.code, r.stderr).to.equal(70);
      expect(r.stderr).to.match(/corrupt/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  }
});
