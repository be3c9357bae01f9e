import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AkliteError } from '../../src/lib/errors.js';
import { acquireLock } from '../../src/lib/lock.js';

describe('acquireLock', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'aklite-lock-'));
    await mkdir(join(dir, 'var/lock'), { recursive: true });
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes our pid and removes the file on release', async function () {
    const file = join(dir, 'var/lock/aklite.lock');
    const lock = await acquireLock(file);
    expect((await readFile(file, 'utf8')).trim()).to.equal(String(process.pid));
    await lock.release();
    expect(await readdir(join(dir, 'var/lock'))).to.deep.equal([]);
  });

  it('refuses a lock held by a live process with LOCKED', async function () {
    const file = join(dir, 'var/lock/aklite.lock');
    await writeFile(file, '1\n'); // pid 1 is always alive
    const err = await acquireLock(file).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AkliteError);
    expect((err as AkliteError).code).to.equal('LOCKED');
    expect((err as AkliteError).message).to.match(/pid 1\b/);
  });

  it('takes over a lock whose process is gone', async function () {
    const file = join(dir, 'var/lock/aklite.lock');
    await writeFile(file, '4194303\n');
    const lock = await acquireLock(file);
    expect((await readFile(file, 'utf8')).trim()).to.equal(String(process.pid));
    await lock.release();
  });

  it('removes the lock directory again when it created it', async function () {
    const file = join(dir, 'other/lock/aklite.lock');
    const lock = await acquireLock(file);
    await lock.release();
    expect(await readdir(join(dir, 'other'))).to.deep.equal([]);
  });
});
