/**
 * `aklite-offline run` (reference §3.8, with aklite-offline's remapping): finalize the
 * pending installation after the reboot, or roll back.
 *
 *   no pending                          → NO_PENDING (40)
 *   not rebooted yet (sentinel present)  → 100
 *   booted another commit (U-Boot fell back) → mark failed, booted deployment default again,
 *                                          upgrade_available=0 → 99
 *   booted the new commit               → extract + start apps, upgrade_available=0, current → 0
 *                                          (5 when the Target brings new boot firmware)
 *   apps failed to start                → mark failed, deploy the previous Target → 100
 *                                          (99 for an apps-only update rolled back in place;
 *                                          120 when there is no previous Target)
 */
import { StatusCode } from '@offline-ota/format';
import { restartApps, startApps } from './apps.js';
import { failed, fireCallback } from './callbacks.js';
import { assertNotDeferred } from './deferral.js';
import {
  deployRollback,
  loadState,
  makeBootedDefault,
  openDevice,
  recover,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import { AkliteError, messageOf } from './errors.js';
import { AppStartError } from './ports.js';
import { settleProbation, startProbation } from './probation.js';
import {
  bootFirmwareOf,
  markFailed,
  recordGood,
  writeCurrentTarget,
  writeState,
  type DeviceState,
  type PendingInstall,
} from './state.js';

export type RunStatus =
  | typeof StatusCode.Ok
  | typeof StatusCode.OkNeedsRebootForBootFw
  | typeof StatusCode.InstallOfflineRollbackOk
  | typeof StatusCode.InstallNeedsReboot
  | typeof StatusCode.InstallRollbackNeedsReboot;

export interface RunResult {
  status: RunStatus;
  target: string;
  message: string;
  /** True when the finalized Target starts its probation period (docs/update-control.md). */
  probation?: boolean;
}

/** A run outcome plus the `install-post` RESULT it reports (none: no install-post). */
type Outcome = RunResult & { callback?: string };

export async function run(opts: DeviceOptions): Promise<RunResult> {
  const dev = await openDevice(opts);
  return withLock(dev, () => runLocked(dev));
}

async function runLocked(dev: Device): Promise<RunResult> {
  const { state } = await loadState(dev);
  await recover(dev, state);
  await settleProbation(dev, state);
  return runPending(dev, state);
}

/**
 * `run` on a locked device whose state is loaded and recovered and whose probation is
 * settled: what `run` does, and what the boot service does when `[pacman] finalize_at_boot`
 * is on (boot.ts).
 */
export async function runPending(dev: Device, state: DeviceState): Promise<RunResult> {
  const p = state.pending;
  if (!p) {
    throw new AkliteError(
      'NO_PENDING',
      'No pending installation to run/finalize has been found; make sure you called `aklite-offline install` before `run`',
    );
  }
  const { ports } = dev;
  const notRebooted = p.kind === 'ostree' && (await ports.sentinel.exists());
  // A boot failure forces the rollback: its bookkeeping goes ahead even while clients defer.
  const fellBack = p.kind === 'ostree' && !notRebooted && dev.booted.commit !== p.target.commit;
  if (!fellBack) assertNotDeferred(state, `finalize ${p.target.name} (run)`);
  await fireCallback(dev, state, 'install-final-pre', { installTarget: p.target.name });
  const out = await finalize(dev, state, p);
  if (out.callback !== undefined)
    await fireCallback(dev, state, 'install-post', {
      installTarget: p.target.name,
      result: out.callback,
    });
  const res: RunResult = { status: out.status, target: out.target, message: out.message };
  if (out.probation !== undefined) res.probation = out.probation;
  return res;
}

async function finalize(dev: Device, state: DeviceState, p: PendingInstall): Promise<Outcome> {
  const { ports } = dev;
  if (p.kind === 'ostree' && (await ports.sentinel.exists())) {
    return {
      status: StatusCode.InstallNeedsReboot,
      target: p.target.name,
      message: `${p.target.name} is installed but the device has not rebooted yet; reboot the device and run \`aklite-offline run\` again`,
    };
  }
  if (p.kind === 'ostree' && dev.booted.commit !== p.target.commit) {
    const r = await bootFellBack(dev, state, p);
    return {
      ...r,
      callback: failed(`the device did not boot ${p.target.name}; the bootloader fell back`),
    };
  }
  try {
    // The Target run before this one stays the rollback Target: its images are kept.
    const keep = state.current && state.current.name !== p.target.name ? [state.current] : [];
    await startApps(dev.config, ports, p.target, keep);
  } catch (err) {
    if (!(err instanceof AppStartError)) throw err;
    const r = await appsFailed(dev, state, p, err);
    return { ...r, callback: failed(err.message) };
  }
  ports.checkpoint('apps-started');
  const fw = bootFirmwareOf(p.target);
  const newFw = fw !== undefined && fw !== state.bootFirmwareVersion;
  // A new OSTree system starts its probation: U-Boot keeps counting its boots
  // (upgrade_available stays 1) until it is marked good (docs/update-control.md).
  const onProbation = !p.rollback && p.kind === 'ostree' && dev.config.probationSeconds > 0;
  await ports.bootEnv.set({
    upgrade_available: onProbation ? 1 : 0,
    bootcount: 0,
    ...(newFw ? { bootupgrade_available: 1 } : {}),
  });
  ports.checkpoint('bootenv-cleared');
  state.current = p.target;
  state.pending = null;
  if (onProbation) await startProbation(dev, state, p.target);
  else {
    state.probation = null;
    recordGood(state, p.target, dev.config.goldenCommit);
  }
  if (newFw) state.bootFirmwareVersion = fw;
  if (!p.rollback) state.failed = state.failed.filter((f) => f.name !== p.target.name);
  // current-target first: the state write is the commit point, so a power cut before it
  // makes the next `run` redo the (idempotent) finalization.
  await writeCurrentTarget(dev.config.storageDir, dev.config.tags, p.target);
  ports.checkpoint('current-target-written');
  await writeState(dev.config.storageDir, state);
  ports.checkpoint('state-current');
  const probationNote = onProbation
    ? `; its probation period of ${dev.config.probationSeconds} s starts now (see \`aklite-offline probation status\`)`
    : '';
  if (p.rollback) {
    return {
      status: StatusCode.Ok,
      target: p.target.name,
      message: `Rollback complete: the device runs ${p.target.name} again (${p.failedTarget ?? 'the update'} failed)`,
      callback: 'OK',
    };
  }
  if (newFw) {
    return {
      status: StatusCode.OkNeedsRebootForBootFw,
      target: p.target.name,
      message: `Update to ${p.target.name} succeeded and installed boot firmware ${fw}; reboot when convenient to confirm it${probationNote}`,
      probation: onProbation,
      callback: 'OK',
    };
  }
  return {
    status: StatusCode.Ok,
    target: p.target.name,
    message: `Update to ${p.target.name} succeeded; the device runs it with its apps${probationNote}`,
    probation: onProbation,
    callback: 'OK',
  };
}

/** U-Boot booted the previous deployment (bootcount passed bootlimit): finish the rollback. */
async function bootFellBack(
  dev: Device,
  state: DeviceState,
  p: PendingInstall,
): Promise<RunResult> {
  const { ports } = dev;
  if (p.rollback) {
    return {
      status: StatusCode.InstallRollbackNeedsReboot,
      target: p.target.name,
      message:
        `Device is in an undefined state: the rollback to ${p.target.name} did not boot (booted ${dev.booted.commit}); ` +
        'service the device and install a known good Target',
    };
  }
  ports.progress(
    `Expected to boot ${p.target.commit} but found ${dev.booted.commit}: the bootloader rolled back`,
  );
  await makeBootedDefault(dev, p.target.commit);
  await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
  markFailed(
    state,
    p.target,
    `the device did not boot ${p.target.commit}; the bootloader fell back to ${dev.booted.commit}`,
    ports.clock(),
  );
  state.pending = null;
  await writeState(dev.config.storageDir, state);
  ports.checkpoint('fallback-recorded');
  const cur = state.current;
  if (cur && cur.commit === dev.booted.commit) await restartApps(dev.config, ports, cur);
  return {
    status: StatusCode.InstallOfflineRollbackOk,
    target: p.target.name,
    message: `Installation of ${p.target.name} has failed and the device rolled back to ${cur?.name ?? dev.booted.commit}; no reboot is required`,
  };
}

/** The new Target's apps failed: roll back to the previous Target. */
async function appsFailed(
  dev: Device,
  state: DeviceState,
  p: PendingInstall,
  err: AppStartError,
): Promise<RunResult> {
  const { ports } = dev;
  const prev = state.current;
  const undefinedState = (why: string): RunResult => ({
    status: StatusCode.InstallRollbackNeedsReboot,
    target: p.target.name,
    message: `Device is in an undefined state: ${why}; service the device and install a known good Target`,
  });
  if (p.rollback) {
    state.pending = null;
    await writeState(dev.config.storageDir, state);
    return undefinedState(
      `the apps of the rollback Target ${p.target.name} failed to start too (${err.message})`,
    );
  }
  markFailed(
    state,
    p.target,
    `app ${err.app} failed to start: ${err.message}`,
    ports.clock(),
    err.failure,
  );
  if (!prev || prev.unknown || prev.name === p.target.name) {
    // Keep the device on what it booted: without upgrade_available U-Boot stops counting boots.
    await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
    state.pending = null;
    await writeState(dev.config.storageDir, state);
    return undefinedState(
      `the apps of ${p.target.name} failed to start (${err.message}) and there is no previous Target to roll back to`,
    );
  }
  const startedAt = ports.clock().toISOString();
  if (prev.commit === dev.booted.commit) {
    // Apps-only update: roll the apps back in place, no reboot.
    state.pending = {
      target: prev,
      kind: 'apps',
      phase: 'installed',
      rollback: true,
      failedTarget: p.target.name,
      startedAt,
    };
    await writeState(dev.config.storageDir, state);
    try {
      await startApps(dev.config, ports, prev);
    } catch (err2) {
      return undefinedState(
        `the apps of ${p.target.name} failed and restoring those of ${prev.name} failed too: ${messageOf(err2)}`,
      );
    }
    state.pending = null;
    await writeState(dev.config.storageDir, state);
    await writeCurrentTarget(dev.config.storageDir, dev.config.tags, prev);
    return {
      status: StatusCode.InstallOfflineRollbackOk,
      target: p.target.name,
      message: `The apps of ${p.target.name} failed to start (${err.message}); the device rolled back to ${prev.name}, no reboot is required`,
    };
  }
  await deployRollback(dev, state, prev, p.target.name, startedAt);
  return {
    status: StatusCode.InstallNeedsReboot,
    target: p.target.name,
    message:
      `The apps of ${p.target.name} failed to start (${err.message}); rolling back to ${prev.name}. ` +
      'Reboot the device and run `aklite-offline run` to complete the rollback',
  };
}
