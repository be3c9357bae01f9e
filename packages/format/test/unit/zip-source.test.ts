import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { FormatError, type FormatErrorCode } from '../../src/errors.js';
import { CAPS } from '../../src/layout.js';
import { openZipBundle, type ZipBundle, type ZipBundleOptions } from '../../src/zip-source.js';
import { writeSparseZip, zipBytes, type ZipItem } from './zip-writer.js';

// ---------------------------------------------------------------------------------------
// Fixtures

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const json = (v: unknown) => Buffer.from(JSON.stringify({ signatures: [], signed: v }));
const TUF = {
  '1.root.json': json({ _type: 'root', version: 1 }),
  '2.root.json': json({ _type: 'root', version: 2 }),
  'timestamp.json': json({ _type: 'timestamp', version: 7 }),
  'snapshot.json': json({ _type: 'snapshot', version: 7 }),
  'targets.json': json({ _type: 'targets', version: 7, pad: 'x'.repeat(4000) }),
  'bundle-targets.json': json({ _type: 'bundle-targets', version: 1 }),
};
const LAYER = randomBytes(300 * KiB); // looks compressed: stored
const LAYER_HEX = sha(LAYER);
const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, layers: [], pad: 'y'.repeat(9000) }),
);
const MANIFEST_HEX = sha(MANIFEST);
const COMMIT = randomBytes(400);
const FILEZ = randomBytes(70 * KiB);
const OBJ_COMMIT = `ostree_repo/objects/${sha(COMMIT).slice(0, 2)}/${sha(COMMIT).slice(2)}.commit`;
const OBJ_FILEZ = `ostree_repo/objects/${sha(FILEZ).slice(0, 2)}/${sha(FILEZ).slice(2)}.filez`;
const REPO_CONFIG = '[core]\nrepo_version=1\nmode=archive-z2\n';

function validItems(): ZipItem[] {
  return [
    { name: 'tuf/', method: 0 },
    ...Object.entries(TUF).map(([n, data], i) => ({
      name: `tuf/${n}`,
      data,
      method: i % 2 === 0 ? 8 : 0,
    })),
    { name: 'tuf/notes.txt', data: 'not read' },
    { name: 'ostree_repo/config', data: REPO_CONFIG },
    { name: OBJ_COMMIT, data: COMMIT, descriptor: true },
    { name: OBJ_FILEZ, data: FILEZ, method: 0 },
    { name: 'ostree_repo/refs/heads/', method: 0 },
    { name: 'ostree_repo/empty-stored', data: '', method: 0 },
    { name: 'ostree_repo/empty-deflated', data: '', method: 8 },
    { name: `apps/blobs/sha256/${LAYER_HEX}`, data: LAYER, method: 0 },
    { name: `apps/blobs/sha256/${MANIFEST_HEX}`, data: MANIFEST, method: 8 },
    {
      name: `apps/apps/shellhttpd/${MANIFEST_HEX}/uri`,
      data: `h/f/shellhttpd@sha256:${MANIFEST_HEX}`,
    },
  ];
}

interface Work {
  dir: string;
  zip: string;
  staging: string;
}

async function makeWork(bytes?: Buffer): Promise<Work> {
  const dir = await mkdtemp(join(tmpdir(), 'zip-source-test-'));
  const zip = join(dir, 'bundle.zip');
  const staging = join(dir, 'staging');
  await mkdir(staging);
  if (bytes !== undefined) await writeFile(zip, bytes);
  return { dir, zip, staging };
}

/** The staging directory is empty and nothing appeared next to it. */
async function expectNothingWritten(w: Work): Promise<void> {
  expect(await readdir(w.staging)).to.deep.equal([]);
  expect((await readdir(w.dir)).sort()).to.deep.equal(['bundle.zip', 'staging']);
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return expect.fail('expected the promise to reject');
}

async function expectCode(p: Promise<unknown>, code: FormatErrorCode): Promise<FormatError> {
  const err = await rejectionOf(p);
  expect(err, String(err)).to.be.instanceOf(FormatError);
  expect((err as FormatError).code, (err as FormatError).message).to.equal(code);
  return err as FormatError;
}

const stale: string[] = [];
afterEach(async () => {
  for (const d of stale.splice(0)) await rm(d, { recursive: true, force: true });
});

async function workWith(items: readonly ZipItem[] | Buffer): Promise<Work> {
  const w = await makeWork(Buffer.isBuffer(items) ? items : zipBytes(items));
  stale.push(w.dir);
  return w;
}

// ---------------------------------------------------------------------------------------

describe('zip-source', () => {
  describe('openZipBundle on a bundle zip of stored and deflated entries', () => {
    let w: Work;
    let zip: ZipBundle;

    beforeEach(async () => {
      w = await workWith(validItems());
      zip = await openZipBundle(w.zip);
    });
    afterEach(() => zip.close());

    it('lists every file entry with its sizes and no directory entry', () => {
      const names = zip.entries().map((e) => e.name);
      expect(names).to.include(OBJ_FILEZ).and.not.include('tuf/');
      expect(names).to.have.length(validItems().length - 2);
      const layer = zip.entries().find((e) => e.name.endsWith(LAYER_HEX));
      expect(layer).to.deep.equal({
        name: `apps/blobs/sha256/${LAYER_HEX}`,
        size: LAYER.length,
        compressedSize: LAYER.length,
      });
      expect(zip.has(OBJ_COMMIT)).to.equal(true);
      expect(zip.has('tuf')).to.equal(false);
    });

    it('reads the allow-listed tuf files, byte for byte, and nothing else of tuf/', async () => {
      const files = await zip.readTufFiles();
      expect([...files.keys()].sort()).to.deep.equal(Object.keys(TUF).sort());
      for (const [n, data] of Object.entries(TUF)) expect(files.get(n)).to.deep.equal(data);
    });

    it('reads a small entry written with a data descriptor', async () => {
      expect(await zip.readSmall(OBJ_COMMIT, 1024)).to.deep.equal(COMMIT);
    });

    it('reads empty entries, stored and deflated', async () => {
      expect(await zip.readSmall('ostree_repo/empty-stored', 0)).to.have.length(0);
      expect(await zip.readSmall('ostree_repo/empty-deflated', 0)).to.have.length(0);
    });

    it('refuses to read an entry recorded larger than the cap, with FILE_TOO_LARGE', async () => {
      await expectCode(zip.readSmall(`apps/blobs/sha256/${MANIFEST_HEX}`, 100), 'FILE_TOO_LARGE');
    });

    it('refuses a name it does not hold, with FILE_MISSING', async () => {
      await expectCode(zip.readSmall('tuf/missing.json', 100), 'FILE_MISSING');
    });

    it('copies a stored blob with its sha256 checked, creating the directories and leaving no temp file', async () => {
      const dest = join(w.staging, 'blobs', 'sha256', LAYER_HEX);
      const seen: number[] = [];
      const res = await zip.copyEntryTo(`apps/blobs/sha256/${LAYER_HEX}`, dest, {
        stagingRoot: w.staging,
        expectSha256: LAYER_HEX,
        expectSize: LAYER.length,
        onProgress: (p) => seen.push(p.done),
      });
      expect(res).to.deep.equal({ sha256: LAYER_HEX, size: LAYER.length });
      expect(await readFile(dest)).to.deep.equal(LAYER);
      expect(await readdir(join(w.staging, 'blobs', 'sha256'))).to.deep.equal([LAYER_HEX]);
      expect(seen.at(-1)).to.equal(LAYER.length);
    });

    it('copies a deflated blob with its sha256 checked', async () => {
      const dest = join(w.staging, MANIFEST_HEX);
      const res = await zip.copyEntryTo(`apps/blobs/sha256/${MANIFEST_HEX}`, dest, {
        stagingRoot: w.staging,
        expectSha256: MANIFEST_HEX,
      });
      expect(res.size).to.equal(MANIFEST.length);
      expect(await readFile(dest)).to.deep.equal(MANIFEST);
    });

    it('replaces an existing destination atomically', async () => {
      const dest = join(w.staging, MANIFEST_HEX);
      await writeFile(dest, 'old');
      await zip.copyEntryTo(`apps/blobs/sha256/${MANIFEST_HEX}`, dest, { stagingRoot: w.staging });
      expect(await readFile(dest)).to.deep.equal(MANIFEST);
    });

    it('extracts ostree_repo/ into the staging directory without the prefix', async () => {
      let last = { done: 0, total: -1 };
      const n = await zip.extractPrefix('ostree_repo/', w.staging, {
        onProgress: (p) => (last = p),
      });
      expect(n).to.equal(5);
      expect(await readFile(join(w.staging, 'config'), 'utf8')).to.equal(REPO_CONFIG);
      const rel = (p: string) => join(w.staging, p.slice('ostree_repo/'.length));
      expect(await readFile(rel(OBJ_COMMIT))).to.deep.equal(COMMIT);
      expect(await readFile(rel(OBJ_FILEZ))).to.deep.equal(FILEZ);
      expect((await stat(join(w.staging, 'refs', 'heads'))).isDirectory()).to.equal(true);
      expect(last.done).to.equal(last.total);
      expect(last.total).to.equal(REPO_CONFIG.length + COMMIT.length + FILEZ.length);
    });

    it('refuses every read after close', async () => {
      await zip.close();
      await expectCode(zip.readTufFiles(), 'INVALID_ARGUMENT');
      await expectCode(zip.readSmall(OBJ_COMMIT, 1024), 'INVALID_ARGUMENT');
    });
  });

  describe('openZipBundle on a hostile archive', () => {
    const ts = { name: 'tuf/timestamp.json', data: TUF['timestamp.json'] };
    const blob = (data: Buffer | string): ZipItem => ({
      name: `apps/blobs/sha256/${sha(data)}`,
      data,
    });
    const valid = () => zipBytes([ts, blob('a'), blob('b')]);
    const cases: {
      title: string;
      items?: ZipItem[];
      bytes?: () => Buffer;
      opts?: ZipBundleOptions;
      code: FormatErrorCode;
    }[] = [
      {
        title: 'an entry named ../evil',
        items: [ts, { name: '../evil', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'an absolute entry name',
        items: [ts, { name: '/tuf/x.json', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'an entry named tuf/../../x',
        items: [ts, { name: 'tuf/../../x', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'an entry named tuf/./x',
        items: [ts, { name: 'tuf/./x', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name with backslashes',
        items: [ts, { name: 'tuf\\..\\..\\evil', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name with a drive letter',
        items: [ts, { name: 'C:/evil', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name with a NUL byte',
        items: [ts, { name: 'tuf/x\0.json', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name with a newline',
        items: [ts, { name: 'tuf/x\n.json', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a non-ASCII name',
        items: [ts, { name: Buffer.from('apps/caf\u00e9', 'utf8'), data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name segment ending with a dot, which FAT drops',
        items: [ts, { name: 'apps/x./y', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a name segment longer than FAT holds',
        items: [ts, { name: `apps/${'x'.repeat(256)}`, data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'an empty path segment',
        items: [ts, { name: 'apps//x', data: 'x' }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a symbolic link entry',
        items: [ts, { name: 'apps/blobs/link', data: '../../../etc', mode: 0o120777, method: 0 }],
        code: 'PATH_ESCAPE',
      },
      {
        title: 'a FIFO entry',
        items: [ts, { name: 'apps/fifo', data: '', mode: 0o010644, method: 0 }],
        code: 'INVALID_METADATA',
      },
      { title: 'duplicate names', items: [ts, blob('a'), blob('a')], code: 'INVALID_METADATA' },
      {
        title: 'names that differ only in case',
        items: [ts, { name: 'tuf/Timestamp.json', data: 'x' }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a name that is both a file and a directory',
        items: [ts, { name: 'apps/x', data: 'x' }, { name: 'apps/X/y', data: 'y' }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a file at the top level',
        items: [ts, { name: 'README.txt', data: 'x' }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a directory outside the allow-list',
        items: [ts, { name: 'etc/passwd', data: 'x' }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'an encrypted entry',
        items: [ts, { ...blob('a'), flags: 0x01 }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'an unsupported compression method',
        items: [ts, { ...blob('a'), method: 12 }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a stored entry whose sizes disagree',
        items: [ts, { ...blob('abc'), method: 0, size: 2 }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'an entry whose data is shorter than its header says',
        items: [{ ...ts, method: 0, size: 900, compressedSize: 900 }, blob('a')],
        code: 'INVALID_METADATA',
      },
      {
        title: 'two entries sharing their data (overlapping zip bomb)',
        items: [ts, blob('a'), { name: 'apps/other', data: 'a', sameOffsetAs: 1 }],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a file cut short (no end of central directory)',
        bytes: () => valid().subarray(0, valid().length - 10),
        code: 'INVALID_METADATA',
      },
      {
        title: 'a file cut in half',
        bytes: () => valid().subarray(0, Math.floor(valid().length / 2)),
        code: 'INVALID_METADATA',
      },
      {
        title: 'a second end of central directory record in the tail',
        items: [
          ts,
          {
            name: Buffer.concat([
              Buffer.from('apps/'),
              Buffer.from('PK\x05\x06'),
              Buffer.alloc(18),
            ]),
          },
        ],
        code: 'INVALID_METADATA',
      },
      {
        title: 'ZIP64 sizes without their ZIP64 extra field',
        items: [
          ts,
          {
            name: 'apps/big',
            method: 0,
            size: 5 * GiB,
            compressedSize: 5 * GiB,
            dropZip64Extra: true,
          },
        ],
        code: 'INVALID_METADATA',
      },
      {
        title: 'a file that is not a zip',
        bytes: () => randomBytes(4000),
        code: 'INVALID_METADATA',
      },
      {
        title: 'a tuf file above its cap',
        items: [{ name: 'tuf/timestamp.json', data: randomBytes(CAPS.timestamp + 1), method: 0 }],
        code: 'FILE_TOO_LARGE',
      },
      {
        title: 'an entry recorded above the 16 GiB cap of any entry (ZIP64 sizes)',
        items: [
          ts,
          { name: 'apps/blobs/huge', method: 0, size: 17 * GiB, compressedSize: 17 * GiB },
        ],
        code: 'FILE_TOO_LARGE',
      },
      {
        title: 'entries adding up to more than the total limit',
        items: [ts, blob(randomBytes(3000)), blob(randomBytes(3000))],
        opts: { maxTotalSize: 5000 },
        code: 'FILE_TOO_LARGE',
      },
      {
        title: 'more entries than the limit',
        items: [ts, blob('a'), blob('b')],
        opts: { maxEntries: 2 },
        code: 'FILE_TOO_LARGE',
      },
    ];

    for (const c of cases) {
      it(`refuses ${c.title} with ${c.code} and writes nothing`, async () => {
        const w = await workWith(c.bytes ? c.bytes() : zipBytes(c.items ?? []));
        await expectCode(openZipBundle(w.zip, c.opts), c.code);
        await expectNothingWritten(w);
      });
    }

    it('refuses a deflate bomb (50 MiB of zeros) with FILE_TOO_LARGE before inflating it', async function () {
      this.timeout(20_000);
      const zeros = Buffer.alloc(50 * MiB);
      const w = await workWith([ts, { name: 'apps/blobs/sha256/bomb', data: zeros }]);
      const err = await expectCode(openZipBundle(w.zip), 'FILE_TOO_LARGE');
      expect(err.message).to.match(/apps\/blobs\/sha256\/bomb.*ratio.*do not use it/);
      await expectNothingWritten(w);
    });

    it('accepts a highly compressible entry of up to 1 MiB, below the ratio floor', async () => {
      const zeros = Buffer.alloc(1 * MiB);
      const w = await workWith([ts, { name: 'apps/zeros', data: zeros }]);
      const zip = await openZipBundle(w.zip);
      try {
        expect(await zip.readSmall('apps/zeros', MiB)).to.deep.equal(zeros);
      } finally {
        await zip.close();
      }
    });

    it('names the entry and what to do in its message', async () => {
      const w = await workWith([ts, { name: '../evil', data: 'x' }]);
      const err = await expectCode(openZipBundle(w.zip), 'PATH_ESCAPE');
      expect(err.message).to.equal(
        'bundle.zip: entry `../evil` has a `..` segment; the archive is not a bundle made by bundlectl pack; do not use it',
      );
    });
  });

  describe('reading an entry whose data disagrees with the central directory', () => {
    const name = `apps/blobs/sha256/${LAYER_HEX}`;
    const dest = (w: Work) => join(w.staging, 'blobs', LAYER_HEX);

    /** The valid bundle with one byte of the stored layer's data flipped. */
    function flippedLayer(): Buffer {
      const bytes = zipBytes(validItems());
      const at = bytes.indexOf(LAYER.subarray(0, 64));
      bytes[at + 1000] ^= 0xff;
      return bytes;
    }

    it('refuses a CRC mismatch in stored data with CONTENT_INVALID', async () => {
      const w = await workWith(flippedLayer());
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readSmall(name, CAPS.layer), 'CONTENT_INVALID');
        await expectCode(
          zip.copyEntryTo(name, dest(w), { stagingRoot: w.staging }),
          'CONTENT_INVALID',
        );
        await expectNothingWritten(w);
      } finally {
        await zip.close();
      }
    });

    it('removes what extractPrefix wrote when a later entry fails its CRC check', async () => {
      const bytes = zipBytes(validItems());
      const at = bytes.indexOf(FILEZ.subarray(0, 64));
      bytes[at + 5] ^= 0x01;
      const w = await workWith(bytes);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.extractPrefix('ostree_repo/', w.staging), 'CONTENT_INVALID');
        await expectNothingWritten(w);
      } finally {
        await zip.close();
      }
    });

    it('refuses corrupt deflate data with CONTENT_INVALID', async () => {
      const payload = deflateRawSync(MANIFEST);
      payload.fill(0xff, 4, 40);
      const w = await workWith([{ name: 'apps/m', data: MANIFEST, payload }]);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readSmall('apps/m', CAPS.appManifest), 'CONTENT_INVALID');
      } finally {
        await zip.close();
      }
    });

    it('stops a deflated entry that inflates past its recorded size, with FILE_TOO_LARGE', async function () {
      this.timeout(20_000);
      const zeros = Buffer.alloc(50 * MiB);
      const w = await workWith([{ name: 'apps/blobs/liar', data: zeros, size: 1000 }]);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readSmall('apps/blobs/liar', 2000), 'FILE_TOO_LARGE');
        await expectCode(
          zip.copyEntryTo('apps/blobs/liar', join(w.staging, 'liar'), { stagingRoot: w.staging }),
          'FILE_TOO_LARGE',
        );
        await expectNothingWritten(w);
      } finally {
        await zip.close();
      }
    });

    it('refuses an entry that inflates to less than its recorded size, with CONTENT_INVALID', async () => {
      const w = await workWith([{ name: 'apps/short', data: 'abc', size: 10, crc: crc32('abc') }]);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readSmall('apps/short', 100), 'CONTENT_INVALID');
      } finally {
        await zip.close();
      }
    });

    it('refuses a local header that names another file, with INVALID_METADATA', async () => {
      const w = await workWith([
        {
          name: 'tuf/timestamp.json',
          data: TUF['timestamp.json'],
          localName: 'tuf/evil_evil.json',
        },
      ]);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readTufFiles(), 'INVALID_METADATA');
      } finally {
        await zip.close();
      }
    });
  });

  describe('copyEntryTo', () => {
    let w: Work;
    let zip: ZipBundle;
    const name = `apps/blobs/sha256/${LAYER_HEX}`;

    beforeEach(async () => {
      w = await workWith(validItems());
      zip = await openZipBundle(w.zip);
    });
    afterEach(() => zip.close());

    it('refuses the wrong expected sha256 with CONTENT_INVALID, removing the temp file and the directories it made', async () => {
      const dest = join(w.staging, 'blobs', 'sha256', LAYER_HEX);
      await expectCode(
        zip.copyEntryTo(name, dest, { stagingRoot: w.staging, expectSha256: sha('other') }),
        'CONTENT_INVALID',
      );
      await expectNothingWritten(w);
    });

    it('refuses a size that disagrees with the signed metadata before writing, with CONTENT_INVALID', async () => {
      await expectCode(
        zip.copyEntryTo(name, join(w.staging, LAYER_HEX), {
          stagingRoot: w.staging,
          expectSize: LAYER.length - 1,
        }),
        'CONTENT_INVALID',
      );
      await expectNothingWritten(w);
    });

    it('refuses a destination that escapes the staging directory, with PATH_ESCAPE', async () => {
      for (const dest of [
        join(w.staging, '..', 'escaped'),
        join(w.dir, 'escaped'),
        join(tmpdir(), 'escaped'),
        w.staging,
      ]) {
        await expectCode(zip.copyEntryTo(name, dest, { stagingRoot: w.staging }), 'PATH_ESCAPE');
      }
      await expectNothingWritten(w);
    });

    it('refuses to write through a symbolic link inside the staging directory, with PATH_ESCAPE', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'zip-source-outside-'));
      stale.push(outside);
      await symlink(outside, join(w.staging, 'blobs'));
      await expectCode(
        zip.copyEntryTo(name, join(w.staging, 'blobs', LAYER_HEX), { stagingRoot: w.staging }),
        'PATH_ESCAPE',
      );
      expect(await readdir(outside)).to.deep.equal([]);
    });

    it('refuses a malformed expected digest with INVALID_ARGUMENT', async () => {
      await expectCode(
        zip.copyEntryTo(name, join(w.staging, 'x'), { stagingRoot: w.staging, expectSha256: 'AB' }),
        'INVALID_ARGUMENT',
      );
    });
  });

  describe('extractPrefix', () => {
    let w: Work;
    let zip: ZipBundle;

    beforeEach(async () => {
      w = await workWith(validItems());
      zip = await openZipBundle(w.zip);
    });
    afterEach(() => zip.close());

    it('refuses to write through an existing symbolic link, with PATH_ESCAPE, and removes what it wrote', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'zip-source-outside-'));
      stale.push(outside);
      await writeFile(join(outside, 'victim'), 'keep');
      await symlink(join(outside, 'victim'), join(w.staging, 'empty-stored'));
      await expectCode(zip.extractPrefix('ostree_repo/', w.staging), 'PATH_ESCAPE');
      expect(await readFile(join(outside, 'victim'), 'utf8')).to.equal('keep');
      expect(await readdir(w.staging)).to.deep.equal(['empty-stored']);
      expect((await lstat(join(w.staging, 'empty-stored'))).isSymbolicLink()).to.equal(true);
    });

    it('refuses a staging directory that already holds a file it would write, with IO_ERROR', async () => {
      await writeFile(join(w.staging, 'config'), 'mine');
      await expectCode(zip.extractPrefix('ostree_repo/', w.staging), 'IO_ERROR');
      expect(await readdir(w.staging)).to.deep.equal(['config']);
      expect(await readFile(join(w.staging, 'config'), 'utf8')).to.equal('mine');
    });

    it('writes only the entries named in `only`, and refuses an unknown name before writing', async () => {
      const n = await zip.extractPrefix('ostree_repo/', w.staging, {
        only: new Set([OBJ_FILEZ]),
      });
      expect(n).to.equal(1);
      const rel = OBJ_FILEZ.slice('ostree_repo/'.length);
      expect(await readFile(join(w.staging, rel))).to.deep.equal(FILEZ);
      expect(await readdir(w.staging)).to.deep.equal(['objects']);
      expect(await readdir(join(w.staging, 'objects'))).to.deep.equal([rel.split('/')[1]]);
      const other = await mkdtemp(join(tmpdir(), 'zip-source-only-'));
      stale.push(other);
      await expectCode(
        zip.extractPrefix('ostree_repo/', other, {
          only: new Set([OBJ_FILEZ, 'ostree_repo/objects/00/not-there.filez']),
        }),
        'FILE_MISSING',
      );
      expect(await readdir(other)).to.deep.equal([]);
    });

    it('gives MEDIA_UNREADABLE, not CONTENT_INVALID, for an archive that shrinks while it is read', async () => {
      const { size } = await stat(w.zip);
      // The media goes away under the open archive: what is left ends before the objects.
      expect(size).to.be.above(64);
      await truncate(w.zip, 64);
      const err = await expectCode(
        zip.extractPrefix('ostree_repo/', w.staging),
        'MEDIA_UNREADABLE',
      );
      expect(err.message).to.match(/shrank from \d+ to \d+ bytes .*media went away/);
    });

    it('refuses a prefix that is not a relative directory, with INVALID_ARGUMENT', async () => {
      for (const prefix of ['ostree_repo', '/ostree_repo/', '../']) {
        await expectCode(zip.extractPrefix(prefix, w.staging), 'INVALID_ARGUMENT');
      }
    });
  });

  describe('readTufFiles', () => {
    it('refuses an archive without tuf/ with TUF_MISSING', async () => {
      const w = await workWith([{ name: 'apps/x', data: 'x' }]);
      const zip = await openZipBundle(w.zip);
      try {
        await expectCode(zip.readTufFiles(), 'TUF_MISSING');
      } finally {
        await zip.close();
      }
    });
  });

  describe('checks no other test pins', () => {
    const ts = { name: 'tuf/timestamp.json', data: TUF['timestamp.json'] };
    const other = { name: 'apps/blobs/sha256/x', data: 'some blob', method: 0 };
    /** tuf/timestamp.json (deflated) at offset 0, then a stored blob. */
    const plain = () => zipBytes([ts, other]);
    const eocdOf = (b: Buffer) => b.length - 22;

    /**
     * The same archive with ZIP64 end records (record, locator, then a classic end record
     * whose fields say "see ZIP64"); `patch` may change the record and locator first.
     */
    function withZip64End(
      bytes: Buffer,
      patch: (parts: { record: Buffer; locator: Buffer; recordAt: number }) => void = () =>
        undefined,
      comment: Buffer = Buffer.alloc(0),
    ): Buffer {
      const eocd = eocdOf(bytes);
      const count = bytes.readUInt16LE(eocd + 10);
      const cdSize = bytes.readUInt32LE(eocd + 12);
      const cdOffset = bytes.readUInt32LE(eocd + 16);
      const recordAt = eocd;
      const record = Buffer.alloc(56);
      record.writeUInt32LE(0x06064b50, 0);
      record.writeBigUInt64LE(44n, 4);
      record.writeUInt16LE(45, 12);
      record.writeUInt16LE(45, 14);
      record.writeBigUInt64LE(BigInt(count), 24);
      record.writeBigUInt64LE(BigInt(count), 32);
      record.writeBigUInt64LE(BigInt(cdSize), 40);
      record.writeBigUInt64LE(BigInt(cdOffset), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeBigUInt64LE(BigInt(recordAt), 8);
      locator.writeUInt32LE(1, 16);
      patch({ record, locator, recordAt });
      const end = Buffer.alloc(22);
      end.writeUInt32LE(0x06054b50, 0);
      end.writeUInt16LE(0xffff, 8);
      end.writeUInt16LE(0xffff, 10);
      end.writeUInt32LE(0xffffffff, 12);
      end.writeUInt32LE(0xffffffff, 16);
      end.writeUInt16LE(comment.length, 20);
      return Buffer.concat([bytes.subarray(0, eocd), record, locator, end, comment]);
    }

    /** The archive with `comment` as its archive comment. */
    function withComment(bytes: Buffer, comment: Buffer): Buffer {
      const out = Buffer.concat([bytes, comment]);
      out.writeUInt16LE(comment.length, eocdOf(bytes) + 20);
      return out;
    }

    async function expectOpens(bytes: Buffer): Promise<void> {
      const w = await workWith(bytes);
      const zip = await openZipBundle(w.zip);
      try {
        expect((await zip.readTufFiles()).get('timestamp.json')).to.deep.equal(ts.data);
      } finally {
        await zip.close();
      }
    }

    it('opens the unmodified archive, with classic and with ZIP64 end records', async () => {
      await expectOpens(plain());
      await expectOpens(withZip64End(plain()));
    });

    describe('an archive comment', () => {
      for (const length of [59, 4000, 65_535]) {
        it(`is accepted at ${length} bytes`, async () => {
          await expectOpens(withComment(plain(), Buffer.alloc(length, 'c')));
        });
      }

      it('is accepted after ZIP64 end records', async () => {
        await expectOpens(withZip64End(plain(), undefined, Buffer.alloc(3000, 'c')));
      });

      it('holding a second end record signature is refused with INVALID_METADATA', async () => {
        const comment = Buffer.alloc(500, 'c');
        Buffer.from('PK\x05\x06').copy(comment, 100);
        const w = await workWith(withComment(plain(), comment));
        await expectCode(openZipBundle(w.zip), 'INVALID_METADATA');
      });

      it('announced longer than what follows the end record is refused with INVALID_METADATA', async () => {
        const bytes = withComment(plain(), Buffer.alloc(100, 'c'));
        bytes.writeUInt16LE(101, eocdOf(plain()) + 20);
        const w = await workWith(bytes);
        await expectCode(openZipBundle(w.zip), 'INVALID_METADATA');
      });
    });

    describe('a local header that disagrees with the central directory', () => {
      const cases: { title: string; patch: (b: Buffer) => void }[] = [
        // tuf/timestamp.json's local header is at offset 0; its directory record says deflated.
        { title: 'names another compression method', patch: (b) => b.writeUInt16LE(0, 8) },
        {
          title: 'records another CRC-32',
          patch: (b) => b.writeUInt32LE(b.readUInt32LE(14) ^ 1, 14),
        },
        {
          title: 'records another compressed size',
          patch: (b) => b.writeUInt32LE(b.readUInt32LE(18) + 1, 18),
        },
        {
          title: 'records another uncompressed size',
          patch: (b) => b.writeUInt32LE(b.readUInt32LE(22) - 1, 22),
        },
      ];
      for (const c of cases) {
        it(`${c.title}: the read is refused with INVALID_METADATA`, async () => {
          const bytes = plain();
          c.patch(bytes);
          const w = await workWith(bytes);
          const zip = await openZipBundle(w.zip);
          try {
            await expectCode(zip.readTufFiles(), 'INVALID_METADATA');
            await expectCode(zip.readSmall(ts.name, CAPS.timestamp), 'INVALID_METADATA');
          } finally {
            await zip.close();
          }
        });
      }
    });

    describe('ZIP64 end records that do not hold together', () => {
      const cases: {
        title: string;
        bytes: () => Buffer;
      }[] = [
        {
          title: 'a locator with a bad signature',
          bytes: () => withZip64End(plain(), ({ locator }) => locator.writeUInt32LE(0x07064b51, 0)),
        },
        {
          title: 'no locator before the end record',
          bytes: () => {
            const b = withZip64End(plain());
            // Drop the locator: the record is then directly followed by the end record.
            return Buffer.concat([b.subarray(0, b.length - 42), b.subarray(b.length - 22)]);
          },
        },
        {
          title: 'a ZIP64 record with a bad signature',
          bytes: () => withZip64End(plain(), ({ record }) => record.writeUInt32LE(0x06064b51, 0)),
        },
        {
          title: 'a locator that points past the ZIP64 record, at a copy of it in the comment',
          bytes: () => {
            let copy = Buffer.alloc(0);
            const first = withZip64End(plain(), ({ record }) => {
              copy = Buffer.from(record);
            });
            // The copy lies after the end record (in the comment), where no record may be.
            const copyAt = first.length;
            return withZip64End(
              plain(),
              ({ locator }) => locator.writeBigUInt64LE(BigInt(copyAt), 8),
              copy,
            );
          },
        },
        {
          title: 'a locator that points past the end of the file',
          bytes: () =>
            withZip64End(plain(), ({ locator }) => locator.writeBigUInt64LE(1n << 60n, 8)),
        },
        {
          title: 'a ZIP64 record whose directory size disagrees with the records',
          bytes: () =>
            withZip64End(plain(), ({ record }) =>
              record.writeBigUInt64LE(record.readBigUInt64LE(40) + 46n, 40),
            ),
        },
      ];
      for (const c of cases) {
        it(`refuses ${c.title} with INVALID_METADATA`, async () => {
          const w = await workWith(c.bytes());
          await expectCode(openZipBundle(w.zip), 'INVALID_METADATA');
          await expectNothingWritten(w);
        });
      }
    });

    describe('an archive that spans several disks', () => {
      const cases: { title: string; bytes: () => Buffer }[] = [
        {
          title: 'an end record on disk 1',
          bytes: () => {
            const b = plain();
            b.writeUInt16LE(1, eocdOf(b) + 4);
            return b;
          },
        },
        {
          title: 'a central directory that starts on disk 1',
          bytes: () => {
            const b = plain();
            b.writeUInt16LE(1, eocdOf(b) + 6);
            return b;
          },
        },
        {
          title: 'fewer directory records on this disk than in all',
          bytes: () => {
            const b = plain();
            b.writeUInt16LE(1, eocdOf(b) + 8);
            return b;
          },
        },
        {
          title: 'a ZIP64 record on disk 1',
          bytes: () => withZip64End(plain(), ({ record }) => record.writeUInt32LE(1, 16)),
        },
        {
          title: 'a ZIP64 record whose directory starts on disk 1',
          bytes: () => withZip64End(plain(), ({ record }) => record.writeUInt32LE(1, 20)),
        },
        {
          title: 'an entry on disk 1',
          bytes: () => {
            const b = plain();
            const cd = b.readUInt32LE(eocdOf(b) + 16);
            b.writeUInt16LE(1, cd + 34);
            return b;
          },
        },
      ];
      for (const c of cases) {
        it(`refuses ${c.title} with INVALID_METADATA`, async () => {
          const w = await workWith(c.bytes());
          await expectCode(openZipBundle(w.zip), 'INVALID_METADATA');
          await expectNothingWritten(w);
        });
      }
    });
  });

  describe('on a ZIP64 archive over 4 GiB', () => {
    it('reads sizes and offsets past 4 GiB from the ZIP64 fields', async function () {
      this.timeout(20_000);
      const w = await workWith(Buffer.alloc(0));
      const big = 4 * GiB + 17;
      // A sparse file: the big entry's data is a hole that is never read.
      await writeSparseZip(w.zip, [
        { name: 'apps/blobs/sha256/big', method: 0, hole: big, crc: 0 },
        { name: 'tuf/timestamp.json', data: TUF['timestamp.json'] },
      ]);
      expect((await stat(w.zip)).size).to.be.above(big);
      const zip = await openZipBundle(w.zip);
      try {
        expect(zip.entries()[0]).to.deep.equal({
          name: 'apps/blobs/sha256/big',
          size: big,
          compressedSize: big,
        });
        const files = await zip.readTufFiles();
        expect(files.get('timestamp.json')).to.deep.equal(TUF['timestamp.json']);
      } finally {
        await zip.close();
      }
    });
  });

  describe('on an archive of 70,000 entries', () => {
    const count = 70_000;

    // Behaviour only: its memory and time at 250,000 entries are measured by
    // `pnpm bench -- --zip-scale` (scripts/bench.mjs), not asserted here.
    it('opens it, lists every entry in archive order and reads any one of them', async function () {
      this.timeout(60_000);
      const items: ZipItem[] = [];
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        const h = i.toString(16).padStart(64, '0');
        const name = `ostree_repo/objects/${h.slice(0, 2)}/${h.slice(2)}.filez`;
        names.push(name);
        items.push({ name, data: i === count - 1 ? 'last' : '', method: 0 });
      }
      const w = await workWith(items);
      const zip = await openZipBundle(w.zip);
      try {
        const listed = zip.entries();
        expect(listed).to.have.length(count);
        expect(listed[0]?.name).to.equal(names[0]);
        expect(listed[count - 1]?.name).to.equal(names[count - 1]);
        expect(zip.has(names[count / 2])).to.equal(true);
        expect((await zip.readSmall(names[count - 1], 16)).toString()).to.equal('last');
      } finally {
        await zip.close();
      }
    });
  });
});
