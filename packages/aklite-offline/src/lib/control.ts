/**
 * Update control (docs/update-control.md; Legato le_updateCtrl, seeds/001 and 000):
 *
 *   deferral   `defer`/`allow --client ID`, counted per client, persisted in the state.
 *              While any client defers, install, run and rollback are refused (41), except
 *              the bookkeeping after U-Boot already fell back.
 *   probation  a new OSTree system that `run` finalized must stay up for
 *              `[pacman] probation_seconds`. U-Boot keeps counting its boots
 *              (`upgrade_available=1`), so too many reboots before the end fall back to the
 *              previous deployment. A reboot restarts the period; locks stop it ending by
 *              time; `mark-good` ends it; `fail` rolls back. There is no daemon: it is
 *              evaluated (`settleProbation`) whenever aklite-offline runs.
 *   rollback   cancel a pending installation, or mark the current Target bad and return to
 *              the last good one, never below the golden system.
 */
import { StatusCode } from '@offline-ota/format';
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
import { markFailed, startApps, writeCurrentTarget } from './run.js';
import {
  goodTargets,
  initialTarget,
  isFailed,
  recordGood,
  writeState,
  type DeviceState,
  type TargetRecord,
} from './state.js';

// ---------------------------------------------------------------------------------------
// Deferral

/** The clients that defer updates, with their counts, by name. */
export function deferringClients(state: DeviceState): { client: string; count: number }[] {
  return Object.entries(state.deferrals ?? {})
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([client, count]) => ({ client, count }));
}

/** Throws DEFERRED (41) naming the deferring clients, when there are any. */
export function assertNotDeferred(state: DeviceState, what: string): void {
  const clients = deferringClients(state);
  if (clients.length === 0) return;
  const names = clients.map((c) => (c.count > 1 ? `${c.client} (${c.count}×)` : c.client));
  throw new AkliteError(
    'DEFERRED',
    `Refused to ${what}: updates are deferred by ${names.join(', ')}; ` +
      `nothing was changed. Run it again once every client has called \`aklite-offline allow --client <id>\``,
  );
}

const CLIENT_RE = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;

function checkClient(client: string): void {
  if (!CLIENT_RE.test(client)) {
    throw new AkliteError(
      'INVALID_ARGUMENT',
      `--client "${client}" is not a valid client id: use 1 to 64 letters, digits and . _ @ : - (starting with a letter or digit)`,
    );
  }
}

export interface ControlOptions extends DeviceOptions {
  client: string;
}

export interface DeferralResult {
  client: string;
  /** This client's remaining count. */
  count: number;
  /** Every client that still defers. */
  deferredBy: { client: string; count: number }[];
  message: string;
}

/** Opens the device, takes the lock, loads the state, settles probation, runs `fn`. */
async function withControl<T>(
  opts: DeviceOptions,
  fn: (dev: Device, state: DeviceState) => Promise<T>,
): Promise<T> {
  const dev = await openDevice(opts);
  return withLock(dev, async () => {
    const { state } = await loadState(dev);
    await recover(dev, state);
    await settleProbation(dev, state);
    return fn(dev, state);
  });
}

/** `aklite-offline defer --client ID` (le_updateCtrl_Defer). */
export function defer(opts: ControlOptions): Promise<DeferralResult> {
  checkClient(opts.client);
  return withControl(opts, async (dev, state) => {
    const d = { ...(state.deferrals ?? {}) };
    d[opts.client] = (d[opts.client] ?? 0) + 1;
    state.deferrals = d;
    await writeState(dev.config.storageDir, state);
    const count = d[opts.client];
    return {
      client: opts.client,
      count,
      deferredBy: deferringClients(state),
      message:
        `Updates are deferred by ${opts.client}` +
        (count > 1 ? ` (${count} defer calls to match with allow)` : '') +
        '; install, run and rollback are refused until every client allows them',
    };
  });
}

/** `aklite-offline allow --client ID` (le_updateCtrl_Allow). */
export function allow(opts: ControlOptions): Promise<DeferralResult> {
  checkClient(opts.client);
  return withControl(opts, async (dev, state) => {
    const d = { ...(state.deferrals ?? {}) };
    const n = d[opts.client] ?? 0;
    if (n <= 0) {
      const others = deferringClients(state).map((c) => c.client);
      throw new AkliteError(
        'CONTROL_MISMATCH',
        `Client ${opts.client} does not defer updates, so there is nothing to allow` +
          (others.length > 0 ? ` (deferring: ${others.join(', ')})` : ' (no client defers)') +
          '; call allow only after defer with the same --client',
      );
    }
    if (n === 1) delete d[opts.client];
    else d[opts.client] = n - 1;
    state.deferrals = d;
    await writeState(dev.config.storageDir, state);
    const left = deferringClients(state);
    return {
      client: opts.client,
      count: n - 1,
      deferredBy: left,
      message:
        left.length === 0
          ? 'Updates are allowed: no client defers them'
          : `${opts.client} ${n - 1 > 0 ? `still defers (${n - 1} more allow needed)` : 'allows updates'}; ` +
            `still deferred by ${left.map((c) => c.client).join(', ')}`,
    };
  });
}

// ---------------------------------------------------------------------------------------
// Probation

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
 * Evaluates the probation now (there is no daemon): notices U-Boot's fall back (the
 * bookkeeping of a forced rollback, done even while clients defer), restarts the period
 * after a reboot, and marks the system good when the period is over and no lock holds it.
 * Writes the state only when something changed.
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
  const { ports } = dev;
  const booted = dev.booted.commit;
  const back =
    [...goodTargets(state)].reverse().find((g) => g.commit === booted) ??
    initialTarget(booted, dev.config.hardwareId);
  ports.progress(
    `${p.target} did not complete its probation: the bootloader fell back to ${back.name} (${booted})`,
  );
  if (state.current && state.current.name === p.target)
    markFailed(
      dev,
      state,
      state.current,
      `the device did not stay up through its probation period; the bootloader fell back to ${booted}`,
    );
  await makeBootedDefault(dev, p.commit);
  await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
  state.current = back;
  state.probation = null;
  await writeCurrentTarget(dev, back);
  await writeState(dev.config.storageDir, state);
  await ports.probationMarker.remove();
  if (!back.unknown) {
    await startApps(dev, back).catch((err: unknown) =>
      ports.progress(`Warning: restarting the apps of ${back.name} failed: ${messageOf(err)}`),
    );
  }
  return { kind: 'rolled-back', target: p.target, to: back.name };
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

export type ProbationAction = 'status' | 'lock' | 'unlock' | 'mark-good' | 'fail';

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

/** `aklite-offline probation status|lock|unlock|mark-good|fail`. */
export function probation(
  opts: DeviceOptions & { action: ProbationAction },
): Promise<ProbationResult> {
  return withControl(opts, async (dev, state) => {
    const res = (message: string, ignored = false): ProbationResult => ({
      status: StatusCode.Ok,
      ignored,
      probation: probationView(dev, state),
      message,
    });
    const p = state.probation;
    const cur = state.current?.name ?? dev.booted.commit;
    if (opts.action === 'status') {
      if (!p) return res(`${cur} is good: no probation in progress`);
      const ends = probationEndsAt(dev, state);
      return res(
        `${p.target} is on probation since ${p.startedAt}` +
          (ends === null ? `; held by ${p.locks} lock(s)` : ` until ${ends}`),
      );
    }
    if (!p) {
      // le_updateCtrl: calls after the probation are ignored; once good, it stays good.
      return res(`Ignored probation ${opts.action}: ${cur} is already good and stays good`, true);
    }
    switch (opts.action) {
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
        const ev = await settleProbation(dev, state);
        if (ev.kind === 'good')
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
  });
}

// ---------------------------------------------------------------------------------------
// Rollback

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
async function rollbackTarget(dev: Device, state: DeviceState): Promise<TargetRecord | null> {
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

/** Marks the current Target bad and returns to the last good one (deploy, or apps in place). */
async function returnToGood(dev: Device, state: DeviceState, why: string): Promise<RollbackResult> {
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
  markFailed(dev, state, cur, `marked bad: ${why}`);
  state.probation = null;
  await ports.probationMarker.remove();
  if (to.commit === dev.booted.commit) {
    // Same OSTree commit: only the apps go back, no reboot.
    await ports.bootEnv.set({ upgrade_available: 0, bootcount: 0 });
    await startApps(dev, to);
    state.current = to;
    await writeCurrentTarget(dev, to);
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
 * `aklite-offline rollback` (aktualizr-lite rollback): cancels a pending installation, or
 * marks the current Target bad and returns to the last good one.
 * 0 done · 100 reboot then `run` · 21 nothing to return to · 41 deferred.
 */
export function rollback(opts: DeviceOptions): Promise<RollbackResult> {
  return withControl(opts, async (dev, state) => {
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
    if (p) {
      const rebootedIntoIt =
        p.kind === 'ostree' &&
        dev.booted.commit === p.target.commit &&
        !(await ports.sentinel.exists());
      markFailed(dev, state, p.target, 'installation cancelled by `aklite-offline rollback`');
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
    return returnToGood(dev, state, '`aklite-offline rollback`');
  });
}
