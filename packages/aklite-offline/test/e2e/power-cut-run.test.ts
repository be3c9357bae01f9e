import { expect } from 'chai';
import type { CheckpointName } from '../../src/lib/ports.js';
import {
  cleanupAll,
  completeUpdate,
  cutPowerAt,
  getFixtures,
  install,
  newDevice,
  POWER_CUT_RUN_STEPS,
  readState,
  reboot,
  runCmd,
  simStatus,
  type Fixtures,
} from './helpers.js';

/**
 * Power cuts at the named checkpoints of run and the app-failure rollback, each followed by a reboot: the device
 * boots exactly the expected Target and the documented sequence completes the update.
 * (The checkpoints of install and of run are two files so that mocha's two workers share
 * them; scripts/power-cut-sweep.sh is the slower, wider sweep.)
 */
/**
 * The app-failure rollback, on the failing system: it stays the default until the
 * rollback's deploy makes the old one the default again.
 */
const ROLLBACK_STEPS: [CheckpointName, 'failing' | 'old'][] = [
  ['rollback-recorded', 'failing'],
  ['rollback-deployed', 'old'],
];

describe('a power cut during run', function () {
  let fx: Fixtures;
  let v1: string;
  let v2: string;
  before(async function () {
    fx = await getFixtures();
    v1 = fx.commits[fx.t.v1]!;
    v2 = fx.commits[fx.t.v2]!;
  });
  after(cleanupAll);

  for (const step of POWER_CUT_RUN_STEPS) {
    describe(`during run at step ${step}`, function () {
      it('leaves a device that boots the new Target, and a re-run of run completes with 0', async function () {
        const root = await newDevice(fx);
        expect((await install(root, fx.bundles.v2)).code).to.equal(100);
        await reboot(root);
        await cutPowerAt(root, ['run'], step);
        await reboot(root);
        expect((await simStatus(root)).booted.commit).to.equal(v2);
        await completeUpdate(root, fx.bundles.v2);
        const st = await simStatus(root);
        expect(st.booted.commit).to.equal(v2);
        expect(st.apps.running).to.deep.equal(['shellhttpd']);
        expect(st.currentTarget?.TARGET_NAME).to.equal(fx.t.v2);
      });
    });
  }

  for (const [step, boots] of ROLLBACK_STEPS) {
    describe(`during an app-failure rollback at step ${step}`, function () {
      it(`leaves a device that boots the ${boots} Target, and reboot + run complete the rollback to the old Target`, async function () {
        const root = await newDevice(fx);
        expect((await install(root, fx.bundles.failing)).code).to.equal(100);
        await reboot(root);
        await cutPowerAt(root, ['run'], step);
        await reboot(root);
        const failing = fx.commits[fx.t.failing];
        expect((await simStatus(root)).booted.commit).to.equal(boots === 'old' ? v1 : failing);
        for (let i = 0; i < 3; i++) {
          const r = await runCmd(root);
          if (r.code === 0) break;
          expect(r.code, r.stderr).to.equal(100);
          await reboot(root);
        }
        const st = await simStatus(root);
        expect(st.booted.commit).to.equal(v1);
        expect(st.apps.running).to.deep.equal(['shellhttpd']);
        const state = await readState(root);
        expect(state?.current?.name).to.equal(fx.t.v1);
        expect(state?.pending).to.equal(null);
        expect(state?.failed.map((f) => f.name)).to.deep.equal([fx.t.failing]);
      });
    });
  }
});
