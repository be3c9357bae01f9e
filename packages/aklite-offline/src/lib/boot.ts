/**
 * `aklite-offline boot`: what the device runs at each boot (docs/device-integration.md),
 * started by the shipped `aklite-offline-boot.service` once local file systems are up. Under
 * the lock, in this order:
 *
 *   1. complete an installation that a power cut interrupted (`recover`, as every command);
 *   2. settle the probation (probation.ts): a reboot restarts its period, U-Boot's fall back
 *      is finished, a period that is over marks the system good;
 *   3. this boot reached the boot service: U-Boot's `bootcount` goes back to 0 while it
 *      tries a new system, so only boots that never get here count toward `bootlimit`;
 *   4. a pending installation that the device booted: finalized the way `run` does when
 *      `[pacman] finalize_at_boot = true`; otherwise (the default, as the reference) it waits
 *      for the technician's `run`.
 *
 * Probation ends by time through the shipped `aklite-offline-probation.timer`, which runs
 * `probation settle` while a probation marker exists in this boot.
 */
import { StatusCode } from '@offline-ota/format';
import {
  loadState,
  openDevice,
  recover,
  withLock,
  type Device,
  type DeviceOptions,
} from './device.js';
import { AkliteError } from './errors.js';
import {
  probationEndsAt,
  probationView,
  settledMessage,
  settleProbation,
  type ProbationView,
} from './probation.js';
import { runPending, type RunResult } from './run.js';
import type { DeviceState } from './state.js';

export interface BootResult {
  /** 0: the boot work is done; what it did is in `steps`. */
  status: typeof StatusCode.Ok;
  /** What the boot service did, one sentence each, in order. */
  steps: string[];
  /** The finalization of a pending installation (only with `[pacman] finalize_at_boot`). */
  run: RunResult | null;
  probation: ProbationView;
}

export async function boot(opts: DeviceOptions): Promise<BootResult> {
  const dev = await openDevice(opts);
  return withLock(dev, () => bootLocked(dev));
}

async function bootLocked(dev: Device): Promise<BootResult> {
  const steps: string[] = [];
  const { state } = await loadState(dev);
  if (await recover(dev, state))
    steps.push('Brought an installation that a power cut interrupted to a consistent point');
  const ev = await settleProbation(dev, state);
  if (ev.kind === 'restarted') {
    const ends = probationEndsAt(dev, state);
    steps.push(
      `The device rebooted during the probation of ${state.probation?.target} (reboot ${ev.reboots}): ` +
        (ends === null
          ? 'its period starts over; probation locks hold it'
          : `its period starts over and ends at ${ends} unless the device reboots again`),
    );
  } else if (ev.kind !== 'none') steps.push(settledMessage(dev, state, ev));
  if (await resetBootCount(dev, state))
    steps.push(
      `${dev.booted.commit} came up to the boot service: U-Boot's bootcount is 0 again, so only boots that fail before this point count toward bootlimit`,
    );
  let run: RunResult | null = null;
  const p = state.pending;
  if (p) {
    const notRebooted = p.kind === 'ostree' && (await dev.ports.sentinel.exists());
    if (notRebooted) {
      steps.push(`${p.target.name} is installed but the device has not rebooted into it yet`);
    } else if (!dev.config.finalizeAtBoot) {
      steps.push(
        `${p.target.name} awaits its finalization: run \`aklite-offline run\` ` +
          '(the boot service leaves it to the technician; [pacman] finalize_at_boot = true would finalize it at boot)',
      );
    } else {
      try {
        run = await runPending(dev, state);
        steps.push(run.message);
      } catch (err) {
        if (!(err instanceof AkliteError && err.code === 'DEFERRED')) throw err;
        steps.push(
          `The finalization of ${p.target.name} waits: ${err.message.replace(/^Refused to /, 'refused to ')}`,
        );
      }
    }
  }
  if (steps.length === 0)
    steps.push(
      `Nothing to do at boot: ${state.current?.name ?? dev.booted.commit} runs, is good, and no installation is pending`,
    );
  return { status: StatusCode.Ok, steps, run, probation: probationView(dev, state) };
}

/**
 * While U-Boot tries a new system (`upgrade_available=1`: a pending OSTree installation or
 * a probation) and the device booted exactly that system, sets `bootcount` back to 0. Writes
 * the environment only when the count is not 0 already. Returns true when it wrote.
 */
async function resetBootCount(dev: Device, state: DeviceState): Promise<boolean> {
  const p = state.pending;
  const trying = state.probation?.commit ?? (p?.kind === 'ostree' ? p.target.commit : undefined);
  if (trying === undefined || trying !== dev.booted.commit) return false;
  const count = await dev.ports.bootEnv.get('bootcount');
  if (count === undefined || count === '0') return false;
  await dev.ports.bootEnv.set({ bootcount: 0 });
  return true;
}
