import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusCode } from '@offline-ota/format';
import {
  aklite,
  BUNDLECTL,
  cleanupAll,
  copyBundle,
  findFiles,
  flipByte,
  getFixtures,
  hashTree,
  mustRun,
  newDevice,
  reboot,
  runCmd,
  simStatus,
  treeDiff,
  type Fixtures,
} from './helpers.js';

async function pack(dir: string, file: string): Promise<string> {
  await mustRun(process.execPath, [BUNDLECTL, 'pack', dir, file]);
  return file;
}

/** Replaces every occurrence of `from` in the zip's bytes by `to` (same length). */
async function renameEntry(file: string, from: string, to: string): Promise<void> {
  expect(to.length).to.equal(from.length);
  const buf = await readFile(file);
  let i = buf.indexOf(from);
  expect(i, `entry ${from} in ${file}`).to.be.greaterThan(-1);
  while (i !== -1) {
    buf.write(to, i, 'latin1');
    i = buf.indexOf(from, i + 1);
  }
  await writeFile(file, buf);
}

/** Flips the last data byte of an entry (stored entries: the byte before the next signature). */
async function corruptEntryData(file: string, name: string): Promise<void> {
  const buf = await readFile(file);
  const header = buf.indexOf(name);
  const next = buf.indexOf('PK', header + name.length + 30);
  buf[next - 1] = buf[next - 1] ^ 0x01;
  await writeFile(file, buf);
}

const srcFile = (root: string, file: string, cmd: 'install' | 'check' = 'install') =>
  aklite(root, [cmd, '--src-file', file]);

describe('a single-file (zip) bundle', function () {
  this.timeout(180000);
  let fx: Fixtures;
  let zip: string;
  before(async () => {
    fx = await getFixtures();
    zip = await pack(fx.bundles.v2, join(fx.work, 'v2.zip'));
  });
  after(cleanupAll);

  describe('when it is valid', () => {
    it('is checked (16), installed (100) and run (0) without extracting it first', async () => {
      const root = await newDevice(fx);
      expect((await srcFile(root, zip, 'check')).code).to.equal(StatusCode.CheckinUpdateNewVersion);
      const r = await srcFile(root, zip);
      expect(r.code, r.stderr).to.equal(StatusCode.InstallNeedsReboot);
      await reboot(root);
      const run = await runCmd(root);
      expect(run.code, run.stderr).to.equal(StatusCode.Ok);
      expect((await simStatus(root)).booted.commit).to.equal(fx.commits[fx.t.v2]);
    });
  });

  describe('when an OSTree object inside it was tampered with before packing', () => {
    it('exits 70 and leaves the device untouched', async () => {
      const copy = await copyBundle(fx, fx.bundles.v2);
      const [obj] = await findFiles(join(copy, 'ostree_repo/objects'), /\.filez$/);
      await flipByte(obj);
      const bad = await pack(copy, join(fx.work, 'tampered-object.zip'));
      const root = await newDevice(fx);
      const before = await hashTree(root);
      expect((await srcFile(root, bad)).code).to.equal(StatusCode.VerificationFailed);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when an app layer’s bytes in the archive are corrupted', () => {
    it('exits 70 and leaves the device untouched', async () => {
      const bad = join(fx.work, 'corrupt-layer.zip');
      await writeFile(bad, await readFile(zip));
      const blobs = (
        await findFiles(join(fx.bundles.v2, 'apps/blobs/sha256'), /^[0-9a-f]{64}$/)
      ).map((p) => p.slice(p.lastIndexOf('/') + 1));
      // A gzip blob (an image layer or the compose bundle) is stored, not deflated, in the zip.
      let layer = '';
      for (const h of blobs) {
        const b = await readFile(join(fx.bundles.v2, 'apps/blobs/sha256', h));
        if (b[0] === 0x1f && b[1] === 0x8b) layer = h;
      }
      expect(layer).to.not.equal('');
      await corruptEntryData(bad, `apps/blobs/sha256/${layer}`);
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await srcFile(root, bad);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.VerificationFailed);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when an entry name escapes the bundle (`../`)', () => {
    it('exits 11 before writing anything', async () => {
      const bad = join(fx.work, 'hostile.zip');
      await writeFile(bad, await readFile(zip));
      const name = 'apps/blobs/sha256/';
      await renameEntry(bad, name, '../../../../../../'.slice(0, name.length));
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await srcFile(root, bad);
      expect(r.code, r.stdout + r.stderr).to.equal(StatusCode.CheckinSecurityError);
      expect(r.stderr).to.match(/do not use it/);
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });

  describe('when the file is truncated (the stick was pulled out while copying)', () => {
    it('is refused and leaves the device untouched', async () => {
      const bad = join(fx.work, 'truncated.zip');
      const bytes = await readFile(zip);
      await writeFile(bad, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
      const root = await newDevice(fx);
      const before = await hashTree(root);
      const r = await srcFile(root, bad);
      expect(r.code).to.not.equal(0);
      expect([StatusCode.CheckinSecurityError, StatusCode.CheckinMetadataNotFound]).to.include(
        r.code,
      );
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  });
});
