/**
 * Probation (docs/update-control.md; Legato le_updateCtrl probation): a new OSTree system
 * that `run` finalized must stay up for `[pacman] probation_seconds`. U-Boot keeps
 * counting its boots (`upgrade_available=1`), so too many reboots before the end fall back
 * to the previous deployment. A reboot restarts the period; locks stop it ending by time;
 * `mark-good` ends it; `fail` rolls back.
 *
 * There is no daemon: `settleProbation` evaluates it whenever a command that changes the
 * device runs (install, run, rollback, defer, allow, `probation lock|unlock|mark-good|fail`),
 * at each boot (`boot`, the boot service, which also keeps boots that came up out of
 * U-Boot's count: boot.ts) and on `probation settle` (the shipped probation timer).
 * `status` and `probation status` only read it; `probationWouldBlock` is what `check` reads.
 */
import { StatusCode } from '@offline-ota/format';
import { restartApps } from './apps.js';
import { assertNotDeferred } from './deferral.js';
import { makeBootedDefault, type Device } from './device.js';
import { AkliteError } from './errors.js';
import { returnToGood } from './rollback.js';
import {
  goodTargets,
  initialTarget,
  markFailed,
  recordGood,
  writeCurrentTarget,
  writeState,
  type DeviceState,
  type TargetRecord,
} from './state.js';

/** Starts the probation of the Target `run` just finalized (bootcount restarts at 0). */
export async function startProbation(
  dev: Device,
  state: DeviceState,
  t: TargetRecord,
): Promise<void> {
  state.probation = {
    target: t.name,
    commit: t.commit,
    startedAt: dev.ports.clock().toISOString(),
    locks: 0,
    reboots: 0,
  };
  await dev.ports.probationMarker.create();
}

/** Ends the probation: the current Target is good; U-Boot stops counting boots. */
async function markGoodNow(dev: Device, state: DeviceState): Promise<void> {
  await dev.ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
  if (state.current) recordGood(state, state.current, dev.config.goldenCommit);
  state.probation = null;
  await writeState(dev.config.storageDir, state);
  await dev.ports.probationMarker.remove();
}

export type ProbationEvent =
  | { kind: 'none' }
  | { kind: 'ongoing' }
  | { kind: 'restarted'; reboots: number }
  | { kind: 'good'; target: string }
  | { kind: 'rolled-back'; target: string; to: string };

/** When the probation ends by time (ISO), or null when it does not end by time (locked). */
export function probationEndsAt(dev: Device, state: DeviceState): string | null {
  const p = state.probation;
  if (!p || p.locks > 0) return null;
  return new Date(Date.parse(p.startedAt) + dev.config.probationSeconds * 1000).toISOString();
}

/**
 * Evaluates the probation now: notices U-Boot's fall back (the bookkeeping of a forced
 * rollback, done even while clients defer), restarts the period after a reboot, and marks
 * the system good when the period is over and no lock holds it. Writes the state only
 * when something changed. Runs under the lock.
 */
export async function settleProbation(dev: Device, state: DeviceState): Promise<ProbationEvent> {
  const p = state.probation;
  if (!p) return { kind: 'none' };
  const { ports } = dev;
  if (dev.booted.commit !== p.commit) return forcedRollback(dev, state);
  let event: ProbationEvent = { kind: 'ongoing' };
  if (!(await ports.probationMarker.exists())) {
    // /run is a tmpfs: a missing marker means the device rebooted since the last look.
    p.reboots += 1;
    p.startedAt = ports.clock().toISOString();
    await writeState(dev.config.storageDir, state);
    await ports.probationMarker.create();
    ports.progress(
      `The device rebooted during the probation of ${p.target} (reboot ${p.reboots}); the probation period starts over`,
    );
    event = { kind: 'restarted', reboots: p.reboots };
  }
  const ends = probationEndsAt(dev, state);
  if (ends !== null && ports.clock().getTime() >= Date.parse(ends)) {
    await markGoodNow(dev, state);
    ports.progress(`${p.target} completed its probation period and is now marked good`);
    return { kind: 'good', target: p.target };
  }
  return event;
}

/** U-Boot booted another deployment than the one on probation: finish that rollback. */
async function forcedRollback(dev: Device, state: DeviceState): Promise<ProbationEvent> {
  const p = state.probation!;
  const { ports, config } = dev;
  const booted = dev.booted.commit;
  const back =
    [...goodTargets(state)].reverse().find((g) => g.commit === booted) ??
    initialTarget(booted, config.hardwareId);
  ports.progress(
    `${p.target} did not complete its probation: the bootloader fell back to ${back.name} (${booted})`,
  );
  if (state.current && state.current.name === p.target)
    markFailed(
      state,
      state.current,
      `the device did not stay up through its probation period; the bootloader fell back to ${booted}`,
      ports.clock(),
    );
  await makeBootedDefault(dev, p.commit);
  await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
  state.current = back;
  state.probation = null;
  await writeCurrentTarget(config.storageDir, config.tags, back);
  await writeState(config.storageDir, state);
  await ports.probationMarker.remove();
  if (!back.unknown) await restartApps(config, ports, back);
  return { kind: 'rolled-back', target: p.target, to: back.name };
}

/**
 * Whether an install now would be refused for the probation (a pure read, for `check`):
 * the probation as `settleProbation` would leave it, without settling it.
 */
export async function probationWouldBlock(dev: Device, state: DeviceState): Promise<boolean> {
  const p = state.probation;
  if (!p) return false;
  // U-Boot fell back: settling finishes that rollback, and nothing blocks afterwards.
  if (dev.booted.commit !== p.commit) return false;
  // A reboot since (no marker) restarts the period now.
  if (!(await dev.ports.probationMarker.exists())) return dev.config.probationSeconds > 0;
  const ends = probationEndsAt(dev, state);
  return ends === null || dev.ports.clock().getTime() < Date.parse(ends);
}

/** Throws IN_PROBATION (42) while the current system is on probation. */
export function assertNotInProbation(dev: Device, state: DeviceState): void {
  const p = state.probation;
  if (!p) return;
  const ends = probationEndsAt(dev, state);
  throw new AkliteError(
    'IN_PROBATION',
    `Refused to install: ${p.target} is still in its probation period ` +
      (ends === null
        ? `and ${p.locks} probation lock(s) hold it`
        : `(until ${ends}, [pacman] probation_seconds = ${dev.config.probationSeconds})`) +
      '; nothing was changed. Wait for it to end, or end it with `aklite-offline probation mark-good` ' +
      '(or `aklite-offline probation fail` to roll back), then install again',
  );
}

export interface ProbationView {
  /** `good`: no probation; `probation`: the current Target is on probation. */
  state: 'good' | 'probation';
  target: string | null;
  started_at: string | null;
  /** null when locks hold it (or no probation). */
  ends_at: string | null;
  locks: number;
  reboots: number;
  probation_seconds: number;
}

export function probationView(dev: Device, state: DeviceState): ProbationView {
  const p = state.probation;
  return {
    state: p ? 'probation' : 'good',
    target: p?.target ?? null,
    started_at: p?.startedAt ?? null,
    ends_at: probationEndsAt(dev, state),
    locks: p?.locks ?? 0,
    reboots: p?.reboots ?? 0,
    probation_seconds: dev.config.probationSeconds,
  };
}

export type ProbationAction = 'status' | 'settle' | 'lock' | 'unlock' | 'mark-good' | 'fail';

export interface ProbationResult {
  status:
    | typeof StatusCode.Ok
    | typeof StatusCode.InstallNeedsReboot
    | typeof StatusCode.InstallOfflineRollbackOk;
  /** True when the call was ignored because the system is already good. */
  ignored: boolean;
  probation: ProbationView;
  message: string;
}

/** The answer of `probation status`: the probation as stored (a pure read). */
export function probationStatus(dev: Device, state: DeviceState): ProbationResult {
  const p = state.probation;
  const cur = state.current?.name ?? dev.booted.commit;
  const ends = probationEndsAt(dev, state);
  return {
    status: StatusCode.Ok,
    ignored: false,
    probation: probationView(dev, state),
    message: !p
      ? `${cur} is good: no probation in progress`
      : `${p.target} is on probation since ${p.startedAt}` +
        (ends === null ? `; held by ${p.locks} lock(s)` : ` until ${ends}`),
  };
}

/** The message of `probation settle` (and of `boot`) for what `settleProbation` did. */
export function settledMessage(dev: Device, state: DeviceState, ev: ProbationEvent): string {
  switch (ev.kind) {
    case 'none':
      return `${state.current?.name ?? dev.booted.commit} is good: no probation in progress`;
    case 'good':
      return `${ev.target} completed its probation period and is now marked good`;
    case 'rolled-back':
      return `${ev.target} did not complete its probation: the device is back on ${ev.to}`;
    case 'restarted':
    case 'ongoing':
      return probationStatus(dev, state).message;
  }
}

/**
 * `aklite-offline probation <action>` on a locked device whose probation was just settled
 * (`ev`, what `settleProbation` did).
 */
export async function controlProbation(
  dev: Device,
  state: DeviceState,
  action: Exclude<ProbationAction, 'status'>,
  ev: ProbationEvent,
): Promise<ProbationResult> {
  const res = (message: string, ignored = false): ProbationResult => ({
    status: StatusCode.Ok,
    ignored,
    probation: probationView(dev, state),
    message,
  });
  if (action === 'settle') return res(settledMessage(dev, state, ev));
  const p = state.probation;
  const cur = state.current?.name ?? dev.booted.commit;
  if (!p) {
    // le_updateCtrl: calls after the probation are ignored; once good, it stays good.
    return res(`Ignored probation ${action}: ${cur} is already good and stays good`, true);
  }
  switch (action) {
    case 'lock':
      p.locks += 1;
      await writeState(dev.config.storageDir, state);
      return res(`Probation of ${p.target} locked (${p.locks} lock(s)): it does not end by time`);
    case 'unlock': {
      if (p.locks <= 0) {
        throw new AkliteError(
          'CONTROL_MISMATCH',
          `The probation of ${p.target} is not locked, so there is nothing to unlock; ` +
            'call `probation unlock` only to match a `probation lock`',
        );
      }
      p.locks -= 1;
      await writeState(dev.config.storageDir, state);
      const after = await settleProbation(dev, state);
      if (after.kind === 'good')
        return res(`Probation of ${p.target} unlocked; its period was over, so it is now good`);
      return res(
        `Probation of ${p.target} unlocked (${p.locks} lock(s) left)` +
          (p.locks === 0 ? `; it ends at ${probationEndsAt(dev, state)}` : ''),
      );
    }
    case 'mark-good':
      await markGoodNow(dev, state);
      return res(`${p.target} marked good; its probation is over`);
    case 'fail': {
      assertNotDeferred(state, `fail the probation of ${p.target} (a rollback)`);
      const r = await returnToGood(dev, state, `its probation was failed (probation fail)`);
      return { ...r, ignored: false, probation: probationView(dev, state) };
    }
  }
}
