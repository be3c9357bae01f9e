/**
 * The power-cut sweep (issue 14 §3), a separate, slower job: `scripts/power-cut-sweep.sh`.
 * Not in the default test run (its files are outside `test/unit` and `test/e2e`); the main
 * suite keeps the named checkpoints of `test/e2e/power-cut-install.test.ts` and `power-cut-run.test.ts`.
 *
 * For every checkpoint of install (the trust store's swap steps included) and of run, from
 * a bundle directory and from a single-file bundle: SIGKILL there, reboot the simulated
 * device, assert the exact deployment it boots, then complete the update with the
 * documented commands and assert the device runs the new Target and keeps booting it. A
 * line per point goes to stdout (`SWEEP <point> ok|FAIL`), for the script's count.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { TRUST_SWAP_STEPS } from '@offline-ota/format';
import type { CheckpointName } from '../../src/lib/ports.js';
import {
  cleanupAll,
  cutPowerAt,
  getFixtures,
  install,
  completeUpdate,
  mustRun,
  POWER_CUT_INSTALL_STEPS,
  POWER_CUT_RUN_STEPS,
  newDevice,
  readState,
  reboot,
  REPO,
  simStatus,
  type Fixtures,
} from '../e2e/helpers.js';

/** Install's checkpoints in order, the trust store's swap steps included (before its commit). */
const INSTALL: [CheckpointName, 'old' | 'new'][] = POWER_CUT_INSTALL_STEPS.flatMap(
  ([step, boots]): [CheckpointName, 'old' | 'new'][] =>
    step === 'tuf-committed'
      ? [
          ...TRUST_SWAP_STEPS.filter((s) => s !== 'trust-legacy-moved').map(
            (s): [CheckpointName, 'old'] => [s, 'old'],
          ),
          [step, boots],
        ]
      : [[step, boots]],
);
const RUN: readonly CheckpointName[] = POWER_CUT_RUN_STEPS;

describe('power-cut sweep', function () {
  this.timeout(900_000);
  let fx: Fixtures;
  let v1: string;
  let v2: string;
  let zip: string;
  before(async function () {
    fx = await getFixtures();
    v1 = fx.commits[fx.t.v1]!;
    v2 = fx.commits[fx.t.v2]!;
    zip = join(fx.work, 'v2-sweep.zip');
    await mustRun(process.execPath, [
      join(REPO, 'packages/bundle/bin/run.js'),
      'pack',
      fx.bundles.v2,
      zip,
    ]);
  });
  after(cleanupAll);
  afterEach(function () {
    const t = this.currentTest;
    if (t) console.log(`SWEEP ${t.title} ${t.state === 'passed' ? 'ok' : 'FAIL'}`);
  });

  for (const src of ['--src-dir', '--src-file'] as const) {
    const bundle = () => (src === '--src-dir' ? fx.bundles.v2 : zip);
    for (const [step, boots] of INSTALL) {
      it(`install ${src} at ${step}: boots ${boots}, a re-run completes`, async function () {
        const root = await newDevice(fx);
        await cutPowerAt(root, ['install', src, bundle()], step);
        await reboot(root);
        expect((await simStatus(root)).booted.commit).to.equal(boots === 'old' ? v1 : v2);
        await completeUpdate(root, bundle(), src);
        const st = await simStatus(root);
        expect(st.booted.commit).to.equal(v2);
        expect(st.apps.running).to.deep.equal(['shellhttpd']);
        expect((await readState(root))?.current?.name).to.equal(fx.t.v2);
        await reboot(root);
        expect((await simStatus(root)).booted.commit).to.equal(v2);
      });
    }
  }
  for (const step of RUN) {
    it(`run at ${step}: boots new, run completes`, async function () {
      const root = await newDevice(fx);
      expect((await install(root, fx.bundles.v2)).code).to.equal(100);
      await reboot(root);
      await cutPowerAt(root, ['run'], step);
      await reboot(root);
      expect((await simStatus(root)).booted.commit).to.equal(v2);
      await completeUpdate(root, fx.bundles.v2);
      expect((await simStatus(root)).booted.commit).to.equal(v2);
      expect((await readState(root))?.current?.name).to.equal(fx.t.v2);
    });
  }
});
