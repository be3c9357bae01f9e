/**
 * A device file system that fills during install (issue 14 §1): each simulated device
 * lives on a small ext4 file system made by the test and loop-mounted, so a full disk is
 * real. `aklite-stop-at` stops install at a checkpoint, the test fills the file system
 * (as root: the reserved blocks too), and lets install go on. Every point must end with
 * exit 60 naming the file system, the device's records (trusted metadata, state,
 * deployments, U-Boot counters) as they were, and a re-run completing once space is free.
 */
import { spawn } from 'node:child_process';
import { open, mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { CheckpointName } from '../../src/lib/ports.js';
import {
  aklite,
  cleanupAll,
  destroyDevices,
  type Fixtures,
  getFixtures,
  hashTree,
  mustRun,
  newDevice,
  readState,
  REPO,
  runProc,
  simStatus,
  treeDiff,
} from './helpers.js';

const STOP_AT = join(REPO, 'packages/testkit/bin/aklite-stop-at.js');
const FS_SIZE = '64M';

/** Whether the process is stopped (SIGSTOP): `T` in /proc/<pid>/stat. */
async function isStopped(pid: number): Promise<boolean> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

/** Fills the file system holding `dir` with `dir/filler-*`, to the last block root may write. */
async function fill(dir: string): Promise<void> {
  const fs = await statfs(dir);
  // Most of it at once (fallocate needs a few blocks of its own for the extents)...
  const bulk = Math.floor(fs.bfree * fs.bsize * 0.9);
  if (bulk > 0) await mustRun('fallocate', ['-l', String(bulk), join(dir, 'filler-0')]);
  // ...then the rest, a chunk at a time, down to single blocks.
  const fh = await open(join(dir, 'filler-1'), 'a');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).to.equal('ENOSPC');
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function unfill(dir: string): Promise<void> {
  for (const n of ['filler-0', 'filler-1']) await rm(join(dir, n), { force: true });
}

/** Whether a process exists (a zombie of ours counts as gone). */
async function alive(pid: number): Promise<boolean> {
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return st !== undefined && !st.slice(st.lastIndexOf(')') + 2).startsWith('Z');
}

/**
 * `aklite-offline install --src-* <bundle>` stopped at `step`, the file system filled, then
 * continued: its exit code and output.
 */
async function installFillingAt(
  root: string,
  srcFlag: '--src-dir' | '--src-file',
  bundle: string,
  step: CheckpointName,
  fillDir: string,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    [STOP_AT, step, 'install', srcFlag, bundle, '--device-root', root],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let finished: number | null | undefined;
  void exited.then((c) => (finished = c));
  for (let i = 0; i < 2400 && !(await isStopped(child.pid!)); i++) {
    if (finished !== undefined)
      throw new Error(`install exited ${finished} before reaching ${step}:\n${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!(await isStopped(child.pid!))) {
    child.kill('SIGKILL');
    throw new Error(`install did not reach ${step}:\n${out}`);
  }
  try {
    await fill(fillDir);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  child.kill('SIGCONT');
  return { code: await exited, out };
}

/**
 * What install may change only when it succeeds: `var/sota` (trusted metadata, state; not
 * the content-addressed app store, not scratch space), the deployments and U-Boot's
 * counters.
 */
async function records(root: string): Promise<{ sota: Map<string, string>; sim: unknown }> {
  const sota = await hashTree(join(root, 'var/sota'));
  for (const k of [...sota.keys()]) if (k.startsWith('reset-apps')) sota.delete(k);
  const st = await simStatus(root);
  return {
    sota,
    sim: { booted: st.booted, deployments: st.deployments, env: st.env },
  };
}

describe('a device file system that fills during install (loop-mounted ext4)', function () {
  this.timeout(600_000);
  let fx: Fixtures;
  let image: string;
  let mnt: string;
  let mounted = false;
  let zip: string;

  before(async function () {
    fx = await getFixtures();
    image = join(fx.work, 'device-fs.img');
    mnt = join(fx.work, 'device-fs');
    await mkdir(mnt, { recursive: true });
    await mustRun('truncate', ['-s', FS_SIZE, image]);
    await mustRun('mkfs.ext4', ['-q', '-F', image]);
    await mustRun('mount', ['-o', 'loop', image, mnt]);
    mounted = true;
    zip = join(fx.work, 'v2-nospace.zip');
    await mustRun(process.execPath, [
      join(REPO, 'packages/bundle/bin/run.js'),
      'pack',
      fx.bundles.v2,
      zip,
    ]);
  });

  after(async function () {
    // Never leave a frozen file system behind, whatever a test did; then the devices on
    // the image go before it is unmounted (cleanupAll would be too late).
    if (mounted) await runProc('fsfreeze', ['--unfreeze', mnt]);
    try {
      await destroyDevices();
    } finally {
      if (mounted) {
        const r = await runProc('umount', [mnt]);
        if (r.code !== 0) await runProc('umount', ['-l', mnt]);
      }
      await rm(image, { force: true });
      await cleanupAll();
    }
  });

  afterEach(() => unfill(mnt));

  const points: [CheckpointName, '--src-dir' | '--src-file', string][] = [
    ['space-checked', '--src-dir', 'the verifying pull into the scratch repo'],
    ['space-checked', '--src-file', "the extraction of the Target's objects from the zip"],
    ['ostree-staged', '--src-dir', 'the copy of the app blobs'],
    ['apps-staged', '--src-dir', "the write into the sysroot's repo"],
    ['apps-copied', '--src-dir', 'the trusted metadata and state'],
    ['state-deploying', '--src-dir', 'the deploy'],
    ['deployed', '--src-dir', 'the boot counters and the final state'],
  ];
  // One device for every point, in order: a failed install leaves it as it was, so each
  // next attempt is the re-run after freeing space of the one before (it gets at least to
  // its own point), and the last test completes it. Devices and installs are the expensive
  // part; this keeps the file at one device and eight installs.
  let root: string;
  let initial: Awaited<ReturnType<typeof records>>;
  for (const [step, flag, what] of points) {
    it(`at ${step} (${flag}: ${what}): 60 naming the file system, records unchanged`, async function () {
      if (root === undefined) {
        root = await newDevice(fx, { parent: mnt });
        initial = await records(root);
      }
      const bundle = flag === '--src-dir' ? fx.bundles.v2 : zip;
      const r = await installFillingAt(root, flag, bundle, step, mnt);
      expect(r.code, r.out).to.equal(60);
      expect(r.out).to.include(`mounted at ${mnt}`);
      expect(r.out).to.match(/free space on that file system and run the install again/);
      const after = await records(root);
      expect(treeDiff(initial.sota, after.sota), 'var/sota').to.deep.equal([]);
      expect(after.sim).to.deep.equal(initial.sim);
      expect((await readState(root))?.pending ?? null).to.equal(null);
    });
  }

  it('completes on a re-run once space is free', async function () {
    expect(root, 'the device of the points above').to.not.equal(undefined);
    await unfill(mnt);
    const again = await aklite(root, ['install', '--src-file', zip]);
    expect(again.code, again.stderr).to.equal(100);
    expect((await readState(root))?.pending?.target.name).to.equal(fx.t.v2);
    expect((await simStatus(root)).deployments[0]?.commit).to.equal(fx.commits[fx.t.v2]);
  });

  it('a SIGKILL of the whole process group mid-deploy leaves the file system writable and the deploy whole (§6)', async function () {
    const dev = await newDevice(fx, { parent: mnt });
    // `ostree` through a shim that records the pid of `ostree admin deploy`, then execs
    // the real one (same pid, same process group as it was started in).
    const shim = join(fx.work, 'ostree-shim');
    const pidFile = join(shim, 'deploy.pid');
    await mkdir(shim, { recursive: true });
    await rm(pidFile, { force: true });
    const real = (await mustRun('sh', ['-c', 'command -v ostree'])).stdout.trim();
    await writeFile(
      join(shim, 'ostree'),
      `#!/bin/sh\ncase " $* " in *" deploy "*) echo $$ > '${pidFile}' ;; esac\nexec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    const child = spawn(
      process.execPath,
      [STOP_AT, 'state-deploying', 'install', '--src-dir', fx.bundles.v2, '--device-root', dev],
      {
        stdio: 'ignore',
        detached: true,
        env: { ...process.env, PATH: `${shim}:${process.env.PATH ?? ''}` },
      },
    );
    const exited = new Promise((res) => child.on('exit', res));
    for (let i = 0; i < 2400 && !(await isStopped(child.pid!)); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await isStopped(child.pid!), 'stopped before the deploy').to.equal(true);
    child.kill('SIGCONT');
    // Kill the group (install and whatever it runs in it) once `ostree admin deploy` runs.
    let deploying: number | undefined;
    for (let i = 0; i < 6000 && deploying === undefined; i++) {
      deploying = Number(await readFile(pidFile, 'utf8').catch(() => '')) || undefined;
      if (deploying === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    expect(deploying, 'ostree admin deploy started').to.not.equal(undefined);
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    // ostree, in its own process group, finishes the deploy and thaws the file system.
    for (let i = 0; i < 600 && (await alive(deploying!)); i++)
      await new Promise((r) => setTimeout(r, 100));
    const probe = await runProc('timeout', ['20', 'touch', join(mnt, 'probe')]);
    expect(probe.code, 'the file system accepts writes (not frozen)').to.equal(0);
    await rm(join(mnt, 'probe'), { force: true });
    expect((await simStatus(dev)).deployments[0]?.commit).to.equal(fx.commits[fx.t.v2]);
    // The next start completes the record: not rebooted yet, so run asks for the reboot.
    const r = await aklite(dev, ['run']);
    expect(r.code, r.stderr).to.equal(100);
    expect((await readState(dev))?.pending?.phase).to.equal('installed');
  });
});
