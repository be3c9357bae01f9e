import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../src/lib/fsutil.js';

describe('removeTree', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fsutil-test-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('removes a tree of many files and directories', async () => {
    const root = join(dir, 'repo');
    for (let d = 0; d < 20; d++) {
      const sub = join(root, 'objects', d.toString(16).padStart(2, '0'));
      await mkdir(sub, { recursive: true });
      for (let f = 0; f < 50; f++) await writeFile(join(sub, `${f}.filez`), 'x');
    }
    await removeTree(root);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('removes a symbolic link without following it', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'keep');
    const root = join(dir, 'tree');
    await mkdir(root);
    await symlink(outside, join(root, 'link'));
    await removeTree(root);
    expect(await readdir(dir)).to.deep.equal(['outside']);
    expect(await readdir(outside)).to.deep.equal(['keep']);
  });

  it('does nothing for a missing path and removes a plain file', async () => {
    await removeTree(join(dir, 'missing'));
    await writeFile(join(dir, 'file'), 'x');
    await removeTree(join(dir, 'file'));
    expect(await readdir(dir)).to.deep.equal([]);
  });
});
