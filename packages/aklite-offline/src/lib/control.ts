/**
 * Update control's entry points (docs/update-control.md; Legato le_updateCtrl, seeds/001
 * and 000): `defer`, `allow`, `probation`, `rollback`. Each opens the device, takes the
 * lock, loads the state, completes an interrupted installation and settles the probation
 * (`withControl`), then runs one step of
 *
 *   deferral.ts   counted per-client deferrals;
 *   probation.ts  the probation period of a new system;
 *   rollback.ts   cancel a pending installation or return to the last good Target.
 *
 * `probation status` is a pure read: it takes no lock and changes nothing.
 */
import { addDeferral, checkClient, removeDeferral, type DeferralResult } from './deferral.js';
import {
  loadState,
  openDevice,
  recover,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import {
  controlProbation,
  probationStatus,
  settleProbation,
  type ProbationAction,
  type ProbationEvent,
  type ProbationResult,
} from './probation.js';
import { rollBack, type RollbackResult } from './rollback.js';
import { writeState, type DeviceState } from './state.js';

export type { DeferralResult, ProbationAction, ProbationResult, RollbackResult };

export interface ControlOptions extends DeviceOptions {
  client: string;
}

/** Opens the device, takes the lock, loads the state, settles probation, runs `fn`. */
async function withControl<T>(
  opts: DeviceOptions,
  fn: (dev: Device, state: DeviceState, settled: ProbationEvent) => Promise<T>,
): Promise<T> {
  const dev = await openDevice(opts);
  return withLock(dev, async () => {
    const { state } = await loadState(dev);
    await recover(dev, state);
    const settled = await settleProbation(dev, state);
    return fn(dev, state, settled);
  });
}

/** `aklite-offline defer --client ID` (le_updateCtrl_Defer). */
export function defer(opts: ControlOptions): Promise<DeferralResult> {
  checkClient(opts.client);
  return withControl(opts, async (dev, state) => {
    const res = addDeferral(state, opts.client);
    await writeState(dev.config.storageDir, state);
    return res;
  });
}

/** `aklite-offline allow --client ID` (le_updateCtrl_Allow). */
export function allow(opts: ControlOptions): Promise<DeferralResult> {
  checkClient(opts.client);
  return withControl(opts, async (dev, state) => {
    const res = removeDeferral(state, opts.client);
    await writeState(dev.config.storageDir, state);
    return res;
  });
}

/**
 * `aklite-offline probation status|settle|lock|unlock|mark-good|fail`. `status` reads the
 * probation as stored; `settle` evaluates it (what a boot service calls after each boot);
 * the others change it.
 */
export async function probation(
  opts: DeviceOptions & { action: ProbationAction },
): Promise<ProbationResult> {
  const { action } = opts;
  if (action === 'status') {
    const dev = await openDevice(opts);
    return probationStatus(dev, (await loadState(dev)).state);
  }
  return withControl(opts, (dev, state, settled) => controlProbation(dev, state, action, settled));
}

/**
 * `aklite-offline rollback` (aktualizr-lite rollback): cancels a pending installation, or
 * marks the current Target bad and returns to the last good one.
 * 0 done · 100 reboot then `run` · 21 nothing to return to · 41 deferred.
 */
export function rollback(opts: DeviceOptions): Promise<RollbackResult> {
  return withControl(opts, rollBack);
}
