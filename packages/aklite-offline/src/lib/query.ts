/**
 * Commands that read: `check` and `list` with a stick (a check-in that leaves the trusted
 * metadata as it was), `status`, `current` and `list` without one. `status`, `current`
 * and `list` without a stick are pure reads: no lock, nothing written; the probation is
 * reported as stored (`probation settle` or any update command evaluates it).
 */
import { missingApps } from './apps.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CAPS,
  parseBoundedJson,
  parseTargets,
  StatusCode,
  targetMismatch,
  type TargetEntry,
} from '@offline-ota/format';
import {
  appsView,
  checkIn,
  selectTarget,
  skippedFailed,
  targetViews,
  type AppView,
  type Selection,
  type TargetView,
} from './checkin.js';
import {
  effectiveDeviceType,
  loadState,
  openDevice,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import { assertNotDeferred, deferringClients } from './deferral.js';
import { openMedia } from './media.js';
import { AkliteError, messageOf } from './errors.js';
import {
  assertNotInProbation,
  probationView,
  probationWouldBlock,
  type ProbationView,
} from './probation.js';
import { goodTargets, initialTarget, type DeviceState, type TargetRecord } from './state.js';

export interface CheckOptions extends DeviceOptions {
  srcDir: string;
}

/** What stops `install` from installing the Target it would pick, and the code it would exit with. */
export interface InstallBlock {
  status:
    | typeof StatusCode.InstallationInProgress
    | typeof StatusCode.UpdatesDeferred
    | typeof StatusCode.InstallInProbation;
  /** The Target install would pick. */
  target: string;
  reason: string;
}

export interface CheckResult {
  /**
   * 16 when install would install a Target; 17 when the device is up to date but the
   * container engine lost an app of the current Target that this bundle holds (install
   * restores it); 0 when there is nothing to install (up to date, or only Targets that
   * failed here are newer); when one is available but install would refuse it, the code
   * install would exit with: 30 an installation is pending, 41 updates are deferred, 42
   * the system is on probation.
   */
  status:
    | typeof StatusCode.Ok
    | typeof StatusCode.CheckinUpdateNewVersion
    | typeof StatusCode.CheckinUpdateSyncApps
    | InstallBlock['status'];
  targets: TargetView[];
  /** Targets that fit the device but whose content is missing from the bundle. */
  unavailable: { name: string; reason: string }[];
  bundle: { type: string; tag: string; expires: string };
  /** Why install would not install the Target it picks (then `status` is its code). */
  blocked: InstallBlock | null;
  /** Newer Targets that failed on this device, with why: never selected. */
  failed: { name: string; reason: string }[];
}

/** Check-in against the bundle without changing the device (trusted metadata is not updated). */
export async function check(opts: CheckOptions): Promise<CheckResult> {
  const dev = await openDevice(opts);
  return withLock(dev, () => checkLocked(dev, opts.srcDir));
}

/** `check` for a caller that already holds the lock (the USB trigger, usb.ts). */
export function checkLocked(dev: Device, srcDir: string): Promise<CheckResult> {
  return (async () => {
    const { state } = await loadState(dev);
    const media = await openMedia(dev, srcDir);
    let ci;
    try {
      ci = await checkIn(dev, state, media);
    } catch (err) {
      await media.close();
      throw err;
    }
    try {
      let sel: Selection | undefined =
        selectTarget(ci.result, state, undefined, ci.refused) ?? undefined;
      const cur = state.current;
      if (cur && sel && (sel.target.name === cur.name || sel.target.version < cur.version))
        sel = undefined;
      const blocked = sel ? await installBlock(dev, state, sel.target.name) : null;
      // Up to date, but the engine lost an app of the current Target that this bundle
      // holds: 17, and `install` restores it.
      const sync =
        !sel &&
        cur !== null &&
        ci.result.available.some((a) => a.name === cur.name) &&
        (await missingApps(dev.config, dev.ports.engine, cur)).length > 0;
      return {
        status:
          blocked?.status ??
          (sel
            ? StatusCode.CheckinUpdateNewVersion
            : sync
              ? StatusCode.CheckinUpdateSyncApps
              : StatusCode.Ok),
        targets: targetViews(
          dev,
          state,
          ci.result.available,
          sel,
          blocked ? { target: blocked.target, reason: blocked.reason } : undefined,
        ),
        unavailable: ci.result.unavailable,
        bundle: {
          type: ci.result.type,
          tag: ci.result.tag,
          expires: ci.result.manifest.signed.expires,
        },
        blocked,
        failed: skippedFailed(ci.result, state, cur),
      };
    } finally {
      await ci.discard();
      await media.close();
    }
  })();
}

/**
 * What `install` would refuse with before installing `target`, in its order: a pending
 * installation (30), deferral (41), probation (42). A pure read.
 */
async function installBlock(
  dev: Device,
  state: DeviceState,
  target: string,
): Promise<InstallBlock | null> {
  const p = state.pending;
  const block = (status: InstallBlock['status'], why: string): InstallBlock => ({
    status,
    target,
    reason: `${target} would be installed, but install would exit ${status}: ${why}`,
  });
  if (p) {
    return block(
      StatusCode.InstallationInProgress,
      `the installation of ${p.target.name} awaits its finalization; ` +
        (p.kind === 'ostree' && (await dev.ports.sentinel.exists())
          ? 'reboot the device and run `aklite-offline run`'
          : 'run `aklite-offline run`'),
    );
  }
  try {
    assertNotDeferred(state, 'install');
  } catch (err) {
    return block(StatusCode.UpdatesDeferred, messageOf(err));
  }
  if (await probationWouldBlock(dev, state)) {
    try {
      assertNotInProbation(dev, state);
    } catch (err) {
      return block(StatusCode.InstallInProbation, messageOf(err));
    }
  }
  return null;
}

export interface TargetStatus {
  name: string;
  version: number;
  ostree_hash: string;
  apps: AppView[];
}

/** `status --json` (README.md): what the device runs and what awaits finalization. */
export interface DeviceStatus {
  hardware_id: string;
  ostree_hash: string;
  tag: string;
  device_type: string | null;
  applied_target: TargetStatus | null;
  pending_target:
    (TargetStatus & { kind: 'ostree' | 'apps'; rollback: boolean; needs_reboot: boolean }) | null;
  failed_targets: {
    name: string;
    version: number;
    reason: string;
    at: string;
    /** When its apps failed to start: app, service, exit code, the end of its log. */
    app_failure?: {
      app: string;
      service: string | null;
      exit_code: number | null;
      log: string | null;
    };
  }[];
  boot_firmware_version: string | null;
  bootloader: Record<string, string | null>;
  /** Update control (docs/update-control.md). */
  probation: ProbationView;
  deferred_by: { client: string; count: number }[];
  last_good_target: { name: string; version: number; ostree_hash: string } | null;
  golden_target: {
    name: string | null;
    ostree_hash: string;
    /** A deployment of the golden commit is pinned in the sysroot. */
    pinned: boolean;
  } | null;
}

/**
 * `aklite-offline status`: a pure read of the device and its stored state. It takes no
 * lock and writes nothing, so it also answers while an update runs.
 */
export async function status(opts: DeviceOptions): Promise<DeviceStatus> {
  const dev = await openDevice(opts);
  const { state } = await loadState(dev);
  const view = (t: TargetRecord): TargetStatus => ({
    name: t.name,
    version: t.version,
    ostree_hash: t.commit,
    apps: appsView(dev, t),
  });
  const bootloader: Record<string, string | null> = {};
  for (const v of ['upgrade_available', 'bootupgrade_available', 'bootcount', 'rollback']) {
    bootloader[v] = (await dev.ports.bootEnv.get(v)) ?? null;
  }
  const p = state.pending;
  const lastGood = goodTargets(state).at(-1);
  const golden = dev.config.goldenCommit;
  const deployments = golden ? await dev.ports.ostree.deployments(dev.sysroot) : [];
  return {
    hardware_id: dev.config.hardwareId,
    ostree_hash: dev.booted.commit,
    tag: dev.config.tags.join(','),
    device_type: effectiveDeviceType(dev, state) ?? null,
    applied_target: state.current ? view(state.current) : null,
    pending_target: p
      ? {
          ...view(p.target),
          kind: p.kind,
          rollback: p.rollback,
          needs_reboot: p.kind === 'ostree' && (await dev.ports.sentinel.exists()),
        }
      : null,
    failed_targets: state.failed.map((f) => ({
      name: f.name,
      version: f.version,
      reason: f.reason,
      at: f.at,
      ...(f.app === undefined
        ? {}
        : {
            app_failure: {
              app: f.app.app,
              service: f.app.service ?? null,
              exit_code: f.app.exitCode ?? null,
              log: f.app.log ?? null,
            },
          }),
    })),
    boot_firmware_version: state.bootFirmwareVersion ?? null,
    bootloader,
    probation: probationView(dev, state),
    deferred_by: deferringClients(state),
    last_good_target: lastGood
      ? { name: lastGood.name, version: lastGood.version, ostree_hash: lastGood.commit }
      : null,
    golden_target: golden
      ? {
          name: goodTargets(state).find((g) => g.commit === golden)?.name ?? null,
          ostree_hash: golden,
          pinned: deployments.some((d) => d.commit === golden && d.pinned),
        }
      : null,
  };
}

/** One Target of `list` without a stick: `check`'s Target shape, plus `pending`. */
export type ListEntry = TargetView & {
  /** The installation of this Target awaits its finalization (`run`). */
  pending?: true;
};

/**
 * `list` without a stick: the Targets of the device's trusted TUF metadata that fit it
 * (hardware id, tags), by version, in `check`'s Target shape (reference §3.9); the
 * metadata was verified when it was stored by an install. A pure read.
 */
export async function list(opts: DeviceOptions): Promise<ListEntry[]> {
  const dev = await openDevice(opts);
  const { state } = await loadState(dev);
  const type = effectiveDeviceType(dev, state);
  const types = type ? [type] : (['ci', 'prod'] as const);
  const seen = new Map<string, TargetEntry>();
  for (const t of types) {
    const file = join(dev.trustDir, t, 'targets.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    try {
      const json = parseBoundedJson(text, file, { maxBytes: CAPS.targets }) as {
        signed?: { targets?: unknown };
      };
      for (const e of parseTargets(json.signed?.targets)) seen.set(e.name, e);
    } catch (err) {
      throw new AkliteError(
        'STATE_INVALID',
        `${file} cannot be read as TUF targets metadata: ${messageOf(err)}`,
        { cause: err, file },
      );
    }
  }
  const entries: TargetEntry[] = [...seen.values()]
    .filter(
      (e) =>
        targetMismatch(e, { hardwareId: dev.config.hardwareId, tags: dev.config.tags }) === null,
    )
    .sort((a, b) => a.version - b.version);
  if (state.current && !seen.has(state.current.name)) entries.unshift(state.current);
  return targetViews(dev, state, entries, undefined).map((t) => {
    const out: ListEntry = t;
    if (state.pending?.target.name === t.name) {
      out.pending = true;
      out.reason ??= `its installation awaits its finalization: run \`aklite-offline run\``;
    }
    return out;
  });
}

/** `list` with a stick: its Targets as `check` shows them, and the check-in's status. */
export interface ListStickResult {
  /**
   * The reference's codes of `list`: 16 a newer Target fits this device (whatever would
   * block its install: the Target's reason says it), 17 an app of the current Target is
   * missing, 0 nothing newer. Check-in failures (3, 4, 6, 8, 11, ...) are thrown.
   */
  status:
    | typeof StatusCode.Ok
    | typeof StatusCode.CheckinUpdateNewVersion
    | typeof StatusCode.CheckinUpdateSyncApps;
  targets: TargetView[];
}

/**
 * `list --src-dir/--src-file`: the whole check-in against the stick (as `check`: nothing
 * is written), then its Targets. Unlike `check`, a blocked install (30/41/42) is not this
 * command's status: `list` answers what the stick offers.
 */
export async function listStick(opts: CheckOptions): Promise<ListStickResult> {
  const res = await check(opts);
  const s = res.status;
  return {
    status:
      s === StatusCode.Ok || s === StatusCode.CheckinUpdateSyncApps
        ? s
        : StatusCode.CheckinUpdateNewVersion,
    targets: res.targets,
  };
}

/** `current`: the Target the device runs (reference `aklite current`). */
export interface CurrentTarget {
  /** `Initial Target` (version -1) when the device has no install record. */
  name: string;
  version: number;
  ostree_hash: string;
  apps: AppView[];
  /** The commit the device booted: not `ostree_hash` after the reboot into a pending install, before `run`. */
  booted_ostree_hash: string;
}

/** `aklite-offline current`: a pure read of the stored current Target and the booted commit. */
export async function current(opts: DeviceOptions): Promise<CurrentTarget> {
  const dev = await openDevice(opts);
  const { state } = await loadState(dev);
  const t = state.current ?? initialTarget(dev.booted.commit, dev.config.hardwareId);
  return {
    name: t.name,
    version: t.version,
    ostree_hash: t.commit,
    apps: appsView(dev, t),
    booted_ostree_hash: dev.booted.commit,
  };
}
