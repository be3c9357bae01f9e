/**
 * Issue 14 §5 through the real device CLI: metadata that is not valid TUF (nesting past the
 * bound, a number canonical JSON cannot hold) is invalid metadata, exit 11 (15 for the
 * bundle manifest) with the file's name, never a crash (exit 1), and the device is left as it was.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  aklite,
  cleanupAll,
  copyBundle,
  getFixtures,
  hashTree,
  install,
  newDevice,
  treeDiff,
  type Fixtures,
} from './helpers.js';

/** Adds a field holding the raw JSON `value` to the signed part of `file`. */
async function addSignedField(file: string, value: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const at = text.indexOf('"signed":{') + '"signed":{'.length;
  expect(at).to.be.greaterThan('"signed":{'.length);
  await writeFile(file, `${text.slice(0, at)}"x-field":${value},${text.slice(at)}`);
}

const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);

const ROWS: { name: string; file: string; value: string; code: number }[] = [
  { name: 'nested 100,000 levels deep', file: 'timestamp.json', value: nested(100_000), code: 11 },
  { name: 'holding a float', file: 'timestamp.json', value: '1.5', code: 11 },
  {
    name: 'holding an integer past 2^53',
    file: 'timestamp.json',
    value: '9007199254740993',
    code: 11,
  },
  {
    // within the manifest's 64 KiB cap
    name: 'nested 30,000 levels deep',
    file: 'bundle-targets.json',
    value: nested(30_000),
    code: 15,
  },
  { name: 'holding a float', file: 'bundle-targets.json', value: '1.5', code: 15 },
];

describe('install and check', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  for (const row of ROWS) {
    describe(`when tuf/${row.file} has a signed field ${row.name}`, function () {
      it(`exit ${row.code} naming ${row.file} and leave the device untouched`, async function () {
        const bundle = await copyBundle(fx, fx.bundles.v2);
        await addSignedField(join(bundle, 'tuf', row.file), row.value);
        const root = await newDevice(fx);
        const before = await hashTree(root);
        const named = new RegExp(`^ERROR: .*${row.file.replace('.', '\\.')}`, 'm');
        const c = await aklite(root, ['check', '--src-dir', bundle]);
        expect(c.code, `check: ${c.stderr}`).to.equal(row.code);
        expect(c.stderr).to.match(named);
        const r = await install(root, bundle);
        expect(r.code, r.stderr).to.equal(row.code);
        expect(r.stderr).to.match(named);
        expect(r.stderr).to.not.match(/TypeError|RangeError|\n\s+at /);
        expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      });
    });
  }
});
