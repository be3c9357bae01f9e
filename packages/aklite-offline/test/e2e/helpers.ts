/**
 * Shared fixtures for the end-to-end tests: one factory and its bundles, built once per
 * mocha process; a fresh simulated device per test. The CLIs under test run as processes:
 * the built `aklite-offline` and `bundlectl`, with the real `ostree`, `fw_setenv` and
 * container engine. The simulated hardware (device-sim: create, reboot, status) is called
 * in-process through its library, as its CLI does: the same code, a node start-up less
 * per call (device-sim's CLI is covered by its own package's tests).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeSampleApp,
  makeSampleRootfs,
  nextVersions,
  openFactory,
  publishTarget,
  readTargetsFile,
  signTargets,
  writeSigned,
} from '@offline-ota/bundle';
import { createTestFactory, offlineArgv, type TestFactory } from '@offline-ota/testkit';
import {
  createDevice,
  destroyDevice,
  deviceContainers,
  deviceStatus,
  rebootDevice,
  type DeviceType,
} from '@offline-ota/device-sim';
import {
  formatTufTime,
  signEnvelope,
  type Envelope,
  type TargetCustom,
  type TargetFileInfo,
} from '@offline-ota/format';
import { expect } from 'chai';
import type { CheckpointName } from '../../src/lib/ports.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The workspace root (dist-test/test/e2e → packages/aklite-offline → repo). */
export const REPO = resolve(HERE, '../../../../..');
/**
 * The aklite-offline CLI the tests run: the workspace build, or the one-file device CLI when
 * `AKLITE_CLI` names it (relative to the repo, e.g.
 * `AKLITE_CLI=packages/aklite-offline/dist-device/aklite-offline.mjs`; `pnpm build:device`
 * writes it). The same tests prove both; CI runs them against the one file (scripts/test.sh).
 */
export const AKLITE =
  process.env.AKLITE_CLI !== undefined && process.env.AKLITE_CLI !== ''
    ? resolve(REPO, process.env.AKLITE_CLI)
    : join(REPO, 'packages/aklite-offline/bin/run.js');
if (!existsSync(AKLITE))
  throw new Error(`AKLITE_CLI: ${AKLITE} does not exist; run \`pnpm build:device\` first`);
export const BUNDLECTL = join(REPO, 'packages/bundle/bin/run.js');

export interface Proc {
  code: number;
  stdout: string;
  stderr: string;
}

export function runProc(
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Proc> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', rej);
    child.on('close', (code, signal) =>
      res({
        code: code ?? (signal ? -1 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

/** Runs a tool and fails the test with its output if it does not exit 0. */
export async function mustRun(
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Proc> {
  const r = await runProc(cmd, args, env);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

export interface AkliteOptions {
  env?: Record<string, string>;
  /** Run under `faketime '<time>'` to move the device clock. */
  faketime?: string;
}

/**
 * `aklite-offline <args> --device-root <root>` as a process, where the network is
 * unreachable (`unshare -n`): the device tool proves it works offline.
 */
export function aklite(
  root: string,
  args: readonly string[],
  o: AkliteOptions = {},
): Promise<Proc> {
  const argv = [...args, '--device-root', root];
  if (o.faketime !== undefined)
    return runProc(
      ...offlineArgv('faketime', [o.faketime, process.execPath, AKLITE, ...argv]),
      o.env,
    );
  return runProc(...offlineArgv(process.execPath, [AKLITE, ...argv]), o.env);
}

export const install = (
  root: string,
  bundle: string,
  extra: string[] = [],
  o: AkliteOptions = {},
) => aklite(root, ['install', '--src-dir', bundle, ...extra], o);
export const runCmd = (root: string, o: AkliteOptions = {}) => aklite(root, ['run'], o);

export async function reboot(root: string, failBoot = false): Promise<void> {
  await rebootDevice(root, { failBoot });
}

export interface SimStatus {
  booted: { commit: string; serial: number; present: boolean };
  deployments: { index: number; commit: string; booted: boolean; pinned: boolean }[];
  env: Record<string, number>;
  apps: { running: string[] };
  containers: { container: string; image: string; state: string; exitCode: number }[];
  currentTarget: Record<string, string> | null;
}

export async function simStatus(root: string): Promise<SimStatus> {
  // As `device-sim status --json` prints it.
  return JSON.parse(JSON.stringify(await deviceStatus(root))) as SimStatus;
}

/** The device's containers (`device-sim apps --json`) with the last line each logged. */
export async function containers(
  root: string,
): Promise<{ container: string; image: string; state: string; log: string }[]> {
  return (await deviceContainers(root, 1)).map(({ container, image, state, log }) => ({
    container,
    image,
    state,
    log,
  }));
}

/** The image ref each of a Target's apps pins for service `svc` (from the factory catalog). */
export async function imageOf(fx: Fixtures, target: string, app = 'shellhttpd'): Promise<string> {
  const f = await openFactory(fx.factory.factoryDir);
  const entry = JSON.parse(await readFile(f.paths.catalogEntry(target), 'utf8')) as {
    target: { custom: TargetCustom };
  };
  const uri = entry.target.custom.docker_compose_apps?.[app]?.uri;
  if (uri === undefined) throw new Error(`${target} has no app ${app}`);
  const store = join(fx.factory.factoryDir, 'apps');
  const blob = async (hex: string) =>
    JSON.parse(await readFile(join(store, 'blobs/sha256', hex), 'utf8')) as {
      layers: { digest: string }[];
      images?: { ref: string }[];
    };
  const manifest = await blob(uri.split('@sha256:')[1]);
  const list = await blob(manifest.layers[1].digest.slice('sha256:'.length));
  return list.images![0].ref;
}

export async function fwPrint(root: string, name: string): Promise<string> {
  const r = await mustRun('fw_printenv', ['-c', join(root, 'etc/fw_env.config'), '-n', name]);
  return r.stdout.trim();
}

export async function fwSet(root: string, vars: Record<string, string | number>): Promise<void> {
  await mustRun('fw_setenv', [
    '-c',
    join(root, 'etc/fw_env.config'),
    ...Object.entries(vars).flatMap(([k, v]) => [k, String(v)]),
  ]);
}

export interface AkliteState {
  deviceType?: string;
  current: { name: string; commit: string } | null;
  pending: {
    target: { name: string; commit: string };
    kind: string;
    phase: string;
    rollback: boolean;
  } | null;
  failed: { name: string }[];
  bootFirmwareVersion?: string;
}

export async function readState(root: string): Promise<AkliteState | null> {
  try {
    return JSON.parse(await readFile(join(root, 'var/sota/state.json'), 'utf8')) as AkliteState;
  } catch {
    return null;
  }
}

/**
 * A digest of the whole device tree: every path with its type, mode, size, content hash
 * (files) or target (links). Nothing is excluded but the lock file.
 */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (rel === 'var/lock/aklite.lock') continue;
      const st = await lstat(p);
      if (st.isDirectory()) {
        out.set(rel, `dir ${st.mode.toString(8)}`);
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(rel, `link ${await readlink(p)}`);
      } else if (!st.isFile()) {
        // The engine's sockets and pipes (a running container's attach socket).
        out.set(rel, `special ${st.mode.toString(8)}`);
      } else {
        const h = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
        out.set(rel, `file ${st.mode.toString(8)} ${st.size} ${h}`);
      }
    }
  };
  await walk(root);
  return out;
}

/** Differences between two tree digests, for readable assertion failures. */
export function treeDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const diff: string[] = [];
  for (const [k, v] of a)
    if (b.get(k) !== v) diff.push(`${b.has(k) ? 'changed' : 'removed'}: ${k}`);
  for (const k of b.keys()) if (!a.has(k)) diff.push(`added: ${k}`);
  return diff;
}

// ---------------------------------------------------------------------------------------
// Fixtures

export interface Fixtures {
  work: string;
  factory: TestFactory;
  /** Target names by role. */
  t: { v1: string; v2: string; failing: string; appsOnly: string; bootFw: string };
  commits: Record<string, string>;
  /** Bundle directories (never modified; copy before tampering). */
  bundles: {
    v1: string;
    v2: string;
    failing: string;
    appsOnly: string;
    bootFw: string;
    prod: string;
    devel: string;
  };
}

const BOOT_FIRMWARE_VERSION = '2026.10';

/**
 * Publishes a Target that reuses another one's commit with a changed `custom` (the
 * factory's publish command always commits a new tree): signed into the tag's CI targets
 * with the factory's online key, like publish does.
 */
async function publishVariant(
  factoryDir: string,
  base: string,
  version: number,
  tag: string,
  change: (custom: TargetCustom) => TargetCustom,
): Promise<string> {
  const factory = await openFactory(factoryDir);
  const baseEntry = JSON.parse(await readFile(factory.paths.catalogEntry(base), 'utf8')) as {
    target: TargetFileInfo & { custom: TargetCustom };
  };
  const custom = change({ ...baseEntry.target.custom, version: String(version), tags: [tag] });
  const name = `${custom.name}-${version}`;
  const target = { ...baseEntry.target, custom };
  const path = factory.paths.tagTargets('ci', tag);
  const current = await readTargetsFile(path);
  const { targets: tv } = await nextVersions(factory, 'ci', ['targets']);
  const expires = formatTufTime(new Date(Date.now() + 365 * 86400_000));
  await writeSigned(
    path,
    signTargets(tv, expires, { ...(current?.env.signed.targets ?? {}), [name]: target }, [
      factory.onlineKeys['ci-targets'],
    ]),
  );
  await writeFile(
    factory.paths.catalogEntry(name),
    JSON.stringify({ name, target }, null, 2) + '\n',
  );
  return name;
}

async function createBundleCli(
  factoryDir: string,
  target: string,
  dst: string,
  extra: string[],
): Promise<string> {
  await mustRun(process.execPath, [
    BUNDLECTL,
    'create',
    target,
    dst,
    '--factory',
    factoryDir,
    ...extra,
  ]);
  return dst;
}

let fixtures: Promise<Fixtures> | undefined;

/**
 * The shared factory and bundles, built once per process (a mocha worker runs many files
 * one after the other: each used to build its own, the biggest cost of the suite) and
 * removed when the process exits. Tests never change them: they tamper with copies
 * (`copyBundle`) and write their own files under `work` with names no other file uses.
 */
export function getFixtures(): Promise<Fixtures> {
  if (fixtures === undefined) {
    fixtures = buildFixtures();
    fixtures.then(
      (fx) => {
        if (process.env.AKLITE_TEST_KEEP !== '1')
          process.once('exit', () => rmSync(fx.work, { recursive: true, force: true }));
      },
      () => undefined,
    );
  }
  return fixtures;
}

async function buildFixtures(): Promise<Fixtures> {
  const work = await mkdtemp(join(tmpdir(), 'aklite-e2e-'));
  const factory = await createTestFactory({ dir: work, versions: [1, 2] });
  const [v1, v2] = factory.targets as [string, string];
  const commits = { ...factory.commits };
  const f = await openFactory(factory.factoryDir);

  // v3: a new rootfs whose app's service exits with status 3 as it starts.
  const src = join(work, 'sources', 'v3');
  const rootfs = await makeSampleRootfs(join(src, 'rootfs'), {
    version: 3,
    osName: f.config.osName,
  });
  const app = await makeSampleApp(join(src, 'apps'), {
    name: 'shellhttpd',
    images: [
      {
        name: 'shellhttpd',
        files: { 'srv/shellhttpd/index.html': '<p>broken</p>\n', 'etc/version': '3\n' },
        service: { serves: '3', exitCode: 3 },
      },
    ],
  });
  const failing = await publishTarget({
    factory: f,
    rootfsDir: rootfs,
    hardwareId: factory.hardwareId,
    version: 3,
    tags: [factory.tag],
    apps: [app.projectDir],
  });
  commits[failing.name] = failing.commit;

  // v4: v1's commit with v2's apps (an apps-only update from v1), as
  // `bundlectl targets publish --reuse-commit` makes it.
  const appsOnlyRes = await publishTarget({
    factory: f,
    reuseCommitOf: v1,
    hardwareId: factory.hardwareId,
    version: 4,
    tags: [factory.tag],
    apps: [join(work, 'sources', 'v2', 'apps', 'shellhttpd')],
  });
  const appsOnly = appsOnlyRes.name;
  expect(appsOnlyRes.commit).to.equal(commits[v1]);
  commits[appsOnly] = commits[v1]!;
  // v5: v2's content plus new boot firmware.
  const bootFw = await publishVariant(factory.factoryDir, v2, 5, factory.tag, (c) => ({
    ...c,
    ['boot-firmware' as string]: { version: BOOT_FIRMWARE_VERSION },
  }));
  commits[bootFw] = commits[v2]!;
  // v2 also published for tag "devel" is not needed: a device on tag "devel" refuses the "main" bundle.

  const b = join(work, 'bundles');
  await mkdir(b, { recursive: true });
  const tag = ['--tag', factory.tag];
  const bundles: Fixtures['bundles'] = {
    v1: await createBundleCli(factory.factoryDir, v1, join(b, 'v1'), tag),
    v2: await createBundleCli(factory.factoryDir, v2, join(b, 'v2'), tag),
    failing: await createBundleCli(factory.factoryDir, failing.name, join(b, 'failing'), tag),
    // boot-fw before apps-only: the run test installs apps-only after boot-fw, and a stick
    // whose metadata is older than the device's is refused (3).
    bootFw: await createBundleCli(factory.factoryDir, bootFw, join(b, 'boot-fw'), tag),
    appsOnly: await createBundleCli(factory.factoryDir, appsOnly, join(b, 'apps-only'), tag),
    prod: join(b, 'prod'),
    devel: join(b, 'devel'),
  };
  // A production bundle of v2 (wave), signed with every offline targets key.
  await mustRun(process.execPath, [
    BUNDLECTL,
    'waves',
    'init',
    'wave-1',
    '--target',
    v2,
    '--tag',
    factory.tag,
    '--factory',
    factory.factoryDir,
    ...factory.offlineKeys.targets.flatMap((k) => ['--keys', k]),
  ]);
  await createBundleCli(factory.factoryDir, v2, bundles.prod, ['--wave', 'wave-1']);
  for (const k of factory.offlineKeys.targets) {
    const r = await runProc(process.execPath, [BUNDLECTL, 'sign', bundles.prod, '--keys', k]);
    if (r.code !== 0 && !/already|threshold/i.test(r.stderr + r.stdout))
      throw new Error(`sign failed: ${r.stderr}`);
  }
  return {
    work,
    factory,
    t: { v1, v2, failing: failing.name, appsOnly, bootFw },
    commits,
    bundles,
  };
}

// ---------------------------------------------------------------------------------------
// Devices

let deviceCounter = 0;
const devices: string[] = [];

export interface NewDeviceOptions {
  target?: string;
  type?: DeviceType;
  tag?: string;
  /** Extra TOML written to etc/sota/conf.d/90-test.toml. */
  toml?: string;
  /** Parent directory (e.g. a small tmpfs). */
  parent?: string;
  /** `device-sim create --golden`: the Target is the pinned golden system. */
  golden?: boolean;
}

/**
 * A simulated device at `root` (device-sim create), registered first so that
 * `destroyDevices` (and `cleanupAll`) remove it even when its creation failed half-way.
 */
export async function simDevice(
  root: string,
  o: { factory: string; target: string; type?: DeviceType; tag?: string; golden?: boolean },
): Promise<string> {
  await mkdir(dirname(root), { recursive: true });
  devices.push(root);
  await createDevice({
    root,
    factory: o.factory,
    target: o.target,
    type: o.type ?? 'ci',
    ...(o.tag === undefined ? {} : { tag: o.tag }),
    golden: o.golden === true,
  });
  return root;
}

/**
 * Destroys every device made by `simDevice` (containers stopped and removed). A failure is
 * reported, not swallowed: a device left running keeps writing into its tree.
 */
export async function destroyDevices(): Promise<void> {
  const failed: string[] = [];
  for (const d of devices.splice(0))
    await destroyDevice(d).catch((err: unknown) => failed.push(`${d}: ${String(err)}`));
  if (failed.length > 0) throw new Error(`destroying devices failed: ${failed.join('; ')}`);
}

/** A fresh device booted on v1 (or `o.target`). */
export async function newDevice(fx: Fixtures, o: NewDeviceOptions = {}): Promise<string> {
  const root = join(o.parent ?? join(fx.work, 'devices'), `d${++deviceCounter}`);
  await simDevice(root, {
    factory: fx.factory.factoryDir,
    target: o.target ?? fx.t.v1,
    ...(o.type === undefined ? {} : { type: o.type }),
    ...(o.tag === undefined ? { tag: fx.factory.tag } : o.tag === '' ? {} : { tag: o.tag }),
    ...(o.golden === undefined ? {} : { golden: o.golden }),
  });
  if (o.toml !== undefined) await writeFile(join(root, 'etc/sota/conf.d/90-test.toml'), o.toml);
  return root;
}

/** A copy of a bundle to tamper with. */
export async function copyBundle(fx: Fixtures, bundle: string): Promise<string> {
  const dst = await mkdtemp(join(fx.work, 'tampered-'));
  await cp(bundle, dst, { recursive: true });
  return dst;
}

/** A file's cleanup: its devices go; the shared fixtures stay for the process's next file. */
export async function cleanupAll(): Promise<void> {
  await destroyDevices();
}

/**
 * A bundle whose snapshot version disagrees with the timestamp's, validly re-signed with
 * the factory's online keys (TUF §5.5: a check-in failure, 4, not tampering).
 */
export async function resignSnapshotVersion(bundle: string, fx: Fixtures): Promise<void> {
  const f = await openFactory(fx.factory.factoryDir);
  const read = async <T>(rel: string) =>
    JSON.parse(await readFile(join(bundle, rel), 'utf8')) as Envelope<T>;
  const snap = await read<{ version: number }>('tuf/snapshot.json');
  snap.signed.version += 1;
  const bytes = await writeSigned(
    join(bundle, 'tuf/snapshot.json'),
    signEnvelope(snap.signed, [f.onlineKeys.snapshot]),
  );
  const ts = await read<{
    meta: Record<string, { hashes: Record<string, string>; length: number }>;
  }>('tuf/timestamp.json');
  ts.signed.meta['snapshot.json'].hashes = {
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  ts.signed.meta['snapshot.json'].length = bytes.length;
  await writeSigned(
    join(bundle, 'tuf/timestamp.json'),
    signEnvelope(ts.signed, [f.onlineKeys.timestamp]),
  );
}

/** Flips one byte in the middle of a file. */
export async function flipByte(file: string, at?: number): Promise<void> {
  const buf = await readFile(file);
  const i = at ?? Math.floor(buf.length / 2);
  buf[i] = buf[i] ^ 0x01;
  await writeFile(file, buf);
}

/** Files under a directory whose name matches. */
export async function findFiles(dir: string, re: RegExp): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (re.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

// ---------------------------------------------------------------------------------------
// Power cuts

/** Whether the process is stopped (SIGSTOP): `T` in /proc/<pid>/stat. */
async function isStopped(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

/** The testkit's `aklite-stop-at`: the real CLI with a checkpoint port that stops it. */
export const STOP_AT = join(REPO, 'packages/testkit/bin/aklite-stop-at.js');

/**
 * Runs `aklite-offline <args>` through `aklite-stop-at <step>`: the process stops itself
 * at that checkpoint, and we SIGKILL it there, like a power cut.
 */
export async function cutPowerAt(
  root: string,
  args: string[],
  step: CheckpointName,
): Promise<void> {
  const child = spawn(process.execPath, [STOP_AT, step, ...args, '--device-root', root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let finished: number | null | undefined;
  void exited.then((c) => (finished = c));
  for (let i = 0; i < 600; i++) {
    if (finished !== undefined)
      throw new Error(
        `aklite-offline ${args[0]} exited ${finished} before reaching step ${step}:\n${out}`,
      );
    if (await isStopped(child.pid!)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(await isStopped(child.pid!), `stopped at ${step}`).to.equal(true);
  child.kill('SIGKILL');
  await exited;
}

/** A bundle given to install as a directory or as one file. */
export type BundleFlag = '--src-dir' | '--src-file';

/**
 * Each checkpoint of install, in order, with the deployment the device boots after a power
 * cut there: the old system until `ostree admin deploy` has made the new one the default.
 */
export const POWER_CUT_INSTALL_STEPS: [CheckpointName, 'old' | 'new'][] = [
  ['space-checked', 'old'],
  ['ostree-staged', 'old'],
  ['apps-staged', 'old'],
  ['ostree-pulled', 'old'],
  ['apps-copied', 'old'],
  ['image-loaded', 'old'], // SIGKILL while the images load into the engine
  ['tuf-committed', 'old'],
  ['state-deploying', 'old'],
  ['deployed', 'new'],
  ['bootenv-set', 'new'],
  ['installed', 'new'],
];

/** run happens on the new system, which stays the default (bootcount stays under bootlimit). */
export const POWER_CUT_RUN_STEPS: CheckpointName[] = [
  'apps-extracted',
  'apps-stopped', // SIGKILL while the containers switch: v1's removed, v2's not up yet
  'apps-started',
  'bootenv-cleared',
  'current-target-written',
  'state-current',
];

/**
 * After the power cut and a reboot, an operator re-runs the documented sequence until the
 * device runs the new Target: run (0 done, 40 install again — 0 there means it was already
 * complete —, 100 reboot and run again).
 */
export async function completeUpdate(
  root: string,
  bundle: string,
  src: BundleFlag = '--src-dir',
): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const r = await runCmd(root);
    if (r.code === 0) return;
    if (r.code === 40) {
      const again = await aklite(root, ['install', src, bundle]);
      // The update had completed before the cut (0: already installed, also while its new
      // system is on probation; 42 before issue 10).
      if (again.code === 0 || again.code === 42) return;
      expect(again.code, again.stderr).to.be.oneOf([100, 10]);
      if (again.code === 100) await reboot(root);
      continue;
    }
    expect(r.code, r.stderr).to.equal(100);
    await reboot(root);
  }
  throw new Error('the update did not complete after four rounds');
}
