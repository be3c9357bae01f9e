import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBundle } from '../../src/create.js';
import { BundleError } from '../../src/errors.js';
import { readKeyArchive, writeKeyArchive } from '../../src/key-archive.js';
import { showBundle, signBundle, verifyBundle } from '../../src/inspect.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { wavesComplete, wavesInit } from '../../src/waves.js';
import { tempDir } from '../helpers.js';

describe('sign, show and verify', function () {
  this.timeout(60000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  let bundle: string;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    tf = await createTestFactory({ dir, versions: [1] });
    const keys = tf.offlineKeys.targets.slice(0, 2);
    await wavesInit({
      factory: tf.factoryDir,
      wave: 'w',
      target: tf.targets[0],
      tag: 'main',
      keys,
    });
    await wavesComplete({ factory: tf.factoryDir, wave: 'w', keys });
    bundle = join(dir, 'bundle');
    await createBundle({
      factory: tf.factoryDir,
      target: tf.targets[0],
      dst: bundle,
      tag: 'main',
      prod: true,
    });
  });
  afterEach(async () => cleanup());

  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      return (err as BundleError).code;
    }
    throw new Error('expected a failure');
  };

  it('refuses an archive holding more than one targets key of the bundle', async () => {
    const a = await readKeyArchive(tf.offlineKeys.targets[0]);
    const b = await readKeyArchive(tf.offlineKeys.targets[1]);
    const both = join(dir, 'both.tgz');
    await writeKeyArchive(both, 'targets', [a.keys[0].signingKey!, b.keys[0].signingKey!]);
    expect(await codeOf(signBundle(bundle, both))).to.equal('KEY_AMBIGUOUS');
  });

  it('counts only signatures that verify, listing a tampered one as invalid', async () => {
    const res = await signBundle(bundle, tf.offlineKeys.targets[0]);
    expect(res.missing).to.equal(1);
    const path = join(bundle, 'tuf', 'bundle-targets.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as { signatures: { sig: string }[] };
    doc.signatures[0].sig = doc.signatures[0].sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await writeFile(path, JSON.stringify(doc));
    const shown = await showBundle(bundle);
    expect(shown.missing).to.equal(2);
    expect(shown.invalidSignatures).to.have.length(1);
    const v = await verifyBundle({
      bundle,
      rootFile: join(tf.factoryDir, 'tuf', 'prod', '1.root.json'),
    });
    expect(v.ok).to.equal(false);
    expect(v.status).to.equal(15);
  });

  it('verifies with status 0 once the threshold is met', async () => {
    await signBundle(bundle, tf.offlineKeys.targets[1]);
    await signBundle(bundle, tf.offlineKeys.targets[2]);
    const v = await verifyBundle({
      bundle,
      rootFile: join(tf.factoryDir, 'tuf', 'prod', '1.root.json'),
      tag: 'main',
    });
    expect(v.status, v.message).to.equal(0);
  });
});
