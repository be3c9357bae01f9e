import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { factoryPaths, parseRoot, verifyThreshold } from '@offline-ota/format';
import { BundleError } from '../../src/errors.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { parseTargetsDoc } from '../../src/tuf-repo.js';
import { readWave, wavesComplete, wavesInit } from '../../src/waves.js';
import { openFactory } from '../../src/factory.js';
import { fixedClock, tempDir } from '../helpers.js';

describe('waves', () => {
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  before(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    tf = await createTestFactory({ dir: t.dir, clock: fixedClock() });
  });
  after(async () => cleanup());

  const readTargets = async (path: string) =>
    parseTargetsDoc(JSON.parse(await readFile(path, 'utf8')), path);

  it('refuses to start a wave with fewer keys than the threshold', async () => {
    try {
      await wavesInit({
        factory: tf.factoryDir,
        wave: 'w0',
        target: tf.targets[1],
        tag: 'main',
        keys: [tf.offlineKeys.targets[0]],
      });
      expect.fail('expected a refusal');
    } catch (err) {
      expect((err as BundleError).code).to.equal('KEY_NOT_FOUND');
    }
  });

  it('signs the wave targets to threshold, then moves the Target into production on completion', async () => {
    const p = factoryPaths(tf.factoryDir);
    const root = parseRoot(
      JSON.parse(await readFile(p.root('prod', 1), 'utf8')),
      'prod root',
    ).signed;
    const init = await wavesInit({
      factory: tf.factoryDir,
      wave: 'w1',
      target: tf.targets[1],
      tag: 'main',
      keys: tf.offlineKeys.targets.slice(0, 2),
    });
    const wave = await readTargets(p.waveTargets('w1'));
    verifyThreshold(wave, root.keys, root.roles.targets, { strict: true, what: 'wave' });
    expect(Object.keys(wave.signed.targets)).to.deep.equal([tf.targets[1]]);
    const done = await wavesComplete({
      factory: tf.factoryDir,
      wave: 'w1',
      keys: tf.offlineKeys.targets.slice(1),
    });
    expect(done.targetsVersion).to.be.greaterThan(init.targetsVersion);
    const prod = await readTargets(p.tagTargets('prod', 'main'));
    verifyThreshold(prod, root.keys, root.roles.targets, { strict: true, what: 'prod' });
    expect((await readWave(await openFactory(tf.factoryDir), 'w1'))?.state).to.equal('complete');
  });

  it('refuses a Target that is not published for the tag', async () => {
    try {
      await wavesInit({
        factory: tf.factoryDir,
        wave: 'w2',
        target: tf.targets[0],
        tag: 'beta',
        keys: tf.offlineKeys.targets,
      });
      expect.fail('expected a refusal');
    } catch (err) {
      expect((err as BundleError).message).to.contain('is not published for tag beta');
    }
  });
});
