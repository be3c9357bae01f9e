import { appendFile, copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import {
  APP_URI_RE,
  blobDir,
  blobPath,
  devicePaths,
  EngineError,
  factoryPaths,
  loadAppImages,
  readComposeProject,
  storeReader,
  walkAppTree,
  type BundleType,
  type ServiceStatus,
} from '@offline-ota/format';
import { appContent, appUriFile, checkBlob, describeProblem } from './app-store.js';
import { readOstreeArg, writeBootId, writeCmdline } from './cmdline.js';
import { CONTAINERS_CONF_FILE, DEVICE_ENGINE, deviceEngine } from './engine.js';
import { DeviceSimError, isErrno, messageOf } from './errors.js';
import { run } from './exec.js';
import { factoryOsName, factoryRootFiles, preloadedApps, readCatalogTarget } from './factory.js';
import { writeFileAtomic } from './fsutil.js';
import { Sysroot, parseDeploymentPath, resolveOstreeArg, type Deployment } from './ostree.js';
import { DEFAULT_BOOT_ENV, UBootEnv, type BootEnv } from './uboot-env.js';

/** Device files device-sim owns beyond `devicePaths` (README.md §Device tree). */
export const simPaths = (root: string) => ({
  sysroot: devicePaths(root).sysroot,
  ubootDefaults: join(root, 'boot/uboot.env.defaults'),
  hardwareIdConfig: join(root, 'usr/lib/sota/conf.d/40-hardware-id.toml'),
  sotaToml: join(root, 'var/sota/sota.toml'),
  installedVersions: join(root, 'var/sota/import/installed_versions'),
  bootLog: join(root, 'var/log/device-sim/boot.log'),
  lockDir: join(root, 'var/lock'),
  etcConfDir: join(root, 'etc/sota/conf.d'),
});

export type DeviceType = BundleType | 'none';

export interface CreateDeviceOptions {
  /** The device root directory; created if missing, refused if not empty. */
  root: string;
  /** The factory directory (`bundlectl` factory layout). */
  factory: string;
  /** Name of a published Target in the factory catalog. */
  target: string;
  /** `[provision] device_type`; `none` omits it (aklite-offline then defaults to ci). */
  type?: DeviceType;
  /** `[pacman] tags`; omitted when undefined. */
  tag?: string;
  /**
   * Provision the Target as the golden system: its deployment is pinned
   * (`ostree admin pin 0`) and `[pacman] golden_commit` names it (aklite-offline's rollback floor).
   */
  golden?: boolean;
  /** Progress callback; the library never prints. */
  onProgress?: (message: string) => void;
}

export interface BootedDeployment {
  commit: string;
  serial: number;
  /** `/ostree/deploy/<os>/deploy/<commit>.<serial>` */
  deployment: string;
}

export interface CreateDeviceResult {
  root: string;
  os: string;
  target: string;
  hardwareId: string;
  booted: BootedDeployment;
  apps: { running: string[]; failed: string[] };
  /** The golden system's commit when created with `golden`. */
  golden: string | null;
}

async function assertEmptyDir(root: string): Promise<void> {
  try {
    const entries = await readdir(root);
    if (entries.length > 0) {
      throw new DeviceSimError(
        'DEVICE_NOT_EMPTY',
        `${root} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); ` +
          'give a new or empty directory, or remove the old device first',
        { file: root },
      );
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      await mkdir(root, { recursive: true });
      return;
    }
    if (isErrno(err, 'ENOTDIR')) {
      throw new DeviceSimError(
        'DEVICE_NOT_EMPTY',
        `${root} is a file, not a directory; give a directory`,
        { file: root },
      );
    }
    throw err;
  }
}

/** The `var/sota/sota.toml` of a new device (README.md §Config). */
export function sotaToml(opts: { type: DeviceType; tag?: string; goldenCommit?: string }): string {
  const doc: Record<string, Record<string, string>> = {};
  if (opts.type !== 'none') doc.provision = { device_type: opts.type };
  doc.pacman = {
    type: 'ostree+compose_apps',
    ...(opts.tag !== undefined ? { tags: opts.tag } : {}),
    reset_apps: '',
    container_engine: 'podman',
    podman_storage_root: DEVICE_ENGINE.storageRoot,
    podman_run_root: DEVICE_ENGINE.runRoot,
    podman_storage_driver: DEVICE_ENGINE.driver,
    containers_conf: DEVICE_ENGINE.containersConf,
    ...(opts.goldenCommit !== undefined ? { golden_commit: opts.goldenCommit } : {}),
  };
  doc.bootloader = { rollback_mode: 'uboot_masked' };
  return stringifyToml(doc) + '\n';
}

/** Copies the app's blobs into the device store and unpacks its compose project. */
async function preloadApp(factory: string, root: string, app: string, uri: string): Promise<void> {
  const m = APP_URI_RE.exec(uri);
  if (!m) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `app ${app} has URI "${uri}", not <host>/<factory>/<app>@sha256:<hex>`,
    );
  }
  const hex = m[4];
  const from = factoryPaths(factory).appStore;
  const to = devicePaths(root).appStore;
  const content = await appContent(from, app, hex);
  await mkdir(blobDir(to), { recursive: true });
  for (const blob of content.blobs) {
    const problem = await checkBlob(from, blob.hex, blob.size);
    if (problem) {
      throw new DeviceSimError(
        'FACTORY_INVALID',
        `app ${app} of the factory store ${from}: ${describeProblem(problem, blob.hex)}; rebuild the app in the factory`,
      );
    }
    await copyFile(blobPath(from, blob.hex), blobPath(to, blob.hex));
  }
  await writeFileAtomic(appUriFile(to, app, hex), uri);
  const tree = await walkAppTree(hex, storeReader(to), `app ${app}`);
  await loadAppImages(
    deviceEngine(root),
    to,
    app,
    tree.images,
    join(root, 'var/sota/.engine-load'),
  );
  await rm(join(root, 'var/sota/.engine-load'), { recursive: true, force: true });
  const projectDir = join(devicePaths(root).composeAppsRoot, app);
  await mkdir(projectDir, { recursive: true });
  await run(
    'tar',
    [
      '-xzf',
      blobPath(to, content.composeBundle.hex),
      '-C',
      projectDir,
      '--no-same-owner',
      '--no-same-permissions',
    ],
    `unpacking the compose bundle of app ${app}`,
  );
}

/**
 * Provisions a device booted on a published Target (README.md §create): OSTree sysroot
 * with the Target's commit deployed, U-Boot env, cmdline, shipped TUF roots, config,
 * the one-off import of the installed Target, and the Target's apps preloaded and started.
 */
export async function createDevice(opts: CreateDeviceOptions): Promise<CreateDeviceResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const root = resolve(opts.root);
  const factory = resolve(opts.factory);
  const type = opts.type ?? 'ci';
  if (!['ci', 'prod', 'none'].includes(type)) {
    throw new DeviceSimError(
      'INVALID_ARGUMENT',
      `device type "${String(type)}" is not ci, prod or none`,
    );
  }
  const os = await factoryOsName(factory);
  const target = await readCatalogTarget(factory, opts.target);
  await assertEmptyDir(root);
  const paths = devicePaths(root);
  const sim = simPaths(root);

  progress(`deploying ${target.commit} (${target.name}) into ${paths.sysroot}`);
  await mkdir(paths.sysroot, { recursive: true });
  const sysroot = new Sysroot(paths.sysroot);
  await sysroot.initFs();
  await sysroot.osInit(os);
  await sysroot.pullLocal(factoryPaths(factory).ostreeRepo, target.commit);
  await sysroot.deploy(os, target.commit);
  const [booted] = await sysroot.deployments();
  if (opts.golden === true) {
    progress(`pinning ${booted.deployment} as the golden system`);
    await sysroot.pin(0);
  }
  await writeCmdline(root, booted.deployment);
  await writeBootId(root);

  progress(`initialising the U-Boot environment ${paths.ubootEnvFile}`);
  await mkdir(dirname(paths.ubootEnvFile), { recursive: true });
  await mkdir(dirname(paths.fwEnvConfig), { recursive: true });
  const env = new UBootEnv(root);
  await env.writeConfig();
  await env.initialise(sim.ubootDefaults, DEFAULT_BOOT_ENV);

  progress('installing the shipped TUF roots');
  let roots = 0;
  for (const t of ['ci', 'prod'] as const) {
    const dir = paths.shippedTufDir(t);
    await mkdir(dir, { recursive: true });
    for (const file of await factoryRootFiles(factory, t)) {
      await copyFile(file, join(dir, basename(file)));
      roots++;
    }
  }
  if (roots === 0) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `the factory ${factory} has no TUF roots (tuf/ci/N.root.json, tuf/prod/N.root.json); is it a bundlectl factory?`,
    );
  }

  await writeFileAtomic(
    sim.hardwareIdConfig,
    stringifyToml({ provision: { primary_ecu_hardware_id: target.hardwareId } }) + '\n',
  );
  await mkdir(dirname(join(root, DEVICE_ENGINE.containersConf)), { recursive: true });
  await copyFile(CONTAINERS_CONF_FILE, join(root, DEVICE_ENGINE.containersConf));
  await writeFileAtomic(
    sim.sotaToml,
    sotaToml({
      type,
      ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
      ...(opts.golden === true ? { goldenCommit: target.commit } : {}),
    }),
  );
  const { custom, hashes, length } = target.target;
  await writeFileAtomic(
    sim.installedVersions,
    JSON.stringify({ [target.name]: { is_current: true, hashes, length, custom } }, null, 2) + '\n',
  );

  const engine = deviceEngine(root);
  const apps = preloadedApps(custom);
  try {
    for (const { app, uri } of apps) {
      progress(`preloading app ${app} (images into ${engine.describe})`);
      await preloadApp(factory, root, app, uri);
      await engine.up(await readComposeProject(join(paths.composeAppsRoot, app), app));
    }
  } catch (err) {
    throw engineError(err, `starting the apps of ${target.name}`);
  }
  const running = runningApps(await engine.ps());
  const failed = apps.map((a) => a.app).filter((a) => !running.includes(a));

  for (const dir of [paths.runDir, sim.lockDir, sim.etcConfDir, dirname(sim.bootLog)])
    await mkdir(dir, { recursive: true });
  await appendFile(
    sim.bootLog,
    `${new Date().toISOString()} created: booted ${booted.deployment} (${target.name})\n`,
  );
  return {
    root,
    os,
    target: target.name,
    hardwareId: target.hardwareId,
    booted: { commit: booted.commit, serial: booted.serial, deployment: booted.deployment },
    apps: { running, failed },
    golden: opts.golden === true ? booted.commit : null,
  };
}

/** Apps all of whose containers run. */
function runningApps(list: readonly ServiceStatus[]): string[] {
  const apps = [...new Set(list.map((c) => c.app))];
  return apps.filter((a) => list.every((c) => c.app !== a || c.state === 'running')).sort();
}

function engineError(err: unknown, doing: string): unknown {
  if (!(err instanceof EngineError) && !(err instanceof Error && err.name === 'FormatError'))
    return err;
  return new DeviceSimError('TOOL_FAILED', `${doing} failed: ${err.message}`, { cause: err });
}

/**
 * What a shutdown and a boot do to the device's containers: all stop; those with restart
 * policy `always`, and `unless-stopped` ones that were running, start again (as docker
 * does; podman's podman-restart.service starts the `always` ones).
 */
async function restartContainers(root: string, boot: () => Promise<void>): Promise<string[]> {
  const engine = deviceEngine(root);
  if (!(await pathExists(join(root, DEVICE_ENGINE.storageRoot)))) {
    await boot();
    return [];
  }
  try {
    const before = await engine.ps();
    await engine.stopAll();
    await boot();
    const again = before
      .filter(
        (c) =>
          c.restartPolicy === 'always' ||
          (c.restartPolicy === 'unless-stopped' && c.state === 'running'),
      )
      .map((c) => c.container);
    await engine.start(again);
    return again;
  } catch (err) {
    throw engineError(err, 'restarting the containers');
  }
}

async function pathExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export interface RebootOptions {
  /** The default deployment's kernel does not come up (U-Boot retries, then falls back). */
  failBoot?: boolean;
}

export interface BootAttempt {
  bootcount: number;
  index: number;
  deployment: string;
  outcome: 'failed' | 'booted';
}

export interface RebootResult {
  booted: BootedDeployment & { index: number };
  /** True when U-Boot's altbootcmd booted the previous deployment (bootcount > bootlimit). */
  rolledBack: boolean;
  attempts: BootAttempt[];
  env: BootEnv;
}

async function emptyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Retried: the engine's monitors may still be leaving as the containers stop.
  for (const name of await readdir(dir))
    await rm(join(dir, name), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/**
 * Plays U-Boot for one reboot (README.md §reboot): counts boots while an upgrade is
 * pending, falls back to the previous deployment past `bootlimit`, confirms boot
 * firmware, then writes `/proc/cmdline` and a new boot id, and empties `/run`.
 */
export async function rebootDevice(root: string, opts: RebootOptions = {}): Promise<RebootResult> {
  root = resolve(root);
  const paths = devicePaths(root);
  const env = new UBootEnv(root);
  const vars = await env.read();
  const deployments = await new Sysroot(paths.sysroot).deployments();
  const attempts: BootAttempt[] = [];
  let chosen: Deployment;
  let rolledBack = false;
  if (vars.upgrade_available !== 0) {
    for (;;) {
      vars.bootcount += 1;
      if (vars.bootcount > vars.bootlimit) {
        const previous = deployments[1];
        if (previous === undefined) {
          await env.set({ bootcount: vars.bootcount });
          throw new DeviceSimError(
            'BOOT_FAILED',
            `the device would not come up: bootcount ${vars.bootcount} > bootlimit ${vars.bootlimit} and the sysroot ` +
              'has no previous deployment for altbootcmd to boot; recreate the device',
          );
        }
        vars.rollback = 1;
        await env.set({ bootcount: vars.bootcount, rollback: 1 });
        chosen = previous;
        rolledBack = true;
        break;
      }
      await env.set({ bootcount: vars.bootcount });
      if (opts.failBoot) {
        attempts.push({
          bootcount: vars.bootcount,
          index: 0,
          deployment: deployments[0].deployment,
          outcome: 'failed',
        });
        continue;
      }
      chosen = deployments[0]!;
      break;
    }
  } else {
    if (opts.failBoot) {
      throw new DeviceSimError(
        'BOOT_FAILED',
        'the device would not come up: no upgrade is pending so U-Boot does not count boots ' +
          `(upgrade_available=0 in ${paths.ubootEnvFile}); set upgrade_available=1 before a failing boot`,
      );
    }
    chosen = deployments[0]!;
  }
  attempts.push({
    bootcount: vars.bootcount,
    index: chosen.index,
    deployment: chosen.deployment,
    outcome: 'booted',
  });
  if (vars.bootupgrade_available !== 0) {
    vars.bootupgrade_available = 0;
    await env.set({ bootupgrade_available: 0 });
  }
  await restartContainers(root, async () => {
    await writeCmdline(root, chosen.deployment);
    await writeBootId(root);
    await emptyDir(paths.runDir);
  });
  const log = simPaths(root).bootLog;
  await mkdir(dirname(log), { recursive: true });
  await appendFile(
    log,
    `${new Date().toISOString()} reboot: booted ${chosen.deployment} (index ${chosen.index}) ` +
      `bootcount=${vars.bootcount} rollback=${vars.rollback}` +
      `${rolledBack ? ' altbootcmd' : ''} failed-attempts=${attempts.length - 1}\n`,
  );
  return {
    booted: {
      index: chosen.index,
      commit: chosen.commit,
      serial: chosen.serial,
      deployment: chosen.deployment,
    },
    rolledBack,
    attempts,
    env: await env.read(),
  };
}

export interface DeviceStatus {
  root: string;
  /** `present` is false when the booted deployment's directory was removed from the sysroot. */
  booted: BootedDeployment & { present: boolean };
  deployments: Array<{
    index: number;
    commit: string;
    serial: number;
    deployment: string;
    booted: boolean;
    /** `ostree admin pin` (the golden system). */
    pinned: boolean;
  }>;
  env: BootEnv;
  apps: { running: string[] };
  /** Every compose container in the device's engine store, as the engine reports it. */
  containers: ServiceStatus[];
  /** `var/sota/current-target` as KEY=VALUE (quotes removed), or null when absent. */
  currentTarget: Record<string, string> | null;
}

/** Parses aktualizr's `current-target` file (`KEY="value"` lines). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2];
    if (
      v.length >= 2 &&
      ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))
    ) {
      v = v.slice(1, -1);
    }
    out[m[1]] = v;
  }
  return out;
}

/** What is booted, what is deployed, the boot variables, running apps, current Target. */
export async function deviceStatus(root: string): Promise<DeviceStatus> {
  root = resolve(root);
  const paths = devicePaths(root);
  const arg = await readOstreeArg(root);
  // A /ostree/deploy/… argument names the deployment even when its directory is gone
  // (status still answers); a /ostree/boot.N/… symlink has to resolve.
  let resolved = arg;
  let present = true;
  if (parseDeploymentPath(arg) === null) {
    resolved = await resolveOstreeArg(paths.sysroot, arg);
  } else {
    try {
      await stat(join(paths.sysroot, arg));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      present = false;
    }
  }
  const parts = parseDeploymentPath(resolved);
  if (!parts) {
    throw new DeviceSimError(
      'DEVICE_INVALID',
      `${paths.procCmdline}: ostree=${arg} is not a deployment (${resolved})`,
      {
        file: paths.procCmdline,
      },
    );
  }
  const sysroot = new Sysroot(paths.sysroot);
  const deployments = await sysroot.deployments();
  const pinned = await Promise.all(deployments.map((d) => sysroot.isPinned(d.deployment)));
  let containers: ServiceStatus[] = [];
  if (await pathExists(join(root, DEVICE_ENGINE.storageRoot))) {
    try {
      containers = await deviceEngine(root).ps();
    } catch (err) {
      throw engineError(err, 'listing the containers');
    }
  }
  let currentTarget: Record<string, string> | null = null;
  try {
    currentTarget = parseKeyValues(await readFile(paths.currentTarget, 'utf8'));
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  return {
    root,
    booted: { commit: parts.commit, serial: parts.serial, deployment: resolved, present },
    deployments: deployments.map((d) => ({
      index: d.index,
      commit: d.commit,
      serial: d.serial,
      deployment: d.deployment,
      booted: d.deployment === resolved,
      pinned: pinned[d.index],
    })),
    env: await new UBootEnv(root).read(),
    apps: { running: runningApps(containers) },
    containers,
    currentTarget,
  };
}

/** The device's containers, each with the last `lines` lines of its log. */
export async function deviceContainers(
  root: string,
  lines = 1,
): Promise<(ServiceStatus & { log: string })[]> {
  root = resolve(root);
  if (!(await pathExists(join(root, DEVICE_ENGINE.storageRoot)))) return [];
  const engine = deviceEngine(root);
  try {
    const out: (ServiceStatus & { log: string })[] = [];
    for (const c of await engine.ps())
      out.push({ ...c, log: lines === 0 ? '' : await engine.logs(c.container, lines) });
    return out;
  } catch (err) {
    throw engineError(err, `listing the containers of ${root}`);
  }
}

/**
 * Removes a simulated device: removes every container and image of its engine store
 * (its containers stop), clears OSTree's immutable bit on every deployment root
 * (`chattr -i <sysroot>/ostree/deploy/*\/deploy/*.<serial>`), then deletes the tree.
 * A missing root is not an error.
 */
export async function destroyDevice(root: string): Promise<void> {
  root = resolve(root);
  try {
    await stat(root);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (await pathExists(join(root, DEVICE_ENGINE.storageRoot))) {
    try {
      await deviceEngine(root).removeAll();
    } catch (err) {
      throw engineError(err, `removing the containers of ${root}`);
    }
  }
  const deployRoot = join(devicePaths(root).sysroot, 'ostree/deploy');
  let osNames: string[] = [];
  try {
    osNames = await readdir(deployRoot);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const dirs: string[] = [];
  for (const os of osNames) {
    const dir = join(deployRoot, os, 'deploy');
    try {
      for (const name of await readdir(dir)) if (/\.[0-9]+$/.test(name)) dirs.push(join(dir, name));
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
  }
  if (dirs.length > 0)
    await run('chattr', ['-i', ...dirs], `clearing the immutable bit under ${deployRoot}`);
  try {
    // Retried: the engine's cleanup processes may still be writing as the containers go.
    await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (err) {
    throw new DeviceSimError(
      'TOOL_FAILED',
      `removing the device ${root} failed: ${messageOf(err)}`,
      { cause: err },
    );
  }
}
