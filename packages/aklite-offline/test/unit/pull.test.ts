import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Device } from '../../src/lib/device.js';
import { pathExists } from '../../src/lib/fsutil.js';
import { beginPull, cleanInterruptedPull, pullJournalPath } from '../../src/lib/pull.js';

const COMMIT = 'c'.repeat(64);
const obj = (hex: string, type: string) => `objects/${hex.slice(0, 2)}/${hex.slice(2)}.${type}`;
/** Three objects the device already had, three a pull brings (one `.filez` lands as `.file`). */
const HAD = [
  obj('a'.repeat(64), 'dirtree'),
  obj('b'.repeat(64), 'file'),
  obj('d'.repeat(64), 'dirmeta'),
];
const LACKED = [
  obj(COMMIT, 'commit'),
  obj('e'.repeat(64), 'dirtree'),
  obj('f'.repeat(64), 'filez'),
];
/** Where the pull put each lacked object in the bare repo. */
const WRITTEN = [LACKED[0], LACKED[1], LACKED[2].slice(0, -1), obj(COMMIT, 'commitmeta')];

describe('the pull journal (pull.ts)', function () {
  let dir: string;
  let dev: Device;
  let said: string[];
  const repo = () => dev.sysrootRepo;
  const put = async (rel: string) => {
    await mkdir(dirname(join(repo(), rel)), { recursive: true });
    await writeFile(join(repo(), rel), rel);
  };
  /** What a pull of COMMIT leaves in the repo: its objects, its marker, a staging dir. */
  const pullWrites = async () => {
    for (const rel of WRITTEN) await put(rel);
    await put(`state/${COMMIT}.commitpartial`);
    await put('tmp/staging-boot-xyz/objects/ab/cd.file');
    await put('.lock');
  };
  const present = async (rels: readonly string[]) => {
    const out: string[] = [];
    for (const rel of rels) if (await pathExists(join(repo(), rel))) out.push(rel);
    return out;
  };

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'pull-test-'));
    said = [];
    dev = {
      sysrootRepo: join(dir, 'repo'),
      config: { storageDir: join(dir, 'sota') },
      ports: { progress: (m: string) => said.push(m) },
    } as unknown as Device;
    await mkdir(join(dir, 'sota'), { recursive: true });
    for (const rel of HAD) await put(rel);
    await put('tmp/cache/keep');
    await put('tmp/older-entry');
    await mkdir(join(repo(), 'state'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('undo removes exactly what the pull added: its objects, marker and tmp entries', async function () {
    const pull = await beginPull(dev, COMMIT, LACKED);
    expect(await pathExists(pullJournalPath(dev))).to.equal(true);
    await pullWrites();
    await pull.undo();
    expect(await present(WRITTEN)).to.deep.equal([]);
    expect(await present(HAD)).to.deep.equal(HAD);
    expect(await pathExists(join(repo(), `state/${COMMIT}.commitpartial`))).to.equal(false);
    expect((await readdir(join(repo(), 'tmp'))).sort()).to.deep.equal(['cache', 'older-entry']);
    expect(await pathExists(pullJournalPath(dev))).to.equal(false);
    // The object directories and lock file the pull made go too: the repo is as it was.
    expect((await readdir(repo())).sort()).to.deep.equal(['objects', 'state', 'tmp']);
    expect((await readdir(join(repo(), 'objects'))).sort()).to.deep.equal(['aa', 'bb', 'dd']);
  });

  it('finish keeps the objects and drops the journal', async function () {
    const pull = await beginPull(dev, COMMIT, LACKED);
    await pullWrites();
    await pull.finish();
    expect(await present(WRITTEN)).to.deep.equal(WRITTEN);
    expect(await pathExists(pullJournalPath(dev))).to.equal(false);
    expect(await cleanInterruptedPull(dev)).to.equal(false);
    expect(await present(WRITTEN)).to.deep.equal(WRITTEN);
  });

  it('after a power cut mid-pull, the next start removes what the pull added', async function () {
    await beginPull(dev, COMMIT, LACKED);
    await pullWrites();
    // (the process dies here: no undo, no finish)
    expect(await cleanInterruptedPull(dev)).to.equal(true);
    expect(await present(WRITTEN)).to.deep.equal([]);
    expect(await present(HAD)).to.deep.equal(HAD);
    expect((await readdir(join(repo(), 'tmp'))).sort()).to.deep.equal(['cache', 'older-entry']);
    expect((await readdir(join(repo(), 'objects'))).sort()).to.deep.equal(['aa', 'bb', 'dd']);
    expect(await pathExists(pullJournalPath(dev))).to.equal(false);
  });

  it('never removes a path a journal names that is not an object of the repo', async function () {
    await put('config');
    await writeFile(
      pullJournalPath(dev),
      `aklite-offline ostree-pull 1\n${JSON.stringify({ commit: COMMIT, tmp: [], dirs: [], lock: true })}\nconfig\n`,
    );
    expect(await cleanInterruptedPull(dev)).to.equal(false);
    expect(await readFile(join(repo(), 'config'), 'utf8')).to.equal('config');
    expect(said.join('\n')).to.match(/interrupted OSTree pull failed/);
  });
});
