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

describe('acquireLock with the boot id', function () {
  let dir: string;
  let file: string;
  let bootIdFile: string;
  const BOOT_A = '0b6e1c5e-8a63-4b7e-9d1e-6f0c8f4a2b11';
  const BOOT_B = '5d2f7a90-1c34-4e8b-a6d2-93b0e7c41f22';
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'aklite-lock-'));
    await mkdir(join(dir, 'var/lock'), { recursive: true });
    file = join(dir, 'var/lock/aklite.lock');
    bootIdFile = join(dir, 'boot_id');
    await writeFile(bootIdFile, `${BOOT_B}\n`);
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the pid and the current boot id', async function () {
    const lock = await acquireLock(file, { bootIdFile });
    expect(await readFile(file, 'utf8')).to.equal(`${process.pid}\n${BOOT_B}\n`);
    await lock.release();
    expect(await readdir(join(dir, 'var/lock'))).to.deep.equal([]);
  });

  it('takes over a lock of an earlier boot even though its pid is alive now', async function () {
    await writeFile(file, `1\n${BOOT_A}\n`); // pid 1 is always alive
    const lock = await acquireLock(file, { bootIdFile });
    expect(await readFile(file, 'utf8')).to.equal(`${process.pid}\n${BOOT_B}\n`);
    await lock.release();
  });

  it('refuses a lock of this boot whose pid is alive with LOCKED', async function () {
    await writeFile(file, `1\n${BOOT_B}\n`);
    const err = await acquireLock(file, { bootIdFile }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AkliteError);
    expect((err as AkliteError).code).to.equal('LOCKED');
  });

  it('lets the pid decide for a lock that records no boot id', async function () {
    await writeFile(file, '1\n');
    const err = await acquireLock(file, { bootIdFile }).catch((e: unknown) => e);
    expect((err as AkliteError).code).to.equal('LOCKED');
  });

  it('lets the pid decide when the current boot id cannot be read', async function () {
    await writeFile(file, `1\n${BOOT_A}\n`);
    await rm(bootIdFile);
    const err = await acquireLock(file, { bootIdFile }).catch((e: unknown) => e);
    expect((err as AkliteError).code).to.equal('LOCKED');
  });
});
