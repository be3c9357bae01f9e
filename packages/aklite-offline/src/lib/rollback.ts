/**
 * Rollback (docs/update-control.md; aktualizr-lite rollback): cancel a pending
 * installation, or mark the current Target bad and return to the last good one, never
 * below the golden system. `returnToGood` is also how `probation fail` ends a probation.
 * These functions run under the lock with the state loaded; `control.ts` provides both.
 */
import { StatusCode } from '@offline-ota/format';
import { startApps } from './apps.js';
import { assertNotDeferred } from './deferral.js';
import { deployRollback, makeBootedDefault, type Device } from './device.js';
import { AkliteError } from './errors.js';
import {
  goodTargets,
  isFailed,
  markFailed,
  recordGood,
  writeCurrentTarget,
  writeState,
  type DeviceState,
  type TargetRecord,
} from './state.js';

export interface RollbackResult {
  status: typeof StatusCode.Ok | typeof StatusCode.InstallNeedsReboot;
  /** The Target the device returns to (or keeps, after a cancelled install). */
  target: string;
  message: string;
}

/**
 * The Target to return to: the newest good Target other than the current one that is not
 * marked failed and whose commit the device still has, never below the golden system.
 */
export async function rollbackTarget(
  dev: Device,
  state: DeviceState,
): Promise<TargetRecord | null> {
  const cur = state.current;
  const good = goodTargets(state);
  const golden = dev.config.goldenCommit;
  const floor = golden === undefined ? -1 : good.findIndex((g) => g.commit === golden);
  for (let i = good.length - 1; i >= Math.max(0, floor); i--) {
    const g = good[i];
    if (g.unknown || g.name === cur?.name || isFailed(state, g.name)) continue;
    if (g.commit === dev.booted.commit) return g;
    if (await dev.ports.ostree.hasCommit(dev.sysrootRepo, g.commit)) return g;
  }
  return null;
}

/**
 * Marks the current Target bad and returns to the last good one: its apps in place when
 * it has the booted commit (0), else its deployment, finished by reboot and `run` (100).
 */
export async function returnToGood(
  dev: Device,
  state: DeviceState,
  why: string,
): Promise<RollbackResult> {
  const { ports } = dev;
  const cur = state.current;
  const to = await rollbackTarget(dev, state);
  if (!cur || !to) {
    const golden = dev.config.goldenCommit;
    throw new AkliteError(
      'ROLLBACK_TARGET_NOT_FOUND',
      `No good Target to roll back to from ${cur?.name ?? dev.booted.commit}` +
        (golden !== undefined && cur?.commit === golden
          ? ': it is the golden system, the floor that rollback never goes below'
          : ': no earlier good Target is known or its commit is gone from the device') +
        '; install a known good Target from a bundle instead',
    );
  }
  markFailed(state, cur, `marked bad: ${why}`, ports.clock());
  state.probation = null;
  await ports.probationMarker.remove();
  if (to.commit === dev.booted.commit) {
    // Same OSTree commit: only the apps go back, no reboot.
    await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
    await startApps(dev.config, ports, to);
    state.current = to;
    await writeCurrentTarget(dev.config.storageDir, dev.config.tags, to);
    await writeState(dev.config.storageDir, state);
    return {
      status: StatusCode.Ok,
      target: to.name,
      message: `${cur.name} marked bad; the device runs ${to.name} again (no reboot needed)`,
    };
  }
  await deployRollback(dev, state, to, cur.name, ports.clock().toISOString());
  return {
    status: StatusCode.InstallNeedsReboot,
    target: to.name,
    message:
      `${cur.name} marked bad; rolling back to ${to.name}. ` +
      'Reboot the device and run `aklite-offline run` to complete the rollback',
  };
}

/**
 * `aklite-offline rollback` on a locked device with its state loaded: cancels a pending
 * installation, or marks the current Target bad and returns to the last good one.
 * 0 done · 100 reboot then `run` · 21 nothing to return to · 41 deferred.
 */
export async function rollBack(dev: Device, state: DeviceState): Promise<RollbackResult> {
  assertNotDeferred(state, 'roll back');
  const { ports } = dev;
  const p = state.pending;
  if (p?.rollback) {
    return {
      status: StatusCode.InstallNeedsReboot,
      target: p.target.name,
      message: `A rollback to ${p.target.name} is already in progress; reboot the device and run \`aklite-offline run\``,
    };
  }
  if (!p) return returnToGood(dev, state, '`aklite-offline rollback`');
  const rebootedIntoIt =
    p.kind === 'ostree' &&
    dev.booted.commit === p.target.commit &&
    !(await ports.sentinel.exists());
  markFailed(state, p.target, 'installation cancelled by `aklite-offline rollback`', ports.clock());
  state.pending = null;
  if (!rebootedIntoIt) {
    if (p.kind === 'ostree') {
      await makeBootedDefault(dev, p.target.commit);
      await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
      await ports.sentinel.remove();
    }
    await writeState(dev.config.storageDir, state);
    return {
      status: StatusCode.Ok,
      target: state.current?.name ?? dev.booted.commit,
      message: `Cancelled the installation of ${p.target.name} (marked bad); the device stays on ${state.current?.name ?? dev.booted.commit}`,
    };
  }
  // Already booted into the new commit: return to the Target it replaced.
  const prev = state.current;
  if (!prev || prev.unknown) {
    await writeState(dev.config.storageDir, state);
    throw new AkliteError(
      'ROLLBACK_TARGET_NOT_FOUND',
      `Cancelled ${p.target.name}, but the Target it replaced is unknown, so there is nothing to boot instead; ` +
        'install a known good Target from a bundle',
    );
  }
  state.current = p.target;
  const good = goodTargets(state);
  if (!good.some((g) => g.name === prev.name)) recordGood(state, prev, dev.config.goldenCommit);
  return returnToGood(dev, state, 'installation cancelled by `aklite-offline rollback`');
}
