/**
 * Issue 11 through the real CLI: a stick older than the device's trusted metadata is
 * refused in words and with 3 by every command that reads a stick (§3), with and without
 * `--json` in each of the reference's spellings (§6), and the device is left unchanged.
 * A broken device is named as such (§4): its own root, state or configuration gives 44
 * and a message naming the device file. One device is shared per describe.
 */
import { expect } from 'chai';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import * as v from 'valibot';
import { ErrorJson, CheckJson } from '../../src/cli/json.js';
import {
  AKLITE,
  aklite,
  runProc,
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

describe('aklite-offline on a device whose own files are broken (issue 11 §4)', function () {
  let fx: Fixtures;
  let root: string;
  before(async function () {
    fx = await getFixtures();
    root = await newDevice(fx);
  });
  after(cleanupAll);

  // Generated: each device file the CLI reads, broken in a way a media file never is
  // blamed for. Each case restores the file after it.
  const cases: [string, string, (text: string) => string][] = [
    [
      'usr/lib/sota/tuf/ci/1.root.json',
      'unsigned',
      (t) => t.replace(/"signatures":\[[^\]]*\]/, '"signatures":[]'),
    ],
    ['usr/lib/sota/tuf/ci/1.root.json', 'truncated', (t) => t.slice(0, 100)],
    ['usr/lib/sota/tuf/ci/1.root.json', 'not JSON', () => 'not json'],
    ['var/sota/state.json', 'truncated', () => '{"schema":1,"curr'],
    ['etc/sota/conf.d/90-broken.toml', 'not TOML', () => '[pacman\ntype = '],
  ];
  for (const [rel, how, breakIt] of cases) {
    it(`check exits 44 naming ${rel} when it is ${how} (--json too), device unchanged`, async function () {
      const file = join(root, rel);
      const original = await readFile(file, 'utf8').catch(() => undefined);
      await writeFile(file, breakIt(original ?? ''));
      try {
        const before = await hashTree(root);
        const r = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
        expect(r.code, r.stderr).to.equal(44);
        expect(r.stderr).to.contain(file);
        const out = v.parse(ErrorJson, JSON.parse(r.stdout));
        expect(out).to.include({ code: 44, name: 'DeviceFilesInvalid' });
        expect(out.message).to.contain(file);
        expect(treeDiff(before, await hashTree(root))).to.deep.equal([]);
      } finally {
        if (original === undefined) await rm(file, { force: true });
        else await writeFile(file, original);
      }
    });
  }
});

describe('aklite-offline with relative paths (issue 11 §7)', function () {
  let fx: Fixtures;
  let root: string;
  before(async function () {
    fx = await getFixtures();
    root = await newDevice(fx);
  });
  after(cleanupAll);

  /** The CLI run from `cwd` (no network), with `args` and `env` as given. */
  const inDir = (cwd: string, args: string[], env: Record<string, string> = {}) =>
    runProc(
      'unshare',
      [
        '-n',
        '--',
        'sh',
        '-c',
        'cd "$1" && shift && exec "$@"',
        'sh',
        cwd,
        process.execPath,
        AKLITE,
        ...args,
      ],
      env,
    );

  it('reads --device-root, AKLITE_DEVICE_ROOT and --src-dir relative to the working directory, as if absolute', async function () {
    const cwd = dirname(root);
    const src = relative(cwd, fx.bundles.v2);
    const absolute = await aklite(root, ['check', '--src-dir', fx.bundles.v2, '--json']);
    expect(absolute.code, absolute.stderr).to.equal(16);
    const viaFlag = await inDir(cwd, [
      'check',
      '--src-dir',
      src,
      '--json',
      '--device-root',
      `./${basename(root)}`,
    ]);
    expect(viaFlag.code, viaFlag.stderr).to.equal(16);
    expect(viaFlag.stdout).to.equal(absolute.stdout);
    const viaEnv = await inDir(cwd, ['check', '--src-dir', src, '--json'], {
      AKLITE_DEVICE_ROOT: basename(root),
    });
    expect(viaEnv.code, viaEnv.stderr).to.equal(16);
    expect(viaEnv.stdout).to.equal(absolute.stdout);
  });
});
