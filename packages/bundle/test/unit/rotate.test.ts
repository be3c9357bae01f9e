import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { factoryPaths, parseRoot, verifyRootRotation, verifyThreshold } from '@offline-ota/format';
import { BundleError } from '../../src/errors.js';
import { readKeyArchive } from '../../src/key-archive.js';
import { rotateRoot } from '../../src/rotate.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { parseTargetsDoc } from '../../src/tuf-repo.js';
import { wavesComplete } from '../../src/waves.js';
import { fixedClock, hashTree, tempDir } from '../helpers.js';

describe('rotateRoot', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    tf = await createTestFactory({ dir, versions: [1], clock: fixedClock() });
  });
  afterEach(async () => cleanup());

  const root = async (type: 'ci' | 'prod', v: number) =>
    parseRoot(
      JSON.parse(await readFile(factoryPaths(tf.factoryDir).root(type, v), 'utf8')),
      `${type} ${v}`,
    );

  it('writes root 2 of both chains, signed by the old and the new root keys', async () => {
    const out = join(dir, 'root-keys-2.tgz');
    const res = await rotateRoot({
      factory: tf.factoryDir,
      rootKeys: [tf.offlineKeys.root],
      newRootKeysOut: out,
    });
    expect(res.version).to.equal(2);
    for (const type of ['ci', 'prod'] as const) {
      verifyRootRotation((await root(type, 1)).signed, await root(type, 2), type);
    }
    const archive = await readKeyArchive(out);
    expect(archive.keys.map((k) => k.keyid)).to.deep.equal(res.rootKeyIds);
  });

  it('re-signs production targets with the new targets keys when they rotate', async () => {
    const { wavesInit } = await import('../../src/waves.js');
    await wavesInit({
      factory: tf.factoryDir,
      wave: 'w1',
      target: tf.targets[0],
      tag: 'main',
      keys: tf.offlineKeys.targets.slice(0, 2),
    });
    await wavesComplete({
      factory: tf.factoryDir,
      wave: 'w1',
      keys: tf.offlineKeys.targets.slice(1, 3),
    });
    await rotateRoot({
      factory: tf.factoryDir,
      rootKeys: [tf.offlineKeys.root],
      keepRootKeys: true,
      rotateTargets: true,
      targetsKeysOutDir: join(dir, 'new-targets'),
    });
    const prod2 = (await root('prod', 2)).signed;
    const file = factoryPaths(tf.factoryDir).tagTargets('prod', 'main');
    const targets = parseTargetsDoc(JSON.parse(await readFile(file, 'utf8')), file);
    verifyThreshold(targets, prod2.keys, prod2.roles.targets, { strict: true, what: file });
    expect(Object.keys(targets.signed.targets)).to.deep.equal([tf.targets[0]]);
  });

  describe('when the archive holds no current root key', () => {
    it('refuses and writes nothing', async () => {
      const before = await hashTree(tf.factoryDir);
      try {
        await rotateRoot({
          factory: tf.factoryDir,
          rootKeys: [tf.offlineKeys.targets[0]],
          newRootKeysOut: join(dir, 'x.tgz'),
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect((err as BundleError).code).to.equal('KEY_NOT_FOUND');
      }
      expect(await hashTree(tf.factoryDir)).to.equal(before);
    });
  });
});
