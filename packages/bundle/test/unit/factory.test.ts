import { expect } from 'chai';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  factoryPaths,
  parseRoot,
  verifySelfSignedRoot,
  verifyThreshold,
  type TargetsSigned,
} from '@offline-ota/format';
import { BundleError } from '../../src/errors.js';
import { initFactory, nextVersions, openFactory } from '../../src/factory.js';
import { readKeyArchive } from '../../src/key-archive.js';
import { parseTargetsDoc } from '../../src/tuf-repo.js';
import { createTestFactory } from '@offline-ota/testkit';
import { fixedClock, hashTree, tempDir } from '../helpers.js';

describe('factory', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  describe('initFactory', () => {
    it('writes ci and prod roots with the same root keys and different targets keys', async () => {
      const res = await initFactory({
        dir: join(dir, 'f'),
        name: 'acme',
        offlineKeysDir: join(dir, 'keys'),
        clock: fixedClock(),
      });
      const p = factoryPaths(res.factoryDir);
      const ci = parseRoot(JSON.parse(await readFile(p.root('ci', 1), 'utf8')), 'ci');
      const prod = parseRoot(JSON.parse(await readFile(p.root('prod', 1), 'utf8')), 'prod');
      verifySelfSignedRoot(ci, 'ci');
      verifySelfSignedRoot(prod, 'prod');
      expect(ci.signed.roles.root).to.deep.equal(prod.signed.roles.root);
      expect(ci.signed.consistent_snapshot).to.equal(false);
      expect(ci.signed.expires).to.equal('2027-01-15T10:00:00Z');
      expect(ci.signed.roles.targets).to.deep.equal({ keyids: [res.ciTargetsKeyId], threshold: 1 });
      expect(prod.signed.roles.targets).to.deep.equal({
        keyids: res.prodTargetsKeyIds,
        threshold: 2,
      });
    });

    it('keeps offline keys out of the factory, one targets key per archive', async () => {
      const res = await initFactory({
        dir: join(dir, 'f'),
        name: 'acme',
        offlineKeysDir: join(dir, 'keys'),
      });
      expect(res.offlineKeys.targets).to.have.length(3);
      for (const [i, path] of res.offlineKeys.targets.entries()) {
        const a = await readKeyArchive(path);
        expect(a.keys.map((k) => k.keyid)).to.deep.equal([res.prodTargetsKeyIds[i]]);
      }
      const root = await readKeyArchive(res.offlineKeys.root);
      expect(root.keys.map((k) => k.keyid)).to.deep.equal(res.rootKeyIds);
      expect(
        (await stat(factoryPaths(res.factoryDir).onlineKey('timestamp', 'sec'))).mode & 0o777,
      ).to.equal(0o600);
    });

    it('refuses a non-empty directory and leaves it untouched', async () => {
      const f = join(dir, 'f');
      await mkdir(f);
      await writeFile(join(f, 'precious'), 'data');
      const before = await hashTree(f);
      try {
        await initFactory({ dir: f, name: 'acme', offlineKeysDir: join(dir, 'keys') });
        expect.fail('expected a refusal');
      } catch (err) {
        expect((err as BundleError).code).to.equal('FACTORY_NOT_EMPTY');
      }
      expect(await hashTree(f)).to.equal(before);
    });

    it('refuses an offline keys directory inside the factory', async () => {
      try {
        await initFactory({
          dir: join(dir, 'f'),
          name: 'acme',
          offlineKeysDir: join(dir, 'f', 'keys'),
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect((err as BundleError).code).to.equal('INVALID_ARGUMENT');
      }
    });
  });

  describe('nextVersions', () => {
    it('only ever grows and persists across opens', async () => {
      const res = await initFactory({
        dir: join(dir, 'f'),
        name: 'acme',
        offlineKeysDir: join(dir, 'keys'),
      });
      const f = await openFactory(res.factoryDir);
      const a = await nextVersions(f, 'prod', ['snapshot', 'timestamp']);
      const b = await nextVersions(await openFactory(res.factoryDir), 'prod', ['snapshot']);
      expect(a).to.deep.equal({ snapshot: 1, timestamp: 1 });
      expect(b).to.deep.equal({ snapshot: 2 });
    });
  });

  describe('createTestFactory', () => {
    it('publishes each version into the tag CI targets, signed by the online key', async () => {
      const tf = await createTestFactory({ dir, clock: fixedClock() });
      expect(tf.targets).to.deep.equal(['sim-x86-lmp-1', 'sim-x86-lmp-2']);
      const p = factoryPaths(tf.factoryDir);
      const targets = parseTargetsDoc(
        JSON.parse(await readFile(p.tagTargets('ci', 'main'), 'utf8')),
        't',
      );
      const root = parseRoot(JSON.parse(await readFile(p.root('ci', 1), 'utf8')), 'root');
      verifyThreshold(targets, root.signed.keys, root.signed.roles.targets, {
        strict: true,
        what: 'targets',
      });
      const signed: TargetsSigned = targets.signed;
      expect(signed.version).to.equal(2);
      expect(Object.keys(signed.targets)).to.deep.equal(tf.targets);
      const t2 = signed.targets['sim-x86-lmp-2'];
      expect(t2.hashes.sha256).to.equal(tf.commits['sim-x86-lmp-2']);
      expect(t2.custom?.version).to.equal('2');
      expect(t2.custom?.docker_compose_apps?.shellhttpd?.uri).to.match(
        /^registry\.local\/acme\/shellhttpd@sha256:[0-9a-f]{64}$/,
      );
      expect(t2.custom?.docker_compose_apps?.shellhttpd?.uri).to.not.equal(
        signed.targets['sim-x86-lmp-1'].custom?.docker_compose_apps?.shellhttpd?.uri,
      );
    });
  });
});
