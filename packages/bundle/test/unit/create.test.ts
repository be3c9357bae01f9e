import { expect } from 'chai';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath, factoryPaths, parseAppUri } from '@offline-ota/format';
import { appBlobs } from '../../src/app-store.js';
import { createBundle, type ProgressEvent } from '../../src/create.js';
import { BundleError } from '../../src/errors.js';
import { exists } from '../../src/fsutil.js';
import { showBundle } from '../../src/inspect.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { hashTree, tempDir } from '../helpers.js';

describe('createBundle', function () {
  this.timeout(60000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    tf = await createTestFactory({ dir, versions: [1, 2] });
  });
  afterEach(async () => cleanup());

  /** Corrupts the image layer blob of a Target's app in the factory store. */
  async function corruptLayerOf(target: string): Promise<void> {
    const entry = JSON.parse(
      await readFile(factoryPaths(tf.factoryDir).catalogEntry(target), 'utf8'),
    ) as {
      target: { custom: { docker_compose_apps: Record<string, { uri: string }> } };
    };
    const { digest } = parseAppUri(entry.target.custom.docker_compose_apps.shellhttpd.uri);
    const store = factoryPaths(tf.factoryDir).appStore;
    const blobs = await appBlobs(store, digest, 'shellhttpd');
    await writeFile(blobPath(store, blobs.at(-1)!.hex), 'corrupted');
  }

  it('reports progress through the callback and prints nothing itself', async () => {
    const events: ProgressEvent[] = [];
    const res = await createBundle({
      factory: tf.factoryDir,
      target: tf.targets[1],
      dst: join(dir, 'b'),
      tag: 'main',
      onProgress: (e) => events.push(e),
    });
    expect(events.map((e) => e.step)).to.include.members([
      'resolve',
      'tuf',
      'ostree',
      'apps',
      'verify',
      'done',
    ]);
    expect(res.selfCheck.available).to.deep.equal([tf.targets[1]]);
    expect((await showBundle(join(dir, 'b'))).missing).to.equal(0);
  });

  it('reports byte progress of the app copy and the OSTree pull, each ending at its total', async () => {
    const events: ProgressEvent[] = [];
    await createBundle({
      factory: tf.factoryDir,
      target: tf.targets[1],
      dst: join(dir, 'b'),
      tag: 'main',
      onProgress: (e) => events.push(e),
    });
    for (const step of ['apps', 'ostree'] as const) {
      const bytes = events.filter((e) => e.step === step && e.bytes !== undefined);
      expect(bytes, step).not.to.be.empty;
      const last = bytes.at(-1)!.bytes!;
      expect(last.total, step).to.be.a('number').above(0);
      expect(last.done, step).to.equal(last.total);
    }
  });

  describe('with archive zip', () => {
    it('writes one zip file and removes its staging directory', async () => {
      const dst = join(dir, 'out', 'bundle.zip');
      await mkdir(join(dir, 'out'));
      const res = await createBundle({
        factory: tf.factoryDir,
        target: tf.targets[1],
        dst,
        tag: 'main',
        archive: 'zip',
      });
      expect(await readdir(join(dir, 'out'))).to.deep.equal(['bundle.zip']);
      expect(res.dst).to.equal(dst);
      expect(res.archive?.bytes).to.equal((await stat(dst)).size);
      expect(res.archive?.show.bundle).to.equal(dst);
      expect(res.archive?.show.targets.map((t) => t.name)).to.deep.equal([tf.targets[1]]);
      expect(res.selfCheck.available).to.deep.equal([tf.targets[1]]);
    });

    it('refuses a production bundle, which must be signed before it is packed', async () => {
      const dst = join(dir, 'prod.zip');
      try {
        await createBundle({
          factory: tf.factoryDir,
          target: tf.targets[1],
          dst,
          tag: 'main',
          prod: true,
          archive: 'zip',
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect((err as BundleError).code).to.equal('INVALID_ARGUMENT');
        expect((err as BundleError).message).to.match(/bundlectl pack/);
      }
      expect(await exists(dst)).to.equal(false);
    });

    it('removes its staging directory when creating fails', async () => {
      await corruptLayerOf(tf.targets[1]);
      await mkdir(join(dir, 'out'));
      try {
        await createBundle({
          factory: tf.factoryDir,
          target: tf.targets[1],
          dst: join(dir, 'out', 'bundle.zip'),
          tag: 'main',
          archive: 'zip',
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(BundleError);
      }
      expect(await readdir(join(dir, 'out'))).to.deep.equal([]);
    });
  });

  describe('when a factory blob is corrupt', () => {
    it('refuses and removes everything it created', async () => {
      await corruptLayerOf(tf.targets[1]);
      const dst = join(dir, 'b');
      try {
        await createBundle({ factory: tf.factoryDir, target: tf.targets[1], dst, tag: 'main' });
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(BundleError);
        expect((err as BundleError).message).to.match(/does not match its digest/);
      }
      expect(await exists(dst)).to.equal(false);
    });

    it('leaves an existing bundle byte-for-byte as it was when adding a Target fails', async () => {
      const dst = join(dir, 'b');
      await createBundle({ factory: tf.factoryDir, target: tf.targets[0], dst, tag: 'main' });
      const before = await hashTree(dst);
      await corruptLayerOf(tf.targets[1]);
      try {
        await createBundle({
          factory: tf.factoryDir,
          target: tf.targets[1],
          dst,
          tag: 'main',
          allowMultipleTargets: true,
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(BundleError);
      }
      expect(await hashTree(dst)).to.equal(before);
    });
  });

  it('carries no apps with noApps and still passes the device check', async () => {
    const dst = join(dir, 'b');
    const res = await createBundle({
      factory: tf.factoryDir,
      target: tf.targets[0],
      dst,
      tag: 'main',
      noApps: true,
    });
    expect(res.apps).to.deep.equal({});
    expect(await exists(join(dst, 'apps'))).to.equal(false);
  });
});
