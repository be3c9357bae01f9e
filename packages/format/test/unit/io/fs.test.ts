import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoError } from '../../../src/io/errors.js';
import { fsyncDir, readFileCapped, swapDir, writeFileAtomic } from '../../../src/io/fs.js';

async function thrown(p: Promise<unknown>): Promise<IoError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(IoError);
    return err as IoError;
  }
  expect.fail('expected a rejection');
}

describe('io/fs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'io-fs-test-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  describe('writeFileAtomic', () => {
    it('writes the data with exactly the mode asked, creating parents, leaving no temporary file', async () => {
      const file = join(dir, 'a', 'b', 'key.sec');
      await writeFileAtomic(file, 'secret', { mode: 0o600 });
      expect(await readFile(file, 'utf8')).to.equal('secret');
      expect((await stat(file)).mode & 0o777).to.equal(0o600);
      expect(await readdir(join(dir, 'a', 'b'))).to.deep.equal(['key.sec']);
    });

    it('replaces an existing file and defaults to mode 0644', async () => {
      const file = join(dir, 'state.json');
      await writeFile(file, 'old', { mode: 0o600 });
      await writeFileAtomic(file, Buffer.from('new'));
      expect(await readFile(file, 'utf8')).to.equal('new');
      expect((await stat(file)).mode & 0o777).to.equal(0o644);
    });

    it('fails with IO_FAILED naming the file, and leaves nothing, when it cannot write', async () => {
      await writeFile(join(dir, 'not-a-dir'), '');
      const file = join(dir, 'not-a-dir', 'x');
      const err = await thrown(writeFileAtomic(file, 'x'));
      expect(err.code).to.equal('IO_FAILED');
      expect(err.file).to.equal(file);
      expect(err.message).to.contain(file);
      expect(await readdir(dir)).to.deep.equal(['not-a-dir']);
    });
  });

  describe('fsyncDir', () => {
    it('fails with IO_FAILED (errno kept) rather than ignoring a failure', async () => {
      await writeFile(join(dir, 'f'), '');
      const err = await thrown(fsyncDir(join(dir, 'f')));
      expect(err.code).to.equal('IO_FAILED');
      expect(err.errno).to.equal('ENOTDIR');
    });
  });

  describe('swapDir', () => {
    it('puts the staged directory in place of the old one and removes the old one', async () => {
      await mkdir(join(dir, 'app'));
      await writeFile(join(dir, 'app', 'old'), 'old');
      await mkdir(join(dir, 'staged', 'sub'), { recursive: true });
      await writeFile(join(dir, 'staged', 'sub', 'new'), 'new');
      await swapDir(join(dir, 'staged'), join(dir, 'app'));
      expect(await readdir(dir)).to.deep.equal(['app']);
      expect(await readFile(join(dir, 'app', 'sub', 'new'), 'utf8')).to.equal('new');
    });

    it('creates the target when there was none', async () => {
      await mkdir(join(dir, 'staged'));
      await swapDir(join(dir, 'staged'), join(dir, 'app'));
      expect(await readdir(dir)).to.deep.equal(['app']);
    });

    it('puts the old directory back when the staged one cannot be moved in', async () => {
      // The staged directory lies inside the target: once the target is moved aside, the
      // staged path is gone and the second rename fails.
      await mkdir(join(dir, 'app', 'inner'), { recursive: true });
      await writeFile(join(dir, 'app', 'old'), 'old');
      const err = await thrown(swapDir(join(dir, 'app', 'inner'), join(dir, 'app')));
      expect([err.code, err.errno]).to.deep.equal(['IO_FAILED', 'ENOENT']);
      expect(await readdir(dir)).to.deep.equal(['app']);
      expect(await readFile(join(dir, 'app', 'old'), 'utf8')).to.equal('old');
    });
  });

  describe('readFileCapped', () => {
    it('reads a file of at most the cap', async () => {
      await writeFile(join(dir, 'f'), 'hello');
      expect((await readFileCapped(join(dir, 'f'), 5)).toString()).to.equal('hello');
    });

    it('refuses a larger file with TOO_LARGE, naming it, its size and the cap', async () => {
      await writeFile(join(dir, 'f'), 'hello!');
      const err = await thrown(readFileCapped(join(dir, 'f'), 5));
      expect(err.code).to.equal('TOO_LARGE');
      expect([err.file, err.size, err.cap]).to.deep.equal([join(dir, 'f'), 6, 5]);
      expect(err.message).to.contain(join(dir, 'f'));
    });

    it('refuses a directory with NOT_A_FILE', async () => {
      expect((await thrown(readFileCapped(dir, 5))).code).to.equal('NOT_A_FILE');
    });

    it('refuses a symbolic link with noFollow (errno ELOOP) and reports a missing file as ENOENT', async () => {
      await writeFile(join(dir, 'f'), 'x');
      await symlink(join(dir, 'f'), join(dir, 'l'));
      expect((await readFileCapped(join(dir, 'l'), 5)).toString()).to.equal('x');
      const loop = await thrown(readFileCapped(join(dir, 'l'), 5, { noFollow: true }));
      expect([loop.code, loop.errno]).to.deep.equal(['IO_FAILED', 'ELOOP']);
      const missing = await thrown(readFileCapped(join(dir, 'nope'), 5));
      expect([missing.code, missing.errno]).to.deep.equal(['IO_FAILED', 'ENOENT']);
    });
  });
});
