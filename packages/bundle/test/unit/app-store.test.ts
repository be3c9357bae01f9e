import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath, MEDIA_TYPES } from '@offline-ota/format';
import { appBlobs, importApp } from '../../src/app-store.js';
import { BundleError } from '../../src/errors.js';
import { sha256Hex } from '../../src/fsutil.js';
import { makeSampleApp } from '../../src/samples.js';
import { tempDir } from '../helpers.js';

describe('app store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  describe('importApp', () => {
    it('pins images by digest and stores every blob under its sha256', async () => {
      const app = await makeSampleApp(join(dir, 'src'), {
        name: 'web',
        images: [{ name: 'web', files: { 'index.html': 'hi' } }],
      });
      const store = join(dir, 'store');
      const res = await importApp({
        projectDir: app.projectDir,
        store,
        registryHost: 'registry.local',
        factoryName: 'acme',
      });
      expect(res.uri).to.equal(`registry.local/acme/web@sha256:${res.hex}`);
      const manifest = JSON.parse(await readFile(blobPath(store, res.hex), 'utf8')) as {
        artifactType: string;
        layers: { mediaType: string }[];
      };
      expect(manifest.artifactType).to.equal(MEDIA_TYPES.composeApp);
      expect(manifest.layers.map((l) => l.mediaType)).to.deep.equal([
        MEDIA_TYPES.composeBundle,
        MEDIA_TYPES.appImages,
      ]);
      const blobs = await appBlobs(store, res.hex, 'web');
      for (const b of blobs) {
        expect(sha256Hex(await readFile(blobPath(store, b.hex)))).to.equal(b.hex);
      }
      expect(blobs.map((b) => b.hex)).to.include(app.images.web.slice('sha256:'.length));
      expect(await readFile(join(store, 'apps', 'web', res.hex, 'uri'), 'utf8')).to.equal(res.uri);
    });

    it('gives the same app URI when the same project is imported twice', async () => {
      const app = await makeSampleApp(join(dir, 'src'), {
        name: 'web',
        images: [{ name: 'web', files: { a: 'a' } }],
      });
      const o = { projectDir: app.projectDir, registryHost: 'registry.local', factoryName: 'acme' };
      const a = await importApp({ ...o, store: join(dir, 's1') });
      const b = await importApp({ ...o, store: join(dir, 's2') });
      expect(a.uri).to.equal(b.uri);
    });

    it('refuses an image layout whose layer does not match its digest', async () => {
      const app = await makeSampleApp(join(dir, 'src'), {
        name: 'web',
        images: [{ name: 'web', files: { a: 'a' } }],
      });
      const layoutBlobs = join(app.projectDir, 'images', 'web', 'blobs', 'sha256');
      const manifest = JSON.parse(
        await readFile(join(layoutBlobs, app.images.web.slice(7)), 'utf8'),
      ) as { layers: { digest: string }[] };
      await writeFile(join(layoutBlobs, manifest.layers[0].digest.slice(7)), 'tampered');
      try {
        await importApp({
          projectDir: app.projectDir,
          store: join(dir, 's'),
          registryHost: 'r.local',
          factoryName: 'acme',
        });
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(BundleError);
        expect((err as BundleError).message).to.match(/does not match its digest/);
      }
    });
  });
});
