/**
 * Issue 14 §5 through the real device CLI: metadata that is not valid TUF (nesting past the
 * bound, a number canonical JSON cannot hold) is invalid metadata, exit 11 with the file's
 * name, never a crash (exit 1), and the device is left as it was.
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

const ROWS: { name: string; value: string }[] = [
  { name: 'nested 100,000 levels deep', value: '['.repeat(100_000) + ']'.repeat(100_000) },
  { name: 'holding a float', value: '1.5' },
  { name: 'holding an integer past 2^53', value: '9007199254740993' },
];

describe('install and check', function () {
  let fx: Fixtures;
  before(async function () {
    fx = await getFixtures();
  });
  after(cleanupAll);

  for (const row of ROWS) {
    describe(`when tuf/timestamp.json has a signed field ${row.name}`, function () {
      it('exit 11 naming timestamp.json and leave the device untouched', async function () {
        const bundle = await copyBundle(fx, fx.bundles.v2);
        await addSignedField(join(bundle, 'tuf/timestamp.json'), row.value);
        const root = await newDevice(fx);
        const before = await hashTree(root);
        const c = await aklite(root, ['check', '--src-dir', bundle]);
        expect(c.code, `check: ${c.stderr}`).to.equal(11);
        expect(c.stderr).to.match(/^ERROR: .*timestamp\.json/m);
        const r = await install(root, bundle);
        expect(r.code, r.stderr).to.equal(11);
        expect(r.stderr).to.match(/^ERROR: .*timestamp\.json/m);
        expect(r.stderr).to.not.match(/TypeError|RangeError|\n\s+at /);
        expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      });
    });
  }
});
