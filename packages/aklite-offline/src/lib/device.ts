/**
 * The device as the updater sees it: config, ports, booted deployment, state, and the
 * recovery of an installation that a power cut interrupted.
 */
import { join } from 'node:path';
import { devicePaths, recoverTrustStore, systemClock, type BundleType } from '@offline-ota/format';
import { loadConfig, type DeviceConfig } from './config.js';
import { AkliteError } from './errors.js';
import { acquireLock } from './lock.js';
import {
  bootedDeployment,
  callbackRunner,
  engineFor,
  fileSentinel,
  fwEnv,
  ostreeTool,
  type Ports,
} from './ports.js';
import {
  goodTargets,
  readState,
  writeState,
  type DeviceState,
  type TargetRecord,
} from './state.js';

export interface DeviceOptions {
  /** Device root; `/` on a real device. */
  deviceRoot: string;
  /** `--config` files or directories; empty means the defaults under the device root. */
  configPaths?: readonly string[];
  /** Replaces production adapters (tests, embedding). */
  ports?: Partial<Ports>;
}

export interface Device {
  root: string;
  paths: ReturnType<typeof devicePaths>;
  config: DeviceConfig;
  ports: Ports;
  sysroot: string;
  sysrootRepo: string;
  booted: { os: string; commit: string; serial: number };
  /** Trusted TUF metadata (`<storage>/tuf/<type>/…`). */
  trustDir: string;
  shippedRootsDir: string;
}

export async function openDevice(opts: DeviceOptions): Promise<Device> {
  const root = opts.deviceRoot;
  const paths = devicePaths(root);
  const config = await loadConfig({ deviceRoot: root, configPaths: opts.configPaths ?? [] });
  const ports: Ports = {
    ostree: ostreeTool,
    bootEnv: fwEnv(paths.fwEnvConfig),
    engine: engineFor(config),
    sentinel: fileSentinel(config.rebootSentinelDir, config.rebootSentinelName),
    probationMarker: fileSentinel(config.rebootSentinelDir, 'probation'),
    callback: callbackRunner,
    clock: systemClock,
    checkpoint: () => undefined,
    progress: () => undefined,
    byteProgress: () => undefined,
    ...opts.ports,
  };
  const booted = await bootedDeployment(paths.procCmdline, paths.sysroot);
  return {
    root,
    paths,
    config,
    ports,
    sysroot: paths.sysroot,
    sysrootRepo: join(paths.sysroot, 'ostree/repo'),
    booted,
    trustDir: join(config.storageDir, 'tuf'),
    shippedRootsDir: join(root, 'usr/lib/sota/tuf'),
  };
}

/**
 * Runs `fn` holding the aklite lock, after repairing the trusted TUF metadata store from
 * whatever a power cut interrupted (format's `recoverTrustStore`).
 */
export async function withLock<T>(dev: Device, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(dev.paths.lockFile, { bootIdFile: dev.paths.bootId });
  try {
    await recoverTrustStore(dev.trustDir);
    return await fn();
  } finally {
    await lock.release();
  }
}

export async function loadState(dev: Device): Promise<{ state: DeviceState; fresh: boolean }> {
  const r = await readState(dev.config.storageDir, dev.booted, dev.config.hardwareId);
  // Older state files (and a first start) have no list of good Targets: the current one is.
  r.state.good ??= goodTargets(r.state);
  return r;
}

/** The device type that check-in enforces: the config's, else the one learned from the first bundle. */
export function effectiveDeviceType(dev: Device, state: DeviceState): BundleType | undefined {
  return dev.config.deviceType ?? state.deviceType;
}

/**
 * Undeploys every deployment of `commit` that is not the booted one, and any deployment
 * ordered before the booted one, so the booted deployment is the default again.
 */
export async function makeBootedDefault(dev: Device, dropCommit?: string): Promise<void> {
  for (let guard = 0; guard < 16; guard++) {
    const list = await dev.ports.ostree.deployments(dev.sysroot);
    const bootedIdx = list.findIndex(
      (d) => d.commit === dev.booted.commit && d.serial === dev.booted.serial,
    );
    // A pinned deployment (the golden system) is never removed.
    const victim = list.find(
      (d, i) =>
        i !== bootedIdx &&
        !d.pinned &&
        ((bootedIdx >= 0 && i < bootedIdx) ||
          (dropCommit !== undefined && d.commit === dropCommit)),
    );
    if (!victim) return;
    await dev.ports.ostree.undeploy(dev.sysroot, victim.index);
  }
  throw new AkliteError(
    'DEVICE_INVALID',
    `cannot make the booted deployment the default in ${dev.sysroot}`,
  );
}

/** Deploys `commit` as the new default, merging /etc from the booted deployment. */
export async function deployCommit(dev: Device, commit: string): Promise<void> {
  await makeBootedDefault(dev);
  await dev.ports.ostree.deploy(dev.sysroot, dev.booted.os, commit);
}

/**
 * Brings an interrupted installation (phase `deploying`) to a consistent point:
 * - no reboot since (sentinel present), or a rollback: finish the deploy → `installed`;
 * - rebooted into the new commit: the deploy completed → `installed`;
 * - rebooted into the old commit: drop the half-done deployment and forget the install,
 *   so `install` can start again.
 * Returns true when the state changed.
 */
export async function recover(dev: Device, state: DeviceState): Promise<boolean> {
  const p = state.pending;
  if (!p || p.phase !== 'deploying') return false;
  const { ports } = dev;
  const rebooted = !(await ports.sentinel.exists());
  if (rebooted && dev.booted.commit === p.target.commit) {
    p.phase = 'installed';
  } else if (!rebooted || p.rollback) {
    ports.progress(`Completing the interrupted installation of ${p.target.name}`);
    const list = await ports.ostree.deployments(dev.sysroot);
    if (list[0]?.commit !== p.target.commit) {
      await ports.sentinel.create();
      await deployCommit(dev, p.target.commit);
    }
    await ports.bootEnv.set({ upgrade_available: 1, bootcount: 0 });
    p.phase = 'installed';
  } else {
    ports.progress(
      `The installation of ${p.target.name} was interrupted before it completed; it was undone, run install again`,
    );
    await makeBootedDefault(dev, p.target.commit);
    await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
    state.pending = null;
  }
  await writeState(dev.config.storageDir, state);
  return true;
}

/**
 * Deploys `to` as a rollback of `failedTarget` (app start failure, `probation fail`,
 * `rollback`): the pending record is written before the deploy, the reboot sentinel set,
 * and U-Boot armed, so a power cut at any step leaves a state `run` completes.
 */
export async function deployRollback(
  dev: Device,
  state: DeviceState,
  to: TargetRecord,
  failedTarget: string,
  startedAt: string,
): Promise<void> {
  const { ports } = dev;
  state.pending = {
    target: to,
    kind: 'ostree',
    phase: 'deploying',
    rollback: true,
    failedTarget,
    startedAt,
  };
  await writeState(dev.config.storageDir, state);
  ports.checkpoint('rollback-recorded');
  await ports.sentinel.create();
  await deployCommit(dev, to.commit);
  ports.checkpoint('rollback-deployed');
  await ports.bootEnv.set({ upgrade_available: 1, bootcount: 0 });
  state.pending.phase = 'installed';
  await writeState(dev.config.storageDir, state);
}
