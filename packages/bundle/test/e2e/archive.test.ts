import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestFactory, parseWithSchema, type TestFactory } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';
import { readZip } from '../zip-read.js';
import { bundlectl, ok } from './cli.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('bundlectl single-file bundles (built CLI, real ostree)', function () {
  this.timeout(120000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-e2e-zip-'));
    tf = await createTestFactory({ dir, versions: [1] });
  });
  after(async () => cleanup());

  describe('create --archive zip', () => {
    it('writes one zip, prints the result as JSON and nothing on a non-TTY stderr', async () => {
      const dst = join(dir, 'stick', 'bundle.zip');
      const r = await ok([
        'create',
        tf.targets[0],
        dst,
        '--tag',
        'main',
        '--archive',
        'zip',
        '--factory',
        tf.factoryDir,
        '--json',
      ]);
      const res = parseWithSchema<{
        dst: string;
        archive: { file: string; sha256: string; bytes: number };
        show: { targets: { name: string }[] };
      }>('bundlectl', 'create', r.stdout);
      expect(res.archive.sha256).to.equal(sha256(await readFile(dst)));
      expect(res.show.targets.map((t) => t.name)).to.deep.equal([tf.targets[0]]);
      expect(r.stderr).to.equal('');
      expect(await readdir(join(dir, 'stick'))).to.deep.equal(['bundle.zip']);
      const names = (await readZip(dst)).records.map((x) => x.name);
      expect(names).to.include('tuf/bundle-targets.json');
    });

    it('can be shown and verified in place', async () => {
      const dst = join(dir, 'stick', 'bundle.zip');
      const shown = parseWithSchema<{ bundle: string; type: string }>(
        'bundlectl',
        'show',
        (await ok(['show', dst, '--json'])).stdout,
      );
      expect(shown).to.include({ bundle: dst, type: 'ci' });
      const v = await bundlectl([
        'verify',
        dst,
        '--root',
        join(tf.factoryDir, 'tuf', 'ci', '1.root.json'),
        '--tag',
        'main',
      ]);
      expect(v.code, v.stderr).to.equal(0);
    });

    it('exits 2 when combined with --tuf-only', async () => {
      const r = await bundlectl([
        'create',
        tf.targets[0],
        join(dir, 'x.zip'),
        '--tag',
        'main',
        '--archive',
        'zip',
        '--tuf-only',
        '--factory',
        tf.factoryDir,
      ]);
      expect(r.code).to.equal(2);
    });
  });

  describe('pack', () => {
    let bundle: string;
    before(async () => {
      bundle = join(dir, 'bundle');
      await ok(['create', tf.targets[0], bundle, '--tag', 'main', '--factory', tf.factoryDir]);
    });

    it('packs a directory bundle into the same bytes every time', async () => {
      const a = await ok(['pack', bundle, join(dir, 'a.zip')]);
      const b = await ok(['pack', bundle, join(dir, 'b.zip'), '--json']);
      expect(parseWithSchema<{ sha256: string }>('bundlectl', 'pack', b.stdout).sha256).to.equal(
        sha256(await readFile(join(dir, 'b.zip'))),
      );
      expect(sha256(await readFile(join(dir, 'a.zip')))).to.equal(
        sha256(await readFile(join(dir, 'b.zip'))),
      );
      expect(a.stdout).to.match(/sha256:\s+[0-9a-f]{64}/);
      expect(a.stderr).not.to.include('\r');
    });

    it('exits 1 and names the file when the zip exists', async () => {
      const r = await bundlectl(['pack', bundle, join(dir, 'a.zip')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('already exists');
    });
  });
});
