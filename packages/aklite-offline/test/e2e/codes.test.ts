/**
 * Issue 11 through the real CLI: a stick older than the device's trusted metadata is
 * refused in words and with 3 by every command that reads a stick (§3), with and without
 * `--json` in each of the reference's spellings (§6), and the device is left unchanged.
 * A broken device is named as such (§4): its own root, state or configuration gives 44
 * and a message naming the device file. One device is shared per describe, and the
 * bundles by the whole file (one cleanup at its end). Every exit code of the table that is
 * not reserved is reached through the real CLI (§5), with `current`, `list` with a stick
 * and `run --json` on the way (§6).
 */
import { expect } from 'chai';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { deviceEngine } from '@offline-ota/device-sim';
import { allStatuses, describe as describeStatus, type StatusValue } from '@offline-ota/format';
import { parseWithSchema } from '@offline-ota/testkit';
import { ErrorJson, CheckJson } from '../../src/cli/json.js';
import {
  AKLITE,
  aklite,
  runProc,
  cleanupAll,
  copyBundle,
  findFiles,
  flipByte,
  fwSet,
  getFixtures,
  hashTree,
  install,
  newDevice,
  reboot,
  REPO,
  resignSnapshotVersion,
  runCmd,
  treeDiff,
  type AkliteOptions,
  type Fixtures,
  type Proc,
} from './helpers.js';

// The bundles are shared by every describe of this file: one cleanup, at its end.
after(cleanupAll);

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

// ---------------------------------------------------------------------------------------
// §5: every code of the table that is not reserved, through the real CLI.

const HERE = dirname(fileURLToPath(import.meta.url));

interface Ctx {
  fx: Fixtures;
  /** The device the cases share, booted on v1. */
  root: string;
}

/** One step toward a code: the CLI's arguments (without --device-root), run on `root`. */
interface Case {
  code: number;
  what: string;
  /** Prepares the device; returns what to undo afterwards. */
  before?: (c: Ctx) => Promise<(() => Promise<void>) | void>;
  args: (c: Ctx, bundle: string | undefined) => string[];
  /** A private copy of a bundle, changed (for the check-in codes). */
  bundle?: (c: Ctx) => Promise<string>;
  /** Another device than the shared one. */
  device?: (c: Ctx) => Promise<string>;
  opts?: AkliteOptions;
  /** What the message must say (issue 11 §7: the wrong paths name their fix). */
  message?: RegExp;
}

/** The committed JSON Schema of a command's result (issue 11 §6). */
const schemaOf = (cmd: string): string => (cmd === 'defer' || cmd === 'allow' ? 'deferral' : cmd);

/** A file written into the device's conf.d for one case. */
const withToml =
  (name: string, toml: string) =>
  async ({ root }: Ctx): Promise<() => Promise<void>> => {
    const file = join(root, 'etc/sota/conf.d', name);
    await writeFile(file, toml);
    return () => rm(file, { force: true });
  };

const tampered =
  (what: (bundle: string, c: Ctx) => Promise<void>) =>
  async (c: Ctx): Promise<string> => {
    const b = await copyBundle(c.fx, c.fx.bundles.v2);
    await what(b, c);
    return b;
  };

const v1 = (c: Ctx) => ['--src-dir', c.fx.bundles.v1];
const v2 = (c: Ctx) => ['--src-dir', c.fx.bundles.v2];
const changed = (_c: Ctx, b: string | undefined) => ['check', '--src-dir', b!];

/** In order: each case leaves the shared device as the next one expects. */
const CASES: Case[] = [
  { code: 2, what: 'check without media', args: () => ['check'] },
  { code: 1, what: 'defer with an invalid client id', args: () => ['defer', '--client', 'a b'] },
  { code: 43, what: 'allow without a defer', args: () => ['allow', '--client', 'nobody'] },
  { code: 40, what: 'run with nothing pending', args: () => ['run'] },
  { code: 21, what: 'rollback with no good Target to return to', args: () => ['rollback'] },
  { code: 0, what: 'check of the running Target', args: (c) => ['check', ...v1(c)] },
  { code: 0, what: 'current', args: () => ['current'] },
  { code: 16, what: 'check of a newer Target', args: (c) => ['check', ...v2(c)] },
  { code: 16, what: "list of a stick's Targets, one newer", args: (c) => ['list', ...v2(c)] },
  {
    code: 20,
    what: 'install of a Target the bundle lacks',
    args: (c) => ['install', ...v2(c), '--target', 'no-such-target-9'],
  },
  {
    code: 44,
    what: 'a device configuration that is not TOML',
    before: withToml('95-every-code.toml', '[pacman\n'),
    args: (c) => ['check', ...v2(c)],
  },
  {
    code: 6,
    what: 'a bundle for another hardware id',
    before: withToml(
      '95-every-code.toml',
      '[provision]\nprimary_ecu_hardware_id = "other-board"\n',
    ),
    args: (c) => ['check', ...v2(c)],
  },
  {
    code: 15,
    what: 'a production bundle on a CI device',
    args: (c) => ['check', '--src-dir', c.fx.bundles.prod],
  },
  {
    code: 12,
    what: 'an expired bundle (device clock in 2030)',
    args: (c) => ['check', ...v2(c)],
    opts: { faketime: '2030-01-01 00:00:00' },
  },
  {
    code: 14,
    what: 'a bundle without tuf/timestamp.json',
    bundle: tampered((b) => rm(join(b, 'tuf/timestamp.json'))),
    args: changed,
  },
  {
    code: 14,
    what: 'a stick path that does not exist',
    args: (c) => ['check', '--src-dir', join(c.fx.work, 'media', 'usb')],
    message: /media\/usb does not exist: is the media mounted\?/,
  },
  {
    code: 11,
    what: 'a flipped byte in tuf/targets.json',
    bundle: tampered((b) => flipByte(join(b, 'tuf/targets.json'))),
    args: changed,
  },
  {
    code: 4,
    what: 'a snapshot version that disagrees with the timestamp, validly signed',
    bundle: tampered((b, c) => resignSnapshotVersion(b, c.fx)),
    args: changed,
  },
  {
    code: 8,
    what: 'a bundle without its OSTree commit object',
    bundle: tampered(async (b) => {
      for (const f of await findFiles(join(b, 'ostree_repo/objects'), /\.commit$/)) await rm(f);
    }),
    args: changed,
  },
  {
    code: 70,
    what: 'install of a bundle with a flipped byte in an OSTree dirtree object',
    bundle: tampered(async (b) =>
      flipByte((await findFiles(join(b, 'ostree_repo/objects'), /\.dirtree$/))[0]),
    ),
    args: (_c, b) => ['install', '--src-dir', b!],
  },
  {
    code: 90,
    what: 'install while a boot firmware update awaits its confirming reboot',
    before: async ({ root }) => {
      await fwSet(root, { bootupgrade_available: 1 });
      return () => fwSet(root, { bootupgrade_available: 0 });
    },
    args: (c) => ['install', ...v2(c)],
  },
  {
    code: 41,
    what: 'install while a client defers updates',
    before: async ({ root }) => {
      const d = await aklite(root, ['defer', '--client', 'every-code']);
      expect(d.code, d.stderr).to.equal(0);
      return async () => {
        const a = await aklite(root, ['allow', '--client', 'every-code']);
        expect(a.code, a.stderr).to.equal(0);
      };
    },
    args: (c) => ['install', ...v2(c)],
  },
  {
    code: 17,
    what: 'check while an app of the current Target is missing from the engine',
    before: async ({ root }) => {
      await deviceEngine(root).down('shellhttpd');
    },
    args: (c) => ['check', ...v1(c)],
  },
  { code: 10, what: 'install that restores the missing app', args: (c) => ['install', ...v1(c)] },
  { code: 0, what: 'run that starts the restored app', args: () => ['run'] },
  { code: 100, what: 'install of a new OSTree commit', args: (c) => ['install', ...v2(c)] },
  { code: 0, what: 'list of the trusted Targets', args: () => ['list'] },
  {
    code: 30,
    what: 'install while an installation is pending',
    args: (c) => ['install', ...v2(c)],
  },
  {
    code: 3,
    what: "check of a stick older than the device's trusted metadata",
    args: (c) => ['check', ...v1(c)],
  },
  {
    code: 3,
    what: "list of a stick older than the device's trusted metadata",
    args: (c) => ['list', ...v1(c)],
  },
  {
    code: 102,
    what: 'install of an older Target (device booted on v2)',
    device: (c) => newDevice(c.fx, { target: c.fx.t.v2 }),
    args: (c) => ['install', ...v1(c)],
  },
];

/**
 * The codes whose only path needs a reboot, a full disk or media pulled mid-install:
 * the e2e file that reaches each through the real CLI (and asserts it).
 */
const ELSEWHERE: Record<number, string> = {
  5: 'run.test.ts', // new boot firmware after the reboot: run exits 5
  42: 'update-control.test.ts', // a new system on probation, after its reboot
  50: 'media-gone.test.ts', // the media goes away during the pull
  60: 'no-space.test.ts', // a device on a small tmpfs
  99: 'run.test.ts', // apps fail to start after the reboot: rolled back without one
  120: 'run.test.ts', // the rollback itself fails
};

describe('every exit code through the real CLI (issue 11 §5)', function () {
  const ctx = {} as Ctx;
  before(async function () {
    ctx.fx = await getFixtures();
    ctx.root = await newDevice(ctx.fx);
  });

  it('has a case (here or in a named e2e file) for each code the table does not reserve, and none for a reserved one', async function () {
    const covered = new Set([...CASES.map((c) => c.code), ...Object.keys(ELSEWHERE).map(Number)]);
    expect([...covered].sort((a, b) => a - b)).to.deep.equal(
      allStatuses()
        .filter((s) => s.reserved === undefined)
        .map((s) => s.value),
    );
    // docs/exit-codes.md is generated from the same table: a reserved row says so.
    const doc = await readFile(join(REPO, 'docs/exit-codes.md'), 'utf8');
    for (const s of allStatuses()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| ${s.value} | \`${s.name}\` |`));
      expect(row, `docs/exit-codes.md row of ${s.value}`).to.be.a('string');
      expect(row!.includes('| reserved |'), `${s.value} reserved in the docs`).to.equal(
        s.reserved !== undefined,
      );
    }
  });

  for (const [code, file] of Object.entries(ELSEWHERE)) {
    it(`${code} is asserted through the real CLI by ${file}`, async function () {
      const src = await readFile(join(HERE, file.replace(/\.ts$/, '.js')), 'utf8');
      expect(src, file).to.match(new RegExp(`\\.to\\.equal\\(${code}\\)`));
    });
  }

  for (const c of CASES) {
    it(`exits ${c.code} (${c.what}), and says what the table says`, async function () {
      const root = c.device ? await c.device(ctx) : ctx.root;
      const bundle = c.bundle ? await c.bundle(ctx) : undefined;
      const undo = c.before ? await c.before(ctx) : undefined;
      const args = c.args(ctx, bundle);
      let r: Proc;
      try {
        r = await aklite(root, [...args, '--json'], c.opts);
      } finally {
        if (undo) await undo();
        if (bundle !== undefined) await rm(bundle, { recursive: true, force: true });
      }
      expect(r.code, r.stderr).to.equal(c.code);
      if (c.message) expect(r.stderr).to.match(c.message);
      const info = allStatuses().find((s) => s.value === (c.code as StatusValue))!;
      expect(info.reserved, 'a reserved code was reached').to.equal(undefined);
      if (r.stdout.trimStart().startsWith('{') && r.stdout.includes('"hint"')) {
        // A failure (or an outcome reported as one, like 3): the JSON error object, named
        // and explained from the table; stderr ends with the table's line.
        const e = parseWithSchema<ErrorJson>('aklite-offline', 'error', r.stdout);
        expect(e).to.include({ code: c.code, name: info.name, hint: info.next });
        // (2 is oclif's usage error: its own lines end stderr.)
        if (c.code !== 2)
          expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal(describeStatus(c.code));
      } else {
        // A result (an outcome such as 90, or a success): the command's committed schema,
        // and a status field, where it has one, that is the exit code.
        const out = parseWithSchema<unknown>('aklite-offline', schemaOf(args[0]), r.stdout);
        if (typeof out === 'object' && out !== null && 'status' in out)
          expect(out.status).to.equal(c.code);
        else expect(info.success, `${c.code} is a failure without a status field`).to.equal(true);
      }
    });
  }
});
