import { expect } from 'chai';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test → the repository root. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Names and strings of test support that no published package may hold. */
const TEST_ONLY = [
  '@offline-ota/testkit',
  'createTestFactory',
  'generateTestBundles',
  'testBundleKey',
  'offline-ota test-bundles', // the seed of the test keys
  'AKLITE_TEST_STOP_AT',
  'SIGSTOP',
];

/** Every file under `dir` (none when it does not exist). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

describe('the published packages', function () {
  for (const pkg of ['format', 'bundle', 'aklite-offline', 'device-sim']) {
    it(`${pkg}: what it publishes (dist/src, bin and data files) holds no test support, and it does not depend on the testkit`, async function () {
      const root = join(REPO, 'packages', pkg);
      const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
        files?: string[];
        dependencies?: Record<string, string>;
      };
      const published = manifest.files ?? [];
      expect(published, 'published files').to.include.members(['dist/src', 'bin']);
      // Nothing else of the package's build is published (its tests are in dist-test).
      expect(
        published.filter((f) => f.startsWith('dist')),
        'published build',
      ).to.deep.equal(['dist/src']);
      expect(Object.keys(manifest.dependencies ?? {})).not.to.include('@offline-ota/testkit');
      const found: string[] = [];
      const all: string[] = [];
      for (const f of published) {
        const path = join(root, f);
        const st = await stat(path).catch(() => undefined);
        if (st?.isDirectory()) all.push(...(await files(path)));
        else if (st?.isFile()) all.push(path);
      }
      expect(all.length).to.be.greaterThan(0);
      for (const f of all) {
        const text = await readFile(f, 'utf8');
        for (const s of TEST_ONLY) if (text.includes(s)) found.push(`${relative(REPO, f)}: ${s}`);
      }
      expect(found).to.deep.equal([]);
    });
  }
});
