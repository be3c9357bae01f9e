import { expect } from 'chai';
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { FormatError } from '../../src/errors.js';
import {
  checkFilez,
  commitObjects,
  parseDirTree,
  repoDirReader,
  repoHasObject,
} from '../../src/ostree-objects.js';

const REPO = fileURLToPath(
  new URL('../../../../../test-bundles/good-ci/ostree_repo/', import.meta.url),
);

async function commitOf(repo: string): Promise<string> {
  for (const d of await readdir(join(repo, 'objects'))) {
    for (const f of await readdir(join(repo, 'objects', d)))
      if (f.endsWith('.commit')) return d + f.slice(0, -'.commit'.length);
  }
  throw new Error('no commit');
}

async function allObjects(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo, 'objects')))
    for (const f of await readdir(join(repo, 'objects', d))) out.push(`objects/${d}/${f}`);
  return out.sort();
}

const reader = (repo: string) => (rel: string) => readFile(join(repo, rel));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(FormatError);
    return (err as FormatError).code;
  }
  throw new Error('expected a refusal');
}

/** An archive content object: size-prefixed header (tuuuusa(ayay)) and raw-deflated content. */
function filez(content: Buffer): Buffer {
  const header = Buffer.alloc(8 + 16 + 2);
  header.writeBigUInt64BE(BigInt(content.length), 0);
  header.writeUInt32BE(0o100644, 16);
  const out = Buffer.alloc(8);
  out.writeUInt32BE(header.length, 0);
  return Buffer.concat([out, header, deflateRawSync(content)]);
}

describe('ostree-objects', function () {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'ostree-objects-'));
  });
  afterEach(() => rm(work, { recursive: true, force: true }));

  it("names exactly the commit's objects: what `ostree ls -R` lists, and what the repo holds", async function () {
    const commit = await commitOf(REPO);
    const found = await commitObjects(reader(REPO), commit);
    // The test bundle's repo holds exactly one commit: every object is the commit's.
    expect([...found.metadata, ...found.content].sort()).to.deep.equal(await allObjects(REPO));
    expect(found.metadata[0]).to.match(/\.commit$/);
    expect(found.content).to.have.length(4);
  });

  it('tells whether a repo holds an object: .filez in an archive repo, .file in a bare one', async function () {
    const repo = join(work, 'repo');
    await cp(REPO, repo, { recursive: true });
    const { content } = await commitObjects(repoDirReader(repo), await commitOf(repo));
    const rel = content[0];
    expect(await repoHasObject(repo, rel)).to.equal(true);
    // As a bare repo stores it.
    await rename(join(repo, rel), join(repo, rel.slice(0, -1)));
    expect(await repoHasObject(repo, rel)).to.equal(true);
    await rm(join(repo, rel.slice(0, -1)));
    expect(await repoHasObject(repo, rel)).to.equal(false);
  });

  it('leaves out objects the commit does not name (another Target in the same repo)', async function () {
    const repo = join(work, 'repo');
    await cp(REPO, repo, { recursive: true });
    const stray = join(repo, 'objects', 'ff', `${'e'.repeat(62)}.filez`);
    await mkdir(join(repo, 'objects', 'ff'), { recursive: true });
    await writeFile(stray, filez(Buffer.from('not part of the Target')));
    const found = await commitObjects(reader(repo), await commitOf(repo));
    expect([...found.metadata, ...found.content]).to.not.include(
      `objects/ff/${'e'.repeat(62)}.filez`,
    );
  });

  it('refuses a metadata object that does not match its checksum, naming it (CONTENT_INVALID)', async function () {
    const repo = join(work, 'repo');
    await cp(REPO, repo, { recursive: true });
    const commit = await commitOf(repo);
    const { metadata } = await commitObjects(reader(repo), commit);
    for (const rel of metadata) {
      const orig = await readFile(join(repo, rel));
      for (const broken of [Buffer.alloc(orig.length), orig.subarray(0, orig.length - 3)]) {
        await writeFile(join(repo, rel), broken);
        expect(await code(commitObjects(reader(repo), commit)), rel).to.equal('CONTENT_INVALID');
      }
      await writeFile(join(repo, rel), orig);
    }
  });

  it('parses a dirtree and refuses malformed framing instead of reading past it', function () {
    // Two empty arrays: the first one's end offset (0) is the whole serialization.
    expect(parseDirTree(Buffer.from([0]), 't')).to.deep.equal({ files: [], dirs: [] });
    for (const bytes of [[], [0, 0], [0xff, 0x05, 0x09], [1, 1, 1, 1]])
      expect(() => parseDirTree(Buffer.from(bytes), 't'), String(bytes)).to.throw(FormatError);
  });

  it('checkFilez accepts a well-formed object and refuses zeroed or truncated ones', function () {
    const good = filez(Buffer.from('hello, world\n'.repeat(100)));
    checkFilez(good);
    expect(() => checkFilez(Buffer.alloc(good.length))).to.throw(FormatError, /header|inflate/);
    expect(() => checkFilez(good.subarray(0, good.length - 5))).to.throw(FormatError);
    expect(() => checkFilez(good.subarray(0, 6))).to.throw(FormatError, /truncated/);
  });
});
