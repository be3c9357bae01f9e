import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { factoryPaths } from '@offline-ota/format';
import { createBundle } from '../../src/create.js';
import { BundleError } from '../../src/errors.js';
import { exists } from '../../src/fsutil.js';
import { showBundle, signBundle, verifyBundle } from '../../src/inspect.js';
import {
  isCompressedMagic,
  packBundle,
  ZIP_ENTRY_TIME,
  type PackBundleResult,
} from '../../src/pack.js';
import type { ProgressEvent } from '../../src/progress.js';
import { createTestFactory, type TestFactory } from '@offline-ota/testkit';
import { tempDir } from '../helpers.js';
import { entryData, readZip, type ZipFile } from '../zip-read.js';

const run = promisify(execFile);

/** Info-ZIP's own check of every entry (CRC and sizes); throws when it fails. */
async function unzipTest(path: string): Promise<void> {
  const { stdout } = await run('unzip', ['-tq', path]);
  expect(stdout).to.match(/No errors detected/);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** DOS date/time of 1980-01-01T00:00:00. */
const DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1;

async function expectRefusal(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
    expect.fail('expected a refusal');
  } catch (err) {
    expect(err).to.be.instanceOf(BundleError);
    expect((err as BundleError).code).to.equal(code);
  }
}

describe('packBundle', function () {
  this.timeout(60000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let tf: TestFactory;
  let bundle: string;
  let zipPath: string;
  let packed: PackBundleResult;
  let zip: ZipFile;
  const events: ProgressEvent[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-pack-'));
    tf = await createTestFactory({ dir, versions: [1] });
    bundle = join(dir, 'bundle');
    await createBundle({ factory: tf.factoryDir, target: tf.targets[0], dst: bundle, tag: 'main' });
    zipPath = join(dir, 'bundle.zip');
    packed = await packBundle({ src: bundle, dst: zipPath, onProgress: (e) => events.push(e) });
    zip = await readZip(zipPath);
  });
  after(async () => cleanup());

  it('gives the same bytes when the same bundle is packed twice', async () => {
    const again = join(dir, 'again.zip');
    const res = await packBundle({ src: bundle, dst: again });
    expect(sha256(await readFile(again))).to.equal(sha256(await readFile(zipPath)));
    expect(res.sha256).to.equal(packed.sha256);
  });

  it('reports the sha256 and size of the file it wrote', async () => {
    const bytes = await readFile(zipPath);
    expect(packed.sha256).to.equal(sha256(bytes));
    expect(packed.bytes).to.equal(bytes.length);
    expect(packed.zip64).to.equal(false);
  });

  it('holds the bundle tree at its top level, sorted by name, with fixed times and modes', () => {
    const names = zip.records.map((r) => r.name);
    expect(names).to.deep.equal([...names].sort());
    expect(names).to.include.members(['tuf/', 'tuf/bundle-targets.json', 'ostree_repo/config']);
    for (const r of zip.records) {
      expect(r.name).to.match(/^(tuf|ostree_repo|apps)\//);
      expect(r.dosDate, r.name).to.equal(DOS_DATE_1980);
      expect(r.dosTime, r.name).to.equal(0);
      expect(r.unixMode, r.name).to.equal(r.name.endsWith('/') ? 0o40755 : 0o100644);
    }
    expect(ZIP_ENTRY_TIME.toISOString()).to.equal('1980-01-01T00:00:00.000Z');
  });

  it("passes Info-ZIP's test of every entry (unzip -t)", async () => {
    await unzipTest(zipPath);
  });

  it("leaves out OSTree's working files (.lock, tmp/)", () => {
    const names = zip.records.map((r) => r.name);
    expect(names).not.to.include('ostree_repo/.lock');
    expect(names.filter((n) => n.startsWith('ostree_repo/tmp'))).to.deep.equal([]);
    expect(names).to.include('ostree_repo/refs/heads/');
  });

  it('stores already-compressed entries (OSTree .filez, gzip blobs) and deflates the rest', () => {
    const files = zip.records.filter((r) => !r.name.endsWith('/'));
    const filez = files.filter((r) => r.name.endsWith('.filez'));
    expect(filez).not.to.be.empty;
    for (const r of filez) expect(r.method, r.name).to.equal(0);
    const blobs = files.filter((r) => r.name.startsWith('apps/blobs/sha256/'));
    for (const r of blobs) {
      const gzip = isCompressedMagic(entryData(zip, r).subarray(0, 4));
      expect(r.method, r.name).to.equal(gzip ? 0 : 8);
    }
    expect(blobs.some((r) => r.method === 0)).to.equal(true);
    for (const r of files.filter((f) => f.name.endsWith('.json') && f.size > 0))
      expect(r.method, r.name).to.equal(8);
    expect(packed.stored + packed.deflated).to.equal(files.length);
  });

  it('unpacks to the same files, which still pass the device check', async () => {
    const out = join(dir, 'unpacked');
    for (const r of zip.records) {
      const p = join(out, r.name);
      if (r.name.endsWith('/')) {
        await mkdir(p, { recursive: true });
        continue;
      }
      const data = entryData(zip, r);
      expect(data.length, r.name).to.equal(r.size);
      expect(sha256(data), r.name).to.equal(sha256(await readFile(join(bundle, r.name))));
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, data);
    }
    const res = await verifyBundle({
      bundle: out,
      rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
    });
    expect(res.status, res.message).to.equal(0);
  });

  describe('the packed zip, read in place', () => {
    it('shows the same as the directory bundle', async () => {
      const fromZip = await showBundle(zipPath);
      const fromDir = await showBundle(bundle);
      expect({ ...fromZip, bundle: '', remaining: '' }).to.deep.equal({
        ...fromDir,
        bundle: '',
        remaining: '',
      });
      expect(fromZip.bundle).to.equal(zipPath);
    });

    it('passes the device check', async () => {
      const res = await verifyBundle({
        bundle: zipPath,
        rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
      });
      expect(res.status, res.message).to.equal(0);
      expect(res.available).to.deep.equal([tf.targets[0]]);
    });

    it('fails the device check when truncated, as a half-written stick would be', async () => {
      const cut = join(dir, 'cut.zip');
      const bytes = await readFile(zipPath);
      await writeFile(cut, bytes.subarray(0, bytes.length - 200));
      const res = await verifyBundle({
        bundle: cut,
        rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
      });
      expect(res.ok).to.equal(false);
      expect(res.status).not.to.equal(0);
    });

    it('cannot be signed in place', async () => {
      await expectRefusal(signBundle(zipPath, tf.offlineKeys.targets[0]), 'INVALID_ARGUMENT');
    });
  });

  it('reports byte progress that ends at the total', () => {
    const bytes = events.filter((e) => e.step === 'pack' && e.bytes !== undefined);
    expect(bytes).not.to.be.empty;
    const last = bytes.at(-1)!.bytes!;
    expect(last.done).to.equal(last.total);
    expect(events.some((e) => e.step === 'warning')).to.equal(false);
  });

  it('warns through the progress callback once the file passes the FAT32 limit', async () => {
    const seen: ProgressEvent[] = [];
    await packBundle({
      src: bundle,
      dst: join(dir, 'warned.zip'),
      warnAboveBytes: 1000,
      onProgress: (e) => seen.push(e),
    });
    const warnings = seen.filter((e) => e.step === 'warning');
    expect(warnings).to.have.length(1);
    expect(warnings[0].message).to.match(/FAT32/);
  });

  describe('ZIP64', () => {
    it('writes ZIP64 end records when forced, and the archive reads back', async () => {
      const forced = join(dir, 'zip64.zip');
      const res = await packBundle({ src: bundle, dst: forced, forceZip64: true });
      expect(res.zip64).to.equal(true);
      const z = await readZip(forced);
      expect(z.zip64).to.equal(true);
      expect(z.records.map((r) => r.name)).to.deep.equal(zip.records.map((r) => r.name));
      for (const r of z.records.filter((x) => !x.name.endsWith('/')))
        expect(entryData(z, r).length).to.equal(r.size);
      await unzipTest(forced);
      const check = await verifyBundle({
        bundle: forced,
        rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
      });
      expect(check.status, check.message).to.equal(0);
    });

    it('is used where a count, size or offset passes its limit, and the device reads it', async () => {
      // Limits lowered (a test-only option) to stand for 65,535 entries and 4 GiB.
      const low = join(dir, 'zip64-low.zip');
      const res = await packBundle({
        src: bundle,
        dst: low,
        zip64Thresholds: { entries: 10, bytes: 4096 },
      });
      expect(res.zip64).to.equal(true);
      const z = await readZip(low);
      expect(z.zip64).to.equal(true);
      expect(z.records.map((r) => r.name)).to.deep.equal(zip.records.map((r) => r.name));
      await unzipTest(low);
      const check = await verifyBundle({
        bundle: low,
        rootFile: factoryPaths(tf.factoryDir).root('ci', 1),
      });
      expect(check.status, check.message).to.equal(0);
    });
  });

  describe('when the bundle holds a symbolic link', () => {
    it('refuses with MEDIA_UNSAFE and leaves no file behind', async () => {
      const bad = join(dir, 'with-link');
      await cp(bundle, bad, { recursive: true });
      await symlink('config', join(bad, 'ostree_repo', 'config-link'));
      const dst = join(dir, 'out', 'link.zip');
      await mkdir(dirname(dst), { recursive: true });
      await expectRefusal(packBundle({ src: bad, dst }), 'MEDIA_UNSAFE');
      expect(await readdir(dirname(dst))).to.deep.equal([]);
    });
  });

  describe('when the destination is taken', () => {
    it('refuses a file that exists', async () => {
      await expectRefusal(packBundle({ src: bundle, dst: zipPath }), 'DESTINATION_NOT_EMPTY');
    });

    it('refuses a zip inside the bundle itself', async () => {
      const inside = join(bundle, 'apps', 'x.zip');
      await expectRefusal(packBundle({ src: bundle, dst: inside }), 'INVALID_ARGUMENT');
      expect(await exists(inside)).to.equal(false);
    });
  });

  it('recognises gzip and zstd by their magic bytes', () => {
    expect(isCompressedMagic(Buffer.from([0x1f, 0x8b, 8, 0]))).to.equal(true);
    expect(isCompressedMagic(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).to.equal(true);
    expect(isCompressedMagic(Buffer.from('{"a"'))).to.equal(false);
    expect(isCompressedMagic(Buffer.from([0x1f]))).to.equal(false);
  });
});
