/**
 * Issue 11 through the real CLI: a stick older than the device's trusted metadata is
 * refused in words and with 3 by every command that reads a stick (§3), with and without
 * `--json` in each of the reference's spellings (§6), and the device is left unchanged.
 * One device is shared by the whole file (installing v2 costs a reboot cycle).
 */
import { expect } from 'chai';
import * as v from 'valibot';
import { ErrorJson, CheckJson } from '../../src/cli/json.js';
import {
  aklite,
  cleanupAll,
  getFixtures,
  hashTree,
  install,
  newDevice,
  reboot,
  runCmd,
  treeDiff,
  type Fixtures,
} from './helpers.js';

const OLDER =
  /this stick's metadata \((timestamp|snapshot|targets) v(\d+), tuf\/\w+\.json\) is older than the device's \(v(\d+)\)/;

describe('aklite-offline with a stick older than what the device trusts (issue 11 §3)', function () {
  let fx: Fixtures;
  let root: string;
  before(async function () {
    fx = await getFixtures();
    root = await newDevice(fx);
    const r = await install(root, fx.bundles.v2);
    expect(r.code, r.stderr).to.equal(100);
    await reboot(root);
    expect((await runCmd(root)).code).to.equal(0);
    expect((await aklite(root, ['probation', 'mark-good'])).code).to.equal(0);
  });
  after(cleanupAll);

  // Generated: every command that reads a stick, each in text and in one of the
  // reference's JSON spellings (the spellings themselves are unit-tested: normalizeArgv).
  const cases: [string, string[]][] = [
    ['check', []],
    ['check', ['--json', '1']],
    ['install', []],
    ['install', ['--json=1']],
  ];
  for (const [cmd, extra] of cases) {
    it(`${cmd} ${extra.join(' ') || '(text)'} exits 3, names the older metadata and both versions, and changes nothing`, async function () {
      const before = await hashTree(root);
      const r = await aklite(root, [cmd, '--src-dir', fx.bundles.v1, ...extra]);
      expect(r.code, r.stderr).to.equal(3);
      const m = OLDER.exec(r.stderr);
      expect(m, r.stderr).to.not.equal(null);
      expect(Number(m![2])).to.be.lessThan(Number(m![3]));
      expect(r.stderr).to.not.match(/^ERROR/m);
      if (extra.length > 0) {
        const out = v.parse(ErrorJson, JSON.parse(r.stdout));
        expect(out).to.include({ code: 3, name: 'CheckinOkCached', error: 'TUF_ROLLBACK' });
        expect(out.message).to.match(OLDER);
        expect(out.hint).to.match(/bundle/);
      } else {
        expect(r.stdout).to.equal('');
      }
      expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
    });
  }

  describe("the reference's CLI spellings (issue 11 §6)", function () {
    it('check --json 1 prints the Targets as JSON, --json 0 as text', async function () {
      const on = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json', '1']);
      expect(on.code, on.stderr).to.equal(0);
      expect(v.parse(CheckJson, JSON.parse(on.stdout))[0].current).to.equal(true);
      const off = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json', '0']);
      expect(off.code, off.stderr).to.equal(0);
      expect(off.stdout).to.match(/^Bundle: /);
    });

    it('accepts --loglevel 5 and refuses 6 with 2 (as a JSON error under --json)', async function () {
      const r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--loglevel', '5']);
      expect(r.code, r.stderr).to.equal(0);
      const bad = await aklite(root, [
        'check',
        '--src-dir',
        fx.bundles.v2,
        '--loglevel',
        '6',
        '--json',
      ]);
      expect(bad.code).to.equal(2);
      expect(v.parse(ErrorJson, JSON.parse(bad.stdout))).to.include({
        code: 2,
        name: 'InvalidCommandLine',
      });
    });
  });
});
