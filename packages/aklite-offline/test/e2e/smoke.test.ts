import { expect } from 'chai';
import { cleanupAll, getFixtures, install, newDevice, reboot, runCmd, simStatus } from './helpers.js';

describe('smoke', function () {
  after(cleanupAll);
  it('installs and runs', async function () {
    const t0 = Date.now();
    const fx = await getFixtures();
    console.log('fixtures', Date.now() - t0);
    const t1 = Date.now();
    const root = await newDevice(fx);
    console.log('device', Date.now() - t1, root);
    const r = await install(root, fx.bundles.v2);
    console.log(r);
    expect(r.code).to.equal(100);
    await reboot(root);
    const r2 = await runCmd(root);
    console.log(r2);
    console.log(await simStatus(root));
  });
});
