import { expect } from 'chai';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import {
  canonicalJson,
  parsePrivateKeyFile,
  signEnvelope,
  StatusCode,
  type BundleManifestSigned,
  type Envelope,
} from '@offline-ota/format';
import { createTestFactory, parseWithSchema, type TestFactory } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';
import { bundlectl, ok, unwrap } from './cli.js';

describe('bundlectl production flow (built CLI, real ostree)', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  let prodRoot: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-e2e-prod-'));
    tf = await createTestFactory({ dir, versions: [1, 2] });
    prodRoot = join(tf.factoryDir, 'tuf', 'prod', '1.root.json');
  });
  after(async () => cleanup());

  it('starts and completes a wave with two release managers’ keys', async () => {
    const [k1, k2, k3] = tf.offlineKeys.targets;
    const init = await ok([
      'waves',
      'init',
      'wave-1',
      '--factory',
      tf.factoryDir,
      '--target',
      'sim-x86-lmp-1',
      '--tag',
      'main',
      '-k',
      k1,
      '-k',
      k2,
    ]);
    expect(init.stdout).to.contain('Wave wave-1 is active');
    const done = await ok([
      'waves',
      'complete',
      'wave-1',
      '--factory',
      tf.factoryDir,
      '-k',
      k2,
      '-k',
      k3,
    ]);
    expect(done.stdout).to.contain('is a production Target of tag main');

    // Issue 11 §6: the factory's waves and Targets, listed as text and as JSON (schemas).
    const waves = parseWithSchema<{ name: string; state: string; target: string }[]>(
      'bundlectl',
      'waves-list',
      (await ok(['waves', 'list', '--factory', tf.factoryDir, '--json'])).stdout,
    );
    expect(waves.map((w) => [w.name, w.state, w.target])).to.deep.equal([
      ['wave-1', 'complete', 'sim-x86-lmp-1'],
    ]);
    expect((await ok(['waves', 'list', '--factory', tf.factoryDir])).stdout).to.match(
      /^wave-1\tcomplete\tTarget sim-x86-lmp-1\ttag main/,
    );
    const targets = parseWithSchema<
      { name: string; version: number; ci: string[]; prod: string[]; tags: string[] }[]
    >(
      'bundlectl',
      'targets-list',
      (await ok(['targets', 'list', '--factory', tf.factoryDir, '--json'])).stdout,
    );
    expect(targets.map((t) => [t.name, t.version, t.tags, t.ci, t.prod])).to.deep.equal([
      ['sim-x86-lmp-1', 1, ['main'], ['main'], ['main']],
      ['sim-x86-lmp-2', 2, ['main'], ['main'], []],
    ]);
    const none = await ok(['targets', 'list', '--factory', tf.factoryDir, '--tag', 'devel']);
    expect(none.stdout).to.match(/^No Targets published/);
  });

  describe('create --prod', () => {
    let bundle: string;
    before(() => {
      bundle = join(dir, 'prod-bundle');
    });

    it('creates an unsigned bundle that asks for two signatures', async () => {
      const r = await ok([
        'create',
        'sim-x86-lmp-1',
        bundle,
        '--tag',
        'main',
        '--prod',
        '--factory',
        tf.factoryDir,
      ]);
      expect(r.stderr).to.contain(
        'Getting production Target details; target: sim-x86-lmp-1, tag: main',
      );
      expect(r.stdout).to.contain('Missing:\t2');
    });

    it('is refused by the device verifier before it is signed (exit 15)', async () => {
      const r = await bundlectl(['verify', bundle, '--root', prodRoot]);
      expect(r.code).to.equal(StatusCode.CheckinInvalidBundleMetadata);
    });

    it('takes one signature per run until the threshold is met', async () => {
      const first = await ok(['sign', bundle, '--keys', tf.offlineKeys.targets[0]]);
      expect(first.stdout).to.contain(
        '1 more signature(s) is/are required to meet the required threshold (2)',
      );
      const again = await bundlectl(['sign', bundle, '--keys', tf.offlineKeys.targets[0]]);
      expect(again.code).to.not.equal(0);
      expect(unwrap(again.stderr)).to.contain('the bundle is already signed by the provided key:');
      const second = await ok(['sign', bundle, '--keys', tf.offlineKeys.targets[2]]);
      expect(second.stdout).to.contain(
        'The bundle is signed with enough number of signatures (2) to meet the required threshold (2)',
      );
    });

    it('then verifies as a device would (exit 0)', async () => {
      const r = await bundlectl([
        'verify',
        bundle,
        '--root',
        prodRoot,
        '--tag',
        'main',
        '--type',
        'prod',
      ]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('is refused by a CI device (exit 15)', async () => {
      const r = await bundlectl([
        'verify',
        bundle,
        '--root',
        join(tf.factoryDir, 'tuf', 'ci', '1.root.json'),
        '--type',
        'ci',
      ]);
      expect(r.code).to.equal(StatusCode.CheckinInvalidBundleMetadata);
    });
  });

  describe('create --wave', () => {
    it('bundles the wave Target, and after signing it verifies', async () => {
      const [k1, k2] = tf.offlineKeys.targets;
      await ok([
        'waves',
        'init',
        'wave-2',
        '--factory',
        tf.factoryDir,
        '--target',
        'sim-x86-lmp-2',
        '--tag',
        'main',
        '-k',
        k1,
        '-k',
        k2,
      ]);
      const bundle = join(dir, 'wave-bundle');
      const r = await ok([
        'create',
        'sim-x86-lmp-2',
        bundle,
        '--wave',
        'wave-2',
        '--factory',
        tf.factoryDir,
      ]);
      expect(r.stderr).to.contain(
        'Getting Wave Target details; target: sim-x86-lmp-2, wave: wave-2',
      );
      const signed = await ok(['sign', bundle, '-k', k1, '--json']);
      expect(
        parseWithSchema<{ missing: number }>('bundlectl', 'sign', signed.stdout).missing,
      ).to.equal(1);
      await ok(['sign', bundle, '-k', k2]);
      const v = await bundlectl(['verify', bundle, '--root', prodRoot, '--json']);
      expect(v.code, v.stdout).to.equal(0);
      expect(
        parseWithSchema<{ available: string[] }>('bundlectl', 'verify', v.stdout).available,
      ).to.deep.equal(['sim-x86-lmp-2']);
    });
  });

  describe('after a root rotation', () => {
    it('carries roots 1 and 2 and verifies from the shipped 1.root.json', async () => {
      const rotated = await ok([
        'keys',
        'rotate-root',
        '--factory',
        tf.factoryDir,
        '--keys',
        tf.offlineKeys.root,
        '--out',
        join(dir, 'root-keys-2.tgz'),
        '--json',
      ]);
      expect(
        parseWithSchema<{ version: number }>('bundlectl', 'keys-rotate-root', rotated.stdout)
          .version,
      ).to.equal(2);
      const bundle = join(dir, 'ci-after-rotation');
      await ok(['create', 'sim-x86-lmp-2', bundle, '--tag', 'main', '--factory', tf.factoryDir]);
      const shown = parseWithSchema<{ rootVersion: number }>(
        'bundlectl',
        'show',
        (await ok(['show', bundle, '--json'])).stdout,
      );
      expect(shown.rootVersion).to.equal(2);
      const r = await bundlectl([
        'verify',
        bundle,
        '--root',
        join(tf.factoryDir, 'tuf', 'ci', '1.root.json'),
      ]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('refuses, on a production device, a CI bundle relabelled prod and signed with the online key', async () => {
      // Both chains share root keys and versions; only the chain marker in each root keeps
      // a CI root (targets = online key) from being a valid next root for a prod device.
      const bundle = join(dir, 'ci-relabelled');
      await ok(['create', 'sim-x86-lmp-2', bundle, '--tag', 'main', '--factory', tf.factoryDir]);
      const manifestPath = join(bundle, 'tuf', 'bundle-targets.json');
      const env = JSON.parse(
        await readFile(manifestPath, 'utf8'),
      ) as Envelope<BundleManifestSigned>;
      env.signed['x-offline-bundle'].type = 'prod';
      const onlineKey = parsePrivateKeyFile(
        JSON.parse(await readFile(join(tf.factoryDir, 'keys', 'ci-targets.sec'), 'utf8')),
        'ci-targets.sec',
      );
      await writeFile(manifestPath, canonicalJson(signEnvelope(env.signed, [onlineKey])));
      const r = await bundlectl(['verify', bundle, '--root', prodRoot, '--type', 'prod']);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.CheckinSecurityError);
      expect(r.stderr).to.match(/root chain/);
    });
  });
});
