import { expect } from 'chai';
import {
  cleanupAll,
  completeUpdate,
  cutPowerAt,
  getFixtures,
  newDevice,
  POWER_CUT_INSTALL_STEPS,
  readState,
  reboot,
  simStatus,
  type Fixtures,
} from './helpers.js';

/**
 * Power cuts at the named checkpoints of install, each followed by a reboot: the device
 * boots exactly the expected Target and the documented sequence completes the update.
 * (The checkpoints of install and of run are two files so that mocha's two workers share
 * them; scripts/power-cut-sweep.sh is the slower, wider sweep.)
 */
describe('a power cut during install', function () {
  let fx: Fixtures;
  let v1: string;
  let v2: string;
  before(async function () {
    fx = await getFixtures();
    v1 = fx.commits[fx.t.v1]!;
    v2 = fx.commits[fx.t.v2]!;
  });
  after(cleanupAll);

  for (const [step, boots] of POWER_CUT_INSTALL_STEPS) {
    describe(`during install at step ${step}`, function () {
      it(`leaves a device that boots the ${boots} Target, and a re-run completes the update`, async function () {
        const root = await newDevice(fx);
        await cutPowerAt(root, ['install', '--src-dir', fx.bundles.v2], step);
        await reboot(root);
        expect((await simStatus(root)).booted.commit).to.equal(boots === 'old' ? v1 : v2);
        await completeUpdate(root, fx.bundles.v2);
        const st = await simStatus(root);
        expect(st.booted.commit).to.equal(v2);
        expect(st.apps.running).to.deep.equal(['shellhttpd']);
        // The new system is on probation: U-Boot keeps counting its boots.
        expect(st.env.upgrade_available).to.equal(1);
        expect((await readState(root))?.current?.name).to.equal(fx.t.v2);
        // And it keeps booting the new Target.
        await reboot(root);
        expect((await simStatus(root)).booted.commit).to.equal(v2);
      });
    });
  }
});
