/**
 * Offline check-in: the format package's `checkBundle` (reference §3.4) with this
 * device's config and state, then the base check of delta Targets (delta.ts), plus
 * Target selection (§3.6).
 */
import { rmdir } from 'node:fs/promises';
import {
  checkBundle,
  requiredApps,
  type BundleSource,
  NOTHING_COMMITTED,
  type CheckBundleResult,
  type TrustCommit,
  type TargetEntry,
} from '@offline-ota/format';
import { applyDeltaBases, type DeltaUse } from './delta.js';
import { AkliteError } from './errors.js';
import { pathExists } from './fsutil.js';
import { effectiveDeviceType, type Device } from './device.js';
import { isFailed, type DeviceState, type TargetRecord } from './state.js';

export interface CheckIn {
  /** The check-in's result, without the delta Targets this device has no base for. */
  result: CheckBundleResult;
  /** The delta Targets this device can install, with the base each one completes from. */
  deltas: Map<string, DeltaUse>;
  /** The delta Targets this device cannot install: why. */
  refused: Map<string, string>;
  /**
   * Persist the refreshed trusted metadata, keeping the previous version until `finish()`
   * (install's commit phase: a later step that fails puts it back with `revert()`).
   */
  commit(): Promise<TrustCommit>;
  /** Drop the working copy; the device's trusted metadata stays as it was. */
  discard(): Promise<void>;
}

export async function checkIn(
  dev: Device,
  state: DeviceState,
  media: BundleSource,
): Promise<CheckIn> {
  const hadTrustDir = await pathExists(dev.trustDir);
  const tidy = async () => {
    if (!hadTrustDir) await rmdir(dev.trustDir).catch(() => undefined);
  };
  let result: CheckBundleResult;
  try {
    result = await checkBundle({
      bundleDir: media.path,
      source: media,
      trustDir: dev.trustDir,
      shippedRootsDir: dev.shippedRootsDir,
      deviceType: effectiveDeviceType(dev, state),
      hardwareId: dev.config.hardwareId,
      tags: dev.config.tags,
      now: dev.ports.clock(),
      appsEnabled: dev.config.packageManager === 'ostree+compose_apps',
      composeApps: dev.config.composeApps,
      checkpoint: dev.ports.checkpoint,
    });
  } catch (err) {
    await tidy();
    throw err;
  }
  let delta;
  try {
    delta = await applyDeltaBases(dev, state, result, media);
  } catch (err) {
    await result.discard();
    await tidy();
    throw err;
  }
  result = delta.result;
  let settled = false;
  return {
    result,
    deltas: delta.usable,
    refused: delta.refused,
    async commit() {
      if (settled) return NOTHING_COMMITTED;
      settled = true;
      const c = await result.commit({ keepPrevious: true });
      return {
        finish: () => c.finish(),
        async revert() {
          await c.revert();
          await tidy();
        },
      };
    },
    async discard() {
      if (settled) return;
      settled = true;
      await result.discard();
      await tidy();
    },
  };
}

export interface Selection {
  target: TargetEntry;
  reason: string;
}

/**
 * Picks the Target to install (reference §3.6): `--target` by name (also one that failed
 * on this device: the technician asks for it), otherwise the newest available Target that
 * has not failed on this device; null when every one has. Throws TARGET_NOT_FOUND (20), or
 * DELTA_BASE_MISSING (8) for a delta Target this device has no base for.
 */
export function selectTarget(
  result: CheckBundleResult,
  state: DeviceState,
  name: string | undefined,
  refused: ReadonlyMap<string, string> = new Map(),
): Selection | null {
  const available = result.available;
  const current = state.current;
  if (name !== undefined) {
    const t = available.find((x) => x.name === name);
    const noBase = refused.get(name);
    if (!t && noBase !== undefined) throw new AkliteError('DELTA_BASE_MISSING', noBase);
    if (!t) {
      const why = result.unavailable.find((u) => u.name === name);
      throw new AkliteError(
        'TARGET_NOT_FOUND',
        why
          ? `Target ${name} is listed by the bundle but its content is incomplete: ${why.reason}`
          : `No Target found; name: ${name}. The bundle offers: ${available.map((x) => x.name).join(', ') || 'none'}; ` +
              'run `aklite-offline check` to list them',
      );
    }
    return { target: t, reason: describeMove(current, t) };
  }
  const t = available.findLast((x) => !isFailed(state, x.name));
  return t ? { target: t, reason: describeMove(current, t) } : null;
}

/**
 * The Targets of the bundle newer than `than` that failed on this device, each with why:
 * what the automatic selection passed over.
 */
export function skippedFailed(
  result: CheckBundleResult,
  state: DeviceState,
  than: TargetEntry | null,
): { name: string; reason: string }[] {
  return result.available
    .filter((t) => (than === null || t.version > than.version) && isFailed(state, t.name))
    .map((t) => ({ name: t.name, reason: failureOf(state, t.name) }));
}

/** Why a Target failed on this device, as recorded (with when). */
export function failureOf(state: DeviceState, name: string): string {
  const f = state.failed.findLast((x) => x.name === name);
  return f ? `failed on this device at ${f.at}: ${f.reason}` : 'failed on this device';
}

function describeMove(current: TargetRecord | null, t: TargetEntry): string {
  if (!current) return `Installing ${t.name}`;
  if (current.name === t.name) return `${t.name} is already installed`;
  return `${t.version < current.version ? 'Downgrading' : 'Updating'} from ${current.name} to ${t.name}`;
}

export interface AppView {
  name: string;
  uri: string;
  on: boolean;
}

/** One entry of `check --json` (reference §3.9). */
export interface TargetView {
  name: string;
  version: number;
  apps: AppView[];
  current?: true;
  newer?: true;
  failed?: true;
  selected?: true;
  reason?: string;
}

export function appsView(dev: Device, t: TargetEntry): AppView[] {
  const wanted = requiredApps(t, dev.config.composeApps);
  return Object.entries(t.apps)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, uri]) => ({
      name,
      uri,
      on: dev.config.packageManager === 'ostree+compose_apps' && name in wanted,
    }));
}

/**
 * The Targets of `check --json`: `selected` with its reason on the one install would pick;
 * a failed Target carries why it failed (it is never selected); `blocked` puts its reason on
 * the Target install would pick if nothing stood in the way (an install pending, updates
 * deferred, probation), which is then not selected.
 */
export function targetViews(
  dev: Device,
  state: DeviceState,
  targets: readonly TargetEntry[],
  selected: Selection | undefined,
  blocked?: { target: string; reason: string },
): TargetView[] {
  const cur = state.current;
  return targets.map((t) => {
    const v: TargetView = { name: t.name, version: t.version, apps: appsView(dev, t) };
    if (cur && t.version === cur.version) v.current = true;
    if (!cur || t.version > cur.version) v.newer = true;
    if (isFailed(state, t.name)) {
      v.failed = true;
      v.reason = failureOf(state, t.name);
    }
    if (blocked?.target === t.name) v.reason = blocked.reason;
    else if (selected?.target.name === t.name) {
      v.selected = true;
      v.reason = selected.reason;
    }
    return v;
  });
}
