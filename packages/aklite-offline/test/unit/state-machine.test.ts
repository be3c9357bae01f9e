import { expect } from 'chai';
import { join } from 'node:path';
import { StatusCode } from '@offline-ota/format';
import { boot } from '../../src/lib/boot.js';
import { defer, probation, rollback } from '../../src/lib/control.js';
import { AkliteError } from '../../src/lib/errors.js';
import { install } from '../../src/lib/install.js';
import { status } from '../../src/lib/query.js';
import { run } from '../../src/lib/run.js';
import { FakeDevice, factoryTarget, PowerCut, TEST_BUNDLES } from './fake-device.js';

const GOOD_CI = join(TEST_BUNDLES, 'good-ci');

/** The error code a library call fails with. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AkliteError) return err.code;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/**
 * True when the call died of the power cut (install wraps what fails while it writes the
 * update; a real cut leaves nothing to wrap).
 */
async function diesOfPowerCut(p: Promise<unknown>): Promise<boolean> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof PowerCut || (err instanceof Error && err.cause instanceof PowerCut);
}

describe('install, run and update control through the Ports seam (in-memory fakes)', function () {
  let v1: string;
  let v2: string;
  const devices: FakeDevice[] = [];
  const fake = async (o: Parameters<typeof FakeDevice.create>[0] = {}) => {
    const d = await FakeDevice.create(o);
    devices.push(d);
    return d;
  };
  before(async function () {
    v1 = (await factoryTarget('sim-x86-lmp-1')).commit;
    v2 = (await factoryTarget('sim-x86-lmp-2')).commit;
  });
  after(async function () {
    for (const d of devices.splice(0)) await d.remove();
  });

  /** Installs good-ci (v2), reboots into it and runs: v2 on probation. */
  async function onProbation(o: Parameters<typeof FakeDevice.create>[0] = {}) {
    const dev = await fake(o);
    expect((await install({ ...dev.options(), srcDir: GOOD_CI })).status).to.equal(100);
    await dev.reboot();
    expect((await run(dev.options())).status).to.equal(StatusCode.Ok);
    return dev;
  }

  describe('install then run', function () {
    it('deploys v2 (100), boots it, starts its apps and puts it on probation (0)', async function () {
      const dev = await fake();
      const res = await install({ ...dev.options(), srcDir: GOOD_CI });
      expect(res).to.include({ status: 100, target: 'sim-x86-lmp-2', from: 'sim-x86-lmp-1' });
      expect(dev.deployments.map((d) => d.commit)).to.deep.equal([v2, v1]);
      expect(dev.env.get('upgrade_available')).to.equal('1');
      expect(dev.sentinel.set).to.equal(true);
      expect((await dev.state()).pending).to.deep.include({ kind: 'ostree', phase: 'installed' });
      expect(dev.events).to.deep.equal([
        'check-for-update-pre',
        'check-for-update-post OK',
        'download-pre',
        'download-post OK',
        'install-pre',
        'install-post NEEDS_COMPLETION',
      ]);

      // Not rebooted yet: 100 again.
      expect((await run(dev.options())).status).to.equal(100);
      await dev.reboot();
      expect(dev.booted.commit).to.equal(v2);
      const done = await run(dev.options());
      expect(done).to.include({ status: 0, target: 'sim-x86-lmp-2', probation: true });
      expect(dev.up).to.deep.equal(['shellhttpd']);
      const st = await dev.state();
      expect(st.current?.name).to.equal('sim-x86-lmp-2');
      expect(st.pending).to.equal(null);
      expect(st.probation).to.include({ target: 'sim-x86-lmp-2', reboots: 0, locks: 0 });
      expect(dev.env.get('upgrade_available')).to.equal('1');
      expect(dev.events.slice(-2)).to.deep.equal(['install-final-pre', 'install-post OK']);
    });

    it('refuses a second install while one is pending, and any install while deferred', async function () {
      const dev = await fake();
      await install({ ...dev.options(), srcDir: GOOD_CI });
      expect(await codeOf(install({ ...dev.options(), srcDir: GOOD_CI }))).to.equal(
        'INSTALL_IN_PROGRESS',
      );
      const other = await fake();
      await defer({ ...other.options(), client: 'ui' });
      const before = await other.stateText();
      expect(await codeOf(install({ ...other.options(), srcDir: GOOD_CI }))).to.equal('DEFERRED');
      expect(await other.stateText()).to.equal(before);
      expect(other.events).to.deep.equal([]);
    });
  });

  describe('probation', function () {
    it('status is a pure read; probation settle counts the reboot and ends it by time', async function () {
      const dev = await onProbation();
      await dev.reboot();
      dev.advance(3600);
      const before = await dev.stateText();
      const st = await status(dev.options());
      expect(st.probation).to.include({ state: 'probation', reboots: 0 });
      expect((await probation({ ...dev.options(), action: 'status' })).probation.state).to.equal(
        'probation',
      );
      expect(await dev.stateText()).to.equal(before);
      expect(dev.probationMarker.set).to.equal(false);

      let r = await probation({ ...dev.options(), action: 'settle' });
      expect(r.probation).to.include({ state: 'probation', reboots: 1 });
      expect(dev.probationMarker.set).to.equal(true);
      dev.advance(1799);
      r = await probation({ ...dev.options(), action: 'settle' });
      expect(r.probation.state).to.equal('probation');
      dev.advance(1);
      r = await probation({ ...dev.options(), action: 'settle' });
      expect(r.probation.state).to.equal('good');
      expect(r.message).to.match(/now marked good/);
      expect(dev.env.get('upgrade_available')).to.equal('0');
      expect((await status(dev.options())).last_good_target?.name).to.equal('sim-x86-lmp-2');
    });

    it('installing the Target that runs is no change during probation: 0, already installed (issue 10; a newer Target is 42, test/e2e/boot.test.ts)', async function () {
      const dev = await onProbation();
      const r = await install({ ...dev.options(), srcDir: GOOD_CI });
      expect(r.status).to.equal(0);
      expect(r.message).to.match(/sim-x86-lmp-2 is already installed/);
      expect((await dev.state()).probation?.target).to.equal('sim-x86-lmp-2');
    });

    it('lands on the last good system when U-Boot falls back after too many reboots', async function () {
      const dev = await onProbation();
      for (let i = 1; i <= 3; i++) {
        await dev.reboot();
        expect(dev.booted.commit).to.equal(v2);
        expect(
          (await probation({ ...dev.options(), action: 'settle' })).probation.reboots,
        ).to.equal(i);
      }
      await dev.reboot();
      expect(dev.booted.commit).to.equal(v1);
      // status only reads: the fall back is still to be finished.
      expect((await status(dev.options())).applied_target?.name).to.equal('sim-x86-lmp-2');
      const r = await probation({ ...dev.options(), action: 'settle' });
      expect(r.message).to.match(
        /did not complete its probation: the device is back on sim-x86-lmp-1/,
      );
      const st = await dev.state();
      expect(st.current?.name).to.equal('sim-x86-lmp-1');
      expect(st.probation).to.equal(null);
      expect(st.failed.map((f) => f.name)).to.deep.equal(['sim-x86-lmp-2']);
      expect(dev.deployments.map((d) => d.commit)).to.deep.equal([v1]);
      expect(dev.env.get('upgrade_available')).to.equal('0');
    });

    it('fail rolls back to the last good Target (100); reboot and run complete it (0)', async function () {
      const dev = await onProbation();
      const r = await probation({ ...dev.options(), action: 'fail' });
      expect(r.status).to.equal(100);
      expect(dev.deployments[0].commit).to.equal(v1);
      await dev.reboot();
      expect((await run(dev.options())).status).to.equal(0);
      const st = await dev.state();
      expect(st.current?.name).to.equal('sim-x86-lmp-1');
      expect(st.failed.map((f) => f.name)).to.deep.equal(['sim-x86-lmp-2']);
    });
  });

  describe('boot (the boot service)', function () {
    it('sets bootcount back to 0 on every boot that comes up, so reboots during probation never fall back', async function () {
      const dev = await onProbation();
      for (let i = 1; i <= 5; i++) {
        await dev.reboot();
        expect(dev.env.get('bootcount'), `reboot ${i}`).to.equal('1');
        const r = await boot(dev.options());
        expect(r.steps.join('\n')).to.match(/period starts over/);
        expect(dev.env.get('bootcount'), `reboot ${i}`).to.equal('0');
        expect(dev.booted.commit).to.equal(v2);
        expect(r.probation).to.include({ state: 'probation', reboots: i });
      }
      dev.advance(1800);
      const r = await probation({ ...dev.options(), action: 'settle' });
      expect(r.probation.state).to.equal('good');
      expect(dev.env.get('upgrade_available')).to.equal('0');
    });

    it('leaves a pending installation to run by default, and finalizes it with finalize_at_boot', async function () {
      for (const auto of [false, true]) {
        const dev = await fake(auto ? { pacman: ['finalize_at_boot = true'] } : {});
        expect((await install({ ...dev.options(), srcDir: GOOD_CI })).status).to.equal(100);
        await dev.reboot();
        const r = await boot(dev.options());
        expect(dev.env.get('bootcount')).to.equal('0');
        const st = await dev.state();
        if (auto) {
          expect(r.run?.status).to.equal(0);
          expect(st.current?.name).to.equal('sim-x86-lmp-2');
          expect(st.probation?.target).to.equal('sim-x86-lmp-2');
          expect(await codeOf(run(dev.options()))).to.equal('NO_PENDING');
        } else {
          expect(r.run).to.equal(null);
          expect(r.steps.join('\n')).to.match(/awaits its finalization: run `aklite-offline run`/);
          expect(st.pending?.target.name).to.equal('sim-x86-lmp-2');
          expect((await run(dev.options())).status).to.equal(0);
        }
      }
    });

    it("finishes U-Boot's fall back when the system on probation never came up", async function () {
      const dev = await onProbation();
      for (let i = 0; i < 4; i++) await dev.reboot(); // boots that never reach the service
      expect(dev.booted.commit).to.equal(v1);
      const r = await boot(dev.options());
      expect(r.steps.join('\n')).to.match(/did not complete its probation/);
      expect((await dev.state()).failed.map((f) => f.name)).to.deep.equal(['sim-x86-lmp-2']);
      expect(dev.env.get('upgrade_available')).to.equal('0');
    });
  });

  describe('when the new apps fail to start', function () {
    it('deploys the previous Target (100); reboot and run complete the rollback (0)', async function () {
      const dev = await fake();
      await install({ ...dev.options(), srcDir: GOOD_CI });
      await dev.reboot();
      dev.failingApps.add('shellhttpd');
      const r = await run(dev.options());
      expect(r.status).to.equal(StatusCode.InstallNeedsReboot);
      expect(dev.events.at(-1)).to.match(/^install-post FAILED: /);
      expect(dev.deployments[0].commit).to.equal(v1);
      dev.failingApps.clear();
      await dev.reboot();
      expect((await run(dev.options())).status).to.equal(0);
      const st = await dev.state();
      expect(st.current?.name).to.equal('sim-x86-lmp-1');
      expect(st.failed.map((f) => f.name)).to.deep.equal(['sim-x86-lmp-2']);
    });
  });

  describe('rollback', function () {
    it('cancels a pending installation: undeploys it and marks it failed (0)', async function () {
      const dev = await fake();
      await install({ ...dev.options(), srcDir: GOOD_CI });
      const r = await rollback(dev.options());
      expect(r.status).to.equal(0);
      expect(dev.deployments.map((d) => d.commit)).to.deep.equal([v1]);
      expect(dev.env.get('upgrade_available')).to.equal('0');
      expect((await dev.state()).failed.map((f) => f.name)).to.deep.equal(['sim-x86-lmp-2']);
    });
  });

  describe('a power cut (checkpoint port)', function () {
    /** After a cut at each install step: what the device boots, and how the update ends. */
    const CASES = [
      ['space-checked', 'old'],
      ['ostree-pulled', 'old'],
      ['tuf-committed', 'old'],
      ['state-deploying', 'old'],
      ['deployed', 'new'],
      ['bootenv-set', 'new'],
      ['installed', 'new'],
    ] as const;
    for (const [step, boots] of CASES) {
      it(`during install at ${step}: boots the ${boots} Target, and the documented re-runs complete the update`, async function () {
        const dev = await fake();
        dev.cutAt = step;
        expect(await diesOfPowerCut(install({ ...dev.options(), srcDir: GOOD_CI }))).to.equal(true);
        dev.cutAt = undefined;
        await dev.reboot();
        expect(dev.booted.commit).to.equal(boots === 'old' ? v1 : v2);
        if (boots === 'old') {
          // Nothing to finalize; installing again goes through.
          expect(await codeOf(run(dev.options()))).to.equal('NO_PENDING');
          expect((await install({ ...dev.options(), srcDir: GOOD_CI })).status).to.equal(100);
          await dev.reboot();
        }
        expect((await run(dev.options())).status).to.equal(0);
        expect(dev.booted.commit).to.equal(v2);
        expect((await dev.state()).current?.name).to.equal('sim-x86-lmp-2');
      });
    }

    for (const step of [
      'apps-extracted',
      'apps-started',
      'bootenv-cleared',
      'state-current',
    ] as const) {
      it(`during run at ${step}: boots the new Target, and run again completes with 0`, async function () {
        const dev = await fake();
        await install({ ...dev.options(), srcDir: GOOD_CI });
        await dev.reboot();
        dev.cutAt = step;
        expect(await diesOfPowerCut(run(dev.options()))).to.equal(true);
        dev.cutAt = undefined;
        await dev.reboot();
        expect(dev.booted.commit).to.equal(v2);
        const r = await run(dev.options()).catch((e: unknown) => e);
        if (step === 'state-current') {
          // The state write was the commit point: the update was complete before the cut.
          expect(r).to.be.instanceOf(AkliteError);
          expect((r as AkliteError).code).to.equal('NO_PENDING');
        } else expect(r).to.include({ status: 0 });
        expect((await dev.state()).current?.name).to.equal('sim-x86-lmp-2');
      });
    }
  });
});
