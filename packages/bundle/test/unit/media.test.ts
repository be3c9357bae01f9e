import { expect } from 'chai';
import { chmod, cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { factoryPaths, fatNameProblem } from '@offline-ota/format';
import { createBundle } from '../../src/create.js';
import { BundleError } from '../../src/errors.js';
import { verifyBundle } from '../../src/inspect.js';
import { assertMediaSafe, scanBundleTree } from '../../src/media.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';

describe('removable media (FAT32 and exFAT)', function () {
  this.timeout(60000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  let bundle: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-media-'));
    tf = await createTestFactory({ dir, versions: [1] });
    bundle = join(dir, 'bundle');
    await createBundle({ factory: tf.factoryDir, target: tf.targets[0], dst: bundle, tag: 'main' });
  });
  after(async () => cleanup());

  describe('fatNameProblem', () => {
    const refused: [string, string][] = [
      ['a<b', 'a character FAT refuses'],
      ['a>b', 'a character FAT refuses'],
      ['a:b', 'a character FAT refuses'],
      ['a"b', 'a character FAT refuses'],
      ['a\\b', 'a character FAT refuses'],
      ['a|b', 'a character FAT refuses'],
      ['a?b', 'a character FAT refuses'],
      ['a*b', 'a character FAT refuses'],
      ['a\nb', 'control character'],
      ['a\x7fb', 'control character'],
      ['café', 'non-ASCII'],
      ['name.', 'ends with a dot'],
      ['name ', 'ends with a dot or a space'],
      ['x'.repeat(256), 'longer than 255'],
    ];
    for (const [name, why] of refused) {
      const shown = [...(name.length > 20 ? `${name.slice(0, 8)}…` : name)]
        .map((c) => (c < ' ' || c === '\x7f' ? `\\x${c.charCodeAt(0).toString(16)}` : c))
        .join('');
      it(`refuses "${shown}"`, () => {
        expect(fatNameProblem(name)).to.include(why);
      });
    }

    it('accepts the names a bundle uses', () => {
      for (const name of [
        '1.root.json',
        'bundle-targets.json',
        '.lock',
        'ab'.repeat(31) + '.filez',
        'sha256',
        'shellhttpd',
      ])
        expect(fatNameProblem(name), name).to.equal(undefined);
    });
  });

  describe('a bundle made by create', () => {
    it('holds no symbolic link, no case twins and no name FAT refuses', async () => {
      const scan = await scanBundleTree(bundle);
      expect(scan.problems).to.deep.equal([]);
      expect(scan.entries.filter((e) => e.rel.startsWith('ostree_repo/objects/'))).not.to.be.empty;
    });

    it('still passes the device check when every file mode changes, as FAT keeps none', async () => {
      const copy = join(dir, 'modes');
      await cp(bundle, copy, { recursive: true });
      const scan = await scanBundleTree(copy);
      for (const e of scan.entries) await chmod(e.path, e.dir ? 0o700 : 0o755);
      const res = await verifyBundle({
        bundle: copy,
        rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
      });
      expect(res.status, res.message).to.equal(0);
    });
  });

  describe('a tree that would not survive FAT', () => {
    let bad: string;
    before(async () => {
      bad = join(dir, 'bad');
      await cp(bundle, bad, { recursive: true });
      await symlink('config', join(bad, 'ostree_repo', 'linked'));
      await writeFile(join(bad, 'apps', 'Blobs'), 'twin of blobs');
      await writeFile(join(bad, 'tuf', 'what?.json'), '{}');
      await mkdir(join(bad, 'extra'));
    });

    it('names every problem', async () => {
      const scan = await scanBundleTree(bad);
      const byPath = Object.fromEntries(scan.problems.map((p) => [p.rel, p.problem]));
      expect(byPath['ostree_repo/linked']).to.match(/symbolic link/);
      expect(byPath['apps/blobs'] ?? byPath['apps/Blobs']).to.match(/only in case/);
      expect(byPath['tuf/what?.json']).to.match(/FAT refuses/);
      expect(byPath.extra).to.match(/not part of a bundle/);
      expect(scan.entries.map((e) => e.rel)).not.to.include('ostree_repo/linked');
    });

    it('is refused with MEDIA_UNSAFE, naming the path', async () => {
      const scan = await scanBundleTree(bad);
      try {
        assertMediaSafe(bad, scan);
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(BundleError);
        expect((err as BundleError).code).to.equal('MEDIA_UNSAFE');
        expect((err as BundleError).message).to.include('ostree_repo/linked');
      }
    });
  });
});
