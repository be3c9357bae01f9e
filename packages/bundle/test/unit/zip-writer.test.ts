import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { openZipBundle } from '@offline-ota/format';
import { BundleError } from '../../src/errors.js';
import { isStoredEntry } from '../../src/pack.js';
import { ZipWriter, type ZipWriterOptions, type ZipWriterSummary } from '../../src/zip-writer.js';
import { tempDir } from '../helpers.js';
import { readZip, type ZipFile } from '../zip-read.js';

const run = promisify(execFile);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What a test adds: a directory, a file on disk, or content in memory. */
type Input =
  { name: string; dir: true } | { name: string; path: string } | { name: string; data: Buffer };

/** Info-ZIP's own check of every entry (CRC and sizes); throws when it fails. */
async function unzipTest(path: string): Promise<void> {
  const { stdout } = await run('unzip', ['-tq', path]);
  expect(stdout).to.match(/No errors detected/);
}

/** The fields of the local header of a central record, straight from the bytes. */
function localHeaderOf(zip: ZipFile, offset: number) {
  const b = zip.bytes;
  expect(b.readUInt32LE(offset)).to.equal(0x04034b50);
  return {
    version: b.readUInt16LE(offset + 4),
    flags: b.readUInt16LE(offset + 6),
    crc32: b.readUInt32LE(offset + 14),
    compressedSize: b.readUInt32LE(offset + 18),
    size: b.readUInt32LE(offset + 22),
    extraLength: b.readUInt16LE(offset + 28),
  };
}

describe('ZipWriter', function () {
  this.timeout(60000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let inputs: Input[];
  /** Expected content of every file entry. */
  const content = new Map<string, Buffer>();
  let count = 0;

  async function write(
    entries: readonly Input[],
    opts: Partial<ZipWriterOptions> = {},
  ): Promise<{ path: string; summary: ZipWriterSummary }> {
    const path = join(dir, `out-${++count}.zip`);
    // Write-only: a writer that read the archive back would fail here with EBADF.
    const fh = await open(path, 'wx');
    try {
      const zip = new ZipWriter(fh, { name: path, level: 6, ...opts });
      for (const e of entries) {
        const store = (head: Buffer) => isStoredEntry(e.name, head);
        if ('dir' in e) await zip.addDirectory(e.name);
        else if ('data' in e) await zip.addData(e.name, e.data, store);
        else await zip.addFile(e.name, e.path, (await readFile(e.path)).length, store);
      }
      return { path, summary: await zip.finish() };
    } finally {
      await fh.close();
    }
  }

  /** Reads every file back through the device's reader, which checks CRC and sizes. */
  async function expectReadBack(path: string, names: readonly string[]): Promise<void> {
    const bundle = await openZipBundle(path);
    try {
      expect(bundle.entries().map((e) => e.name)).to.deep.equal(
        names.filter((n) => !n.endsWith('/')),
      );
      const staging = join(dir, `staging-${++count}`);
      await mkdir(staging);
      for (const { name } of bundle.entries()) {
        const want = content.get(name)!;
        const got = await bundle.copyEntryTo(name, join(staging, name), {
          stagingRoot: staging,
          expectSha256: sha256(want),
          expectSize: want.length,
        });
        expect(got.size, name).to.equal(want.length);
      }
    } finally {
      await bundle.close();
    }
    await unzipTest(path);
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('bundlectl-zip-writer-'));
    const file = async (name: string, data: Buffer): Promise<Input> => {
      const path = join(dir, 'src', name.replaceAll('/', '_'));
      await mkdir(join(dir, 'src'), { recursive: true });
      await writeFile(path, data);
      content.set(name, data);
      return { name, path };
    };
    const text = Buffer.from(
      Array.from({ length: 20000 }, (_, i) => `line ${i} of a compressible file\n`).join(''),
    );
    const small = Buffer.from('{"small":"json"}');
    content.set('tuf/inline.json', small);
    // In name order, as pack writes them.
    inputs = [
      { name: 'apps/', dir: true },
      await file('apps/blobs/sha256/layer', gzipSync(text)),
      // over the 1 MiB output buffer: CRC and sizes go in a data descriptor
      await file('apps/blobs/sha256/random', randomBytes(1536 * 1024 + 17)),
      // over the 256 KiB read buffer: deflated as a stream
      await file('apps/blobs/sha256/text', text),
      await file('apps/empty', Buffer.alloc(0)),
      { name: 'ostree_repo/', dir: true },
      await file('ostree_repo/objects/ab/cdef.filez', randomBytes(1100 * 1024)),
      { name: 'tuf/', dir: true },
      { name: 'tuf/inline.json', data: small },
      await file('tuf/targets.json', Buffer.from('{"signed":{"targets":{}}}')),
    ];
  });
  after(async () => cleanup());

  describe('an archive of directories, small and large files', () => {
    let path: string;
    let summary: ZipWriterSummary;
    let zip: ZipFile;

    before(async () => {
      ({ path, summary } = await write(inputs));
      zip = await readZip(path);
    });

    it('reads back through the bundle reader and Info-ZIP with every byte intact', async () => {
      await expectReadBack(
        path,
        inputs.map((e) => e.name),
      );
    });

    it('reports the size and sha256 of the file on disk', async () => {
      const bytes = await readFile(path);
      expect(summary.bytes).to.equal(bytes.length);
      expect(summary.sha256).to.equal(sha256(bytes));
      expect(summary.entries).to.equal(inputs.length);
      expect(summary.zip64).to.equal(false);
    });

    it('stores compressed and empty files, deflates the rest', () => {
      const method = new Map(zip.records.map((r) => [r.name, r.method]));
      expect(method.get('apps/blobs/sha256/layer')).to.equal(0);
      expect(method.get('apps/empty')).to.equal(0);
      expect(method.get('ostree_repo/objects/ab/cdef.filez')).to.equal(0);
      expect(method.get('apps/blobs/sha256/text')).to.equal(8);
      expect(method.get('tuf/inline.json')).to.equal(8);
      expect([summary.stored, summary.deflated]).to.deep.equal([3, 4]);
    });

    it('completes the local header of every entry that fits its output buffer', () => {
      const large = new Set(['apps/blobs/sha256/random', 'ostree_repo/objects/ab/cdef.filez']);
      for (const r of zip.records.filter((x) => !large.has(x.name))) {
        const local = localHeaderOf(zip, r.offset);
        expect(local.flags, r.name).to.equal(0);
        expect(local.version, r.name).to.equal(20);
        expect(local.extraLength, r.name).to.equal(0);
        expect(local.crc32, r.name).to.equal(r.crc32);
        expect(local.compressedSize, r.name).to.equal(r.compressedSize);
        expect(local.size, r.name).to.equal(r.size);
      }
    });

    it('puts CRC and sizes of an entry larger than its output buffer in a data descriptor', () => {
      for (const name of ['apps/blobs/sha256/random', 'ostree_repo/objects/ab/cdef.filez']) {
        const r = zip.records.find((x) => x.name === name)!;
        const local = localHeaderOf(zip, r.offset);
        expect(local.flags, name).to.equal(0x0008);
        expect([local.crc32, local.compressedSize, local.size], name).to.deep.equal([0, 0, 0]);
        // The descriptor follows the data: signature, CRC-32, compressed size, size.
        const at = r.offset + 30 + Buffer.byteLength(name) + local.extraLength + r.compressedSize;
        const b = zip.bytes;
        expect(b.readUInt32LE(at), name).to.equal(0x08074b50);
        expect(
          [b.readUInt32LE(at + 4), b.readUInt32LE(at + 8), b.readUInt32LE(at + 12)],
          name,
        ).to.deep.equal([r.crc32, r.compressedSize, r.size]);
        expect(r.flags, `${name}: central record`).to.equal(0x0008);
      }
    });

    it('hashes the archive as it writes it, never reading it back (its handle is write-only)', async () => {
      const again = await write(inputs);
      expect(again.summary.sha256).to.equal(sha256(await readFile(again.path)));
    });

    it('gives the same bytes when written again', async () => {
      const again = await write(inputs);
      expect(again.summary.sha256).to.equal(summary.sha256);
    });
  });

  describe('ZIP64', () => {
    it('when forced, puts a ZIP64 field in every header and writes the ZIP64 end records', async () => {
      const { path, summary } = await write(inputs, { forceZip64: true });
      expect(summary.zip64).to.equal(true);
      const zip = await readZip(path);
      expect(zip.zip64).to.equal(true);
      for (const r of zip.records) {
        const local = localHeaderOf(zip, r.offset);
        expect(local.version, r.name).to.equal(45);
        expect(local.extraLength, r.name).to.equal(20);
        expect([local.compressedSize, local.size], r.name).to.deep.equal([0xffffffff, 0xffffffff]);
      }
      // The classic end record defers every field to the ZIP64 one.
      const eocd = zip.bytes.subarray(zip.bytes.length - 22);
      expect(eocd.readUInt16LE(10)).to.equal(0xffff);
      expect(eocd.readUInt32LE(16)).to.equal(0xffffffff);
      await expectReadBack(
        path,
        inputs.map((e) => e.name),
      );
    });

    it('uses ZIP64 fields only for the values past its thresholds', async () => {
      const { path, summary } = await write(inputs, {
        zip64Thresholds: { bytes: 600 * 1024, entries: 5 },
      });
      expect(summary.zip64).to.equal(true);
      const zip = await readZip(path);
      expect(zip.zip64).to.equal(true);
      const local = new Map(zip.records.map((r) => [r.name, localHeaderOf(zip, r.offset)]));
      // Large entries reserve a ZIP64 field in their local header ...
      expect(local.get('apps/blobs/sha256/random')!.extraLength).to.equal(20);
      expect(local.get('apps/blobs/sha256/text')!.extraLength).to.equal(20);
      // ... small ones do not, even past the offset threshold (the local header has no offset).
      expect(local.get('apps/')!.extraLength).to.equal(0);
      expect(local.get('tuf/inline.json')!.extraLength).to.equal(0);
      expect(zip.records.find((r) => r.name === 'tuf/inline.json')!.offset).to.be.above(600 * 1024);
      await expectReadBack(
        path,
        inputs.map((e) => e.name),
      );
    });

    it('writes the ZIP64 end records past 65,535 entries', async () => {
      const many: Input[] = [];
      for (let i = 0; i < 70000; i++) {
        const name = `ostree_repo/objects/${(i % 256).toString(16).padStart(2, '0')}/${i}.filez`;
        const data = Buffer.from(`entry ${i}`);
        content.set(name, data);
        many.push({ name, data });
      }
      many.sort((a, b) => (a.name < b.name ? -1 : 1));
      const { path, summary } = await write(many);
      expect(summary.entries).to.equal(70000);
      expect(summary.zip64).to.equal(true);
      const zip = await readZip(path);
      expect(zip.zip64).to.equal(true);
      expect(zip.records).to.have.length(70000);
      // Offsets and sizes stay small: no entry needs a ZIP64 field.
      expect(localHeaderOf(zip, zip.records[69999].offset).extraLength).to.equal(0);
      const bundle = await openZipBundle(path);
      try {
        expect(bundle.entries()).to.have.length(70000);
        const last = many[69999].name;
        expect(await bundle.readSmall(last, 100)).to.deep.equal(content.get(last));
      } finally {
        await bundle.close();
      }
      await unzipTest(path);
    });
  });

  describe('when a file does not hold the size it was given', () => {
    for (const name of ['tuf/targets.json', 'apps/blobs/sha256/random']) {
      it(`fails with IO_FAILED and names the file (${name})`, async () => {
        const e = inputs.find((x) => x.name === name) as { name: string; path: string };
        const fh = await open(join(dir, `changed-${++count}.zip`), 'wx+');
        try {
          const zip = new ZipWriter(fh, { name: 'changed.zip', level: 6 });
          const size = (await readFile(e.path)).length;
          await zip.addFile(e.name, e.path, size - 1, () => false);
          expect.fail('expected a refusal');
        } catch (err) {
          expect(err).to.be.instanceOf(BundleError);
          expect((err as BundleError).code).to.equal('IO_FAILED');
          expect((err as BundleError).file).to.equal(e.path);
          expect((err as Error).message).to.match(/changed while it was being packed/);
        } finally {
          await fh.close();
        }
      });
    }
  });

  it("refuses a name longer than the device's reader accepts (1,024 bytes)", async () => {
    const fh = await open(join(dir, 'long-names.zip'), 'wx+');
    try {
      const zip = new ZipWriter(fh, { name: 'long-names.zip', level: 6 });
      await zip.addData(`apps/${'x'.repeat(1019)}`, Buffer.from('x'), () => false);
      try {
        await zip.addData(`apps/${'y'.repeat(1020)}`, Buffer.from('x'), () => false);
        expect.fail('expected a refusal of a name of 1,025 bytes');
      } catch (err) {
        expect((err as BundleError).code).to.equal('INVALID_ARGUMENT');
      }
    } finally {
      await fh.close();
    }
  });

  it('refuses a name that is not printable ASCII', async () => {
    const fh = await open(join(dir, 'names.zip'), 'wx+');
    try {
      const zip = new ZipWriter(fh, { name: 'names.zip', level: 6 });
      for (const name of ['apps/caf\u00e9', 'apps/tab\there', '']) {
        try {
          await zip.addData(name, Buffer.from('x'), () => false);
          expect.fail(`expected a refusal of ${JSON.stringify(name)}`);
        } catch (err) {
          expect((err as BundleError).code).to.equal('INVALID_ARGUMENT');
        }
      }
    } finally {
      await fh.close();
    }
  });
});
