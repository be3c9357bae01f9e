/**
 * A device that runs by itself (issue 10 §2; docs/device-integration.md): the boot service
 * and the probation timer driven the way systemd runs them, from the shipped unit files
 * (their ExecStart and ConditionPathExists), across simulated reboots; and what install and
 * check say while an update is under way or after one failed.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  aklite,
  cleanupAll,
  fwPrint,
  getFixtures,
  install,
  newDevice,
  readState,
  reboot,
  REPO,
  runCmd,
  simStatus,
  type Fixtures,
  type Proc,
} from './helpers.js';

const UNITS = join(REPO, 'packages/aklite-offline/systemd');
const DAY = 86400;

/** `faketime` argument: the device clock `seconds` from now. */
const later = (seconds: number): string => `@${Math.floor(Date.now() / 1000) + seconds}`;

/** A shipped unit: the aklite-offline arguments of its ExecStart, and its ConditionPathExists. */
async function unit(name: string): Promise<{ args: string[]; condition: string | undefined }> {
  const text = await readFile(join(UNITS, name), 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/aklite-offline (.+)$/m.exec(text);
  if (!exec) throw new Error(`${name} has no ExecStart=/usr/bin/aklite-offline …`);
  const cond = /^ConditionPathExists=(\/.+)$/m.exec(text);
  return { args: exec[1].trim().split(/\s+/), condition: cond?.[1] };
}

interface Status {
  probation: { state: string; target: string | null; reboots: number };
  applied_target: { name: string } | null;
  last_good_target: { name: string } | null;
  failed_targets: { name: string }[];
  bootloader: Record<string, string | null>;
}

async function status(root: string): Promise<Status> {
  const r = await aklite(root, ['status', '--json']);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as Status;
}

/** `upgrade_available` and `bootcount`, as U-Boot reads them. */
const bootEnv = async (root: string): Promise<string[]> => [
  await fwPrint(root, 'upgrade_available'),
  await fwPrint(root, 'bootcount'),
];

describe('the device on its own', function () {
  let fx: Fixtures;
  let v2: string;
  let bootUnit: { args: string[] };
  let settleUnit: { args: string[]; condition: string | undefined };

  before(async function () {
    fx = await getFixtures();
    v2 = fx.commits[fx.t.v2]!;
    bootUnit = await unit('aklite-offline-boot.service');
    settleUnit = await unit('aklite-offline-probation.service');
  });
  after(cleanupAll);

  /** systemd at boot: aklite-offline-boot.service, once; it must succeed. */
  async function bootService(root: string, at?: string): Promise<Proc> {
    const r = await aklite(root, bootUnit.args, at === undefined ? {} : { faketime: at });
    expect(r.code, `boot service: ${r.stderr}`).to.equal(0);
    return r;
  }

  /**
   * One elapse of aklite-offline-probation.timer: systemd starts the service only when its
   * ConditionPathExists holds (under the device root here). Null when it was skipped.
   */
  async function timerTick(root: string, at: string): Promise<Proc | null> {
    expect(settleUnit.condition).to.be.a('string');
    if (!existsSync(join(root, settleUnit.condition!))) return null;
    const r = await aklite(root, settleUnit.args, { faketime: at });
    expect(r.code, `probation timer: ${r.stderr}`).to.equal(0);
    return r;
  }

  /** install v2, reboot, the boot service, `run` (0): v2 runs on probation. */
  async function v2OnProbation(toml?: string): Promise<string> {
    const root = await newDevice(fx, toml === undefined ? {} : { toml });
    expect((await install(root, fx.bundles.v2)).code).to.equal(100);
    await reboot(root);
    const b = await bootService(root);
    expect(b.stdout).to.match(/awaits its finalization: run `aklite-offline run`/);
    expect(await fwPrint(root, 'bootcount'), 'the boot that reached the service').to.equal('0');
    const r = await runCmd(root);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/probation period/);
    return root;
  }

  describe('install v2, run 0, then four ordinary reboots days apart with nobody typing', function () {
    it('ends with v2 good: the timer ends the probation in the first boot that lasts, and U-Boot stops counting', async function () {
      const root = await v2OnProbation();
      // The marker the timer's condition looks for is the one the probation keeps.
      expect(existsSync(join(root, settleUnit.condition!)), 'probation marker').to.equal(true);
      for (let i = 1; i <= 4; i++) {
        const t = i * 2 * DAY;
        await reboot(root);
        const b = await bootService(root, later(t));
        if (i === 1) expect(b.stdout).to.match(/starts over/);
        // Five minutes into the boot the period (1800 s) is not over; 35 minutes in it is.
        const early = await timerTick(root, later(t + 300));
        const late = await timerTick(root, later(t + 2100));
        if (i === 1) {
          expect(early?.stdout).to.match(/on probation/);
          expect(late?.stdout).to.match(/completed its probation period/);
        } else {
          expect([early, late], `reboot ${i}: the timer's service is skipped`).to.deep.equal([
            null,
            null,
          ]);
        }
        expect(await bootEnv(root), `reboot ${i}`).to.deep.equal(['0', '0']);
      }
      const st = await status(root);
      expect(st.applied_target?.name).to.equal(fx.t.v2);
      expect(st.probation.state).to.equal('good');
      expect(st.last_good_target?.name).to.equal(fx.t.v2);
      expect(st.failed_targets).to.deep.equal([]);
      expect((await simStatus(root)).booted.commit).to.equal(v2);
    });

    it('boots shorter than the period: the boot service keeps every boot that came up out of bootcount, and the period restarts each time', async function () {
      const root = await v2OnProbation();
      for (let i = 1; i <= 4; i++) {
        await reboot(root);
        // U-Boot counted this boot (bootlimit 3); without the boot service, the fourth
        // reboot would fall back to v1 (update-control.test.ts shows that).
        expect(await fwPrint(root, 'bootcount'), `reboot ${i}`).to.equal('1');
        await bootService(root);
        expect(await fwPrint(root, 'bootcount'), `reboot ${i}`).to.equal('0');
      }
      expect((await simStatus(root)).booted.commit).to.equal(v2);
      let st = await status(root);
      expect(st.probation).to.deep.include({ state: 'probation', reboots: 4 });
      expect(st.bootloader.upgrade_available).to.equal('1');
      // The boot that lasts: the timer ends it.
      expect((await timerTick(root, later(2100)))?.stdout).to.match(/now marked good/);
      st = await status(root);
      expect(st.probation.state).to.equal('good');
      expect(st.bootloader).to.deep.include({ upgrade_available: '0', bootcount: '0' });
    });
  });

  it('with [pacman] finalize_at_boot = true the boot service finalizes the installation as run does', async function () {
    const root = await newDevice(fx, { toml: '[pacman]\nfinalize_at_boot = true\n' });
    expect((await install(root, fx.bundles.v2)).code).to.equal(100);
    await reboot(root);
    const b = await bootService(root);
    expect(b.stdout).to.match(/Update to sim-x86-lmp-2 succeeded/);
    const st = await status(root);
    expect(st.applied_target?.name).to.equal(fx.t.v2);
    expect(st.probation).to.deep.include({ state: 'probation', target: fx.t.v2 });
    expect((await simStatus(root)).apps.running).to.deep.equal(['shellhttpd']);
    expect((await runCmd(root)).code).to.equal(40);
  });

  describe('install and check while an update is under way', function () {
    it('install of the running Target exits 0 during probation; check names what install would refuse, with its code', async function () {
      const root = await v2OnProbation();
      let r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/already installed/);
      // A newer Target: install would exit 42, and check says so instead of 16.
      r = await aklite(root, ['check', '--src-dir', fx.bundles.bootFw]);
      expect(r.code, r.stdout).to.equal(42);
      expect(r.stdout).to.match(
        /install would exit 42: Refused to install: sim-x86-lmp-2 is still in its probation period/,
      );
      r = await aklite(root, ['check', '--src-dir', fx.bundles.bootFw, '--json']);
      expect(r.code).to.equal(42);
      const targets = JSON.parse(r.stdout) as { name: string; selected?: true; reason?: string }[];
      expect(targets.filter((t) => t.selected)).to.deep.equal([]);
      expect(targets.find((t) => t.name === fx.t.bootFw)?.reason).to.match(/install would exit 42/);
      expect((await install(root, fx.bundles.bootFw)).code).to.equal(42);
    });

    it('check gives 30 while an installation is pending and 41 while a client defers', async function () {
      const root = await newDevice(fx);
      expect((await aklite(root, ['defer', '--client', 'ui'])).code).to.equal(0);
      let r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      expect(r.code, r.stderr).to.equal(41);
      const reasons = (JSON.parse(r.stdout) as { name: string; reason?: string }[])
        .filter((t) => t.reason !== undefined)
        .map((t) => [t.name, t.reason]);
      expect(reasons).to.have.length(1);
      expect(reasons[0][0]).to.equal(fx.t.v2);
      expect(reasons[0][1]).to.match(/install would exit 41: .*deferred by ui/);
      expect((await aklite(root, ['allow', '--client', 'ui'])).code).to.equal(0);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      r = await aklite(root, ['check', '--src-dir', fx.bundles.v2]);
      expect(r.code, r.stdout).to.equal(30);
      expect(r.stdout).to.match(
        /install would exit 30: the installation of sim-x86-lmp-2 awaits its finalization; reboot the device/,
      );
      expect((await install(root, fx.bundles.v2)).code).to.equal(30);
    });

    it('after a rollback check selects nothing and names the failure; install leaves it unless --target asks for it', async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      await reboot(root, true); // v2 never comes up: U-Boot falls back to v1
      expect((await runCmd(root)).code).to.equal(99);
      let r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const targets = JSON.parse(r.stdout) as {
        name: string;
        failed?: true;
        selected?: true;
        reason?: string;
      }[];
      expect(targets.filter((t) => t.selected)).to.deep.equal([]);
      const failed = targets.find((t) => t.name === fx.t.v2);
      expect(failed?.failed).to.equal(true);
      expect(failed?.reason).to.match(/failed on this device at .*did not boot/);
      r = await install(root, fx.bundles.v2);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(
        /Nothing to install: .*stays on sim-x86-lmp-1\. sim-x86-lmp-2 failed on this device at .*; to try it again: install --target sim-x86-lmp-2/,
      );
      expect((await readState(root))?.pending).to.equal(null);
      r = await install(root, fx.bundles.v2, ['--target', fx.t.v2]);
      expect(r.code, r.stderr).to.equal(100);
    });
  });
});
