/**
 * The device's own state (`<storage>/state.json`), written atomically. It plays the role
 * of aktualizr-lite's `installed_versions` table (reference §3.3): the current Target, the
 * pending installation, failed Targets, and the device type learned from the first bundle.
 * It also writes `<storage>/current-target` (`writeCurrentTarget`), the shell-style view
 * of the current Target that callbacks read.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import {
  BUNDLE_TYPES,
  parseBoundedJson,
  parseTargetEntry,
  type BundleType,
  type TargetCustom,
  type TargetEntry,
  type TargetFileInfo,
} from '@offline-ota/format';
import { AkliteError, isErrno, messageOf } from './errors.js';
import type { AppFailure } from './ports.js';
import { writeFileAtomic } from './fsutil.js';

/** A Target as the device remembers it. `unknown` marks the "Initial Target" of a device without an install record. */
export type TargetRecord = TargetEntry & { unknown?: boolean };

export interface PendingInstall {
  target: TargetRecord;
  /** `ostree`: a new commit is deployed and needs a reboot; `apps`: same commit, apps only. */
  kind: 'ostree' | 'apps';
  /**
   * `deploying`: the install was recorded but not finished (a power cut may stop it there);
   * `installed`: everything is in place and awaits `run`.
   */
  phase: 'deploying' | 'installed';
  /** True when this is the rollback to the previous Target after the apps of `failedTarget` failed. */
  rollback: boolean;
  failedTarget?: string;
  startedAt: string;
}

export interface FailedTarget {
  name: string;
  commit: string;
  version: number;
  reason: string;
  at: string;
  /** When its apps failed to start: the app, service, exit code and log the engine gave. */
  app?: AppFailure;
}

/** A new system on probation (docs/update-control.md). */
export interface Probation {
  /** The Target on probation (the current one). */
  target: string;
  commit: string;
  /** When the probation (re)started: `run`, or the first aklite-offline start after a reboot. */
  startedAt: string;
  /** `probation lock` calls not yet matched by `unlock`. */
  locks: number;
  /** Reboots seen during the probation (each one restarts it). */
  reboots: number;
}

export interface DeviceState {
  schema: 1;
  deviceType?: BundleType;
  current: TargetRecord | null;
  pending: PendingInstall | null;
  failed: FailedTarget[];
  /** Boot firmware version last installed (custom["boot-firmware"].version). */
  bootFirmwareVersion?: string;
  /** Update control: `defer` calls not yet matched by `allow`, per client. */
  deferrals?: Record<string, number>;
  /** Update control: the current Target's probation, or null when it is good. */
  probation?: Probation | null;
  /**
   * Targets that became good on this device, oldest first (at most MAX_GOOD); the last
   * one is the last good Target. Absent in older state files: the current Target counts.
   */
  good?: TargetRecord[];
}

export const MAX_GOOD = 8;

export const STATE_FILE = 'state.json';
const IMPORT_FILE = 'import/installed_versions';
const MAX_STATE_BYTES = 16 * 1024 * 1024;

export const stateFile = (storageDir: string): string => join(storageDir, STATE_FILE);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The Target preloaded with the image (`<storage>/import/installed_versions`, the
 * reference's one-off import: `{name: {is_current, hashes, length, custom}}`).
 */
async function importPreloaded(storageDir: string): Promise<TargetRecord | null> {
  const file = join(storageDir, IMPORT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw new AkliteError('STATE_INVALID', `cannot read ${file}: ${messageOf(err)}`, {
      cause: err,
      file,
    });
  }
  let json: unknown;
  try {
    json = parseBoundedJson(text, file, { maxBytes: MAX_STATE_BYTES });
  } catch (err) {
    throw new AkliteError(
      'STATE_INVALID',
      `${file} is not valid JSON: ${messageOf(err)}; remove it to start without a known Target`,
      {
        cause: err,
        file,
      },
    );
  }
  if (!isObject(json))
    throw new AkliteError('STATE_INVALID', `${file} must be a JSON object keyed by Target name`, {
      file,
    });
  for (const [name, entry] of Object.entries(json)) {
    if (!isObject(entry) || entry.is_current !== true) continue;
    try {
      return parseTargetEntry(name, {
        hashes: entry.hashes,
        length: entry.length ?? 0,
        custom: entry.custom,
      });
    } catch (err) {
      throw new AkliteError(
        'STATE_INVALID',
        `${file}: Target ${name} is invalid: ${messageOf(err)}`,
        { cause: err, file },
      );
    }
  }
  return null;
}

/** The "Initial Target" of a device that has no install record: only its booted commit is known. */
export function initialTarget(commit: string, hardwareId: string): TargetRecord {
  const info: TargetFileInfo = {
    length: 0,
    hashes: { sha256: commit },
    custom: { version: '-1', hardwareIds: [hardwareId] } as TargetFileInfo['custom'],
  };
  return {
    name: 'Initial Target',
    commit,
    version: -1,
    hardwareId,
    tags: [],
    apps: {},
    info,
    unknown: true,
  };
}

/**
 * Reads the state. On first start it is built in memory from the import file (or the
 * booted commit) and only written when an install goes ahead, so a refused install leaves
 * the device unchanged.
 */
export async function readState(
  storageDir: string,
  booted: { commit: string },
  hardwareId: string,
): Promise<{ state: DeviceState; fresh: boolean }> {
  const file = stateFile(storageDir);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT'))
      throw new AkliteError('STATE_INVALID', `cannot read ${file}: ${messageOf(err)}`, {
        cause: err,
        file,
      });
  }
  if (text === undefined) {
    const preloaded = await importPreloaded(storageDir);
    const current =
      preloaded !== null && preloaded.commit === booted.commit
        ? preloaded
        : initialTarget(booted.commit, hardwareId);
    const fw = (current.info.custom as Record<string, unknown> | undefined)?.['boot-firmware'];
    const bootFirmwareVersion =
      isObject(fw) && typeof fw.version === 'string' ? fw.version : undefined;
    return {
      state: {
        schema: 1,
        current,
        pending: null,
        failed: [],
        ...(bootFirmwareVersion ? { bootFirmwareVersion } : {}),
      },
      fresh: true,
    };
  }
  if (text.length > MAX_STATE_BYTES)
    throw new AkliteError('STATE_INVALID', `${file} is too large`, { file });
  let json: unknown;
  try {
    json = parseBoundedJson(text, file, { maxBytes: MAX_STATE_BYTES });
  } catch (err) {
    throw new AkliteError(
      'STATE_INVALID',
      `${file} is not valid JSON (${messageOf(err)}); restore it from a backup or remove it`,
      {
        cause: err,
        file,
      },
    );
  }
  return { state: parseState(json, file), fresh: false };
}

// ---------------------------------------------------------------------------------------
// The state file's schema: what readState accepts, checked before anything uses it.

const TargetRecordSchema = v.looseObject({
  name: v.string(),
  commit: v.string(),
  version: v.number(),
  hardwareId: v.string(),
  tags: v.array(v.string()),
  apps: v.record(v.string(), v.string()),
  info: v.looseObject({
    length: v.number(),
    hashes: v.custom<TargetFileInfo['hashes']>(
      (h) => isObject(h) && Object.values(h).every((x) => typeof x === 'string') && 'sha256' in h,
      'must map hash names to hex strings, sha256 included',
    ),
    custom: v.optional(v.custom<TargetCustom>(isObject, 'must be an object')),
  }),
  unknown: v.optional(v.boolean()),
});

const DeviceStateSchema: v.GenericSchema<unknown, DeviceState> = v.looseObject({
  schema: v.literal(1),
  deviceType: v.optional(v.picklist(BUNDLE_TYPES)),
  current: v.nullable(TargetRecordSchema),
  pending: v.nullable(
    v.looseObject({
      target: TargetRecordSchema,
      kind: v.picklist(['ostree', 'apps']),
      phase: v.picklist(['deploying', 'installed']),
      rollback: v.boolean(),
      failedTarget: v.optional(v.string()),
      startedAt: v.string(),
    }),
  ),
  failed: v.array(
    v.looseObject({
      name: v.string(),
      commit: v.string(),
      version: v.number(),
      reason: v.string(),
      at: v.string(),
    }),
  ),
  bootFirmwareVersion: v.optional(v.string()),
  deferrals: v.optional(v.record(v.string(), v.number())),
  probation: v.optional(
    v.nullable(
      v.looseObject({
        target: v.string(),
        commit: v.string(),
        startedAt: v.string(),
        locks: v.number(),
        reboots: v.number(),
      }),
    ),
  ),
  good: v.optional(v.array(TargetRecordSchema)),
});

/**
 * The parsed `state.json`, checked against its schema. Errors are STATE_INVALID and name
 * the file and the key.
 */
export function parseState(json: unknown, file: string): DeviceState {
  const res = v.safeParse(DeviceStateSchema, json);
  if (res.success) return res.output;
  const issue = res.issues[0];
  const path = (issue.path ?? []).map((p) => String(p.key));
  if (path.length === 0 || (path.length === 1 && TOP_LEVEL.includes(path[0]))) {
    throw new AkliteError(
      'STATE_INVALID',
      `${file} is not an aklite-offline state file (schema 1); restore it or remove it`,
      { file },
    );
  }
  if (path.join('.') === 'deviceType')
    throw new AkliteError('STATE_INVALID', `${file}: deviceType must be "ci" or "prod"`, { file });
  throw new AkliteError(
    'STATE_INVALID',
    `${file}: ${path.join('.')}: ${issue.message}; restore it from a backup or remove it`,
    { file },
  );
}

/** The keys that make a JSON object an aklite-offline state file. */
const TOP_LEVEL = ['schema', 'current', 'pending', 'failed'];

export async function writeState(storageDir: string, state: DeviceState): Promise<void> {
  await writeFileAtomic(stateFile(storageDir), JSON.stringify(state, null, 2) + '\n');
}

/** The good Targets, oldest first (see DeviceState.good). */
export function goodTargets(state: DeviceState): TargetRecord[] {
  if (state.good) return state.good;
  const cur = state.current;
  return cur && !cur.unknown && !state.probation ? [cur] : [];
}

/** Records `t` as good (once; the newest last); trimming never drops the golden system. */
export function recordGood(state: DeviceState, t: TargetRecord, goldenCommit?: string): void {
  const list = goodTargets(state).filter((g) => g.name !== t.name);
  list.push(t);
  while (list.length > MAX_GOOD) {
    const i = list.findIndex((g) => g.commit !== goldenCommit);
    list.splice(i < 0 ? 0 : i, 1);
  }
  state.good = list;
}

/** Records `t` as failed (once; the newest record replaces an older one). */
export function markFailed(
  state: DeviceState,
  t: TargetRecord,
  reason: string,
  at: Date,
  app?: AppFailure,
): void {
  state.failed = state.failed.filter((f) => f.name !== t.name);
  state.failed.push({
    name: t.name,
    commit: t.commit,
    version: t.version,
    reason,
    at: at.toISOString(),
    ...(app === undefined ? {} : { app }),
  });
}

/**
 * `<storage>/current-target`, shell-style (reference §3.3): the Target the device runs,
 * with the first of its tags that the device follows.
 */
export async function writeCurrentTarget(
  storageDir: string,
  deviceTags: readonly string[],
  t: TargetRecord,
): Promise<void> {
  const c = (t.info.custom ?? {}) as Record<string, unknown>;
  const s = (k: string): string => (typeof c[k] === 'string' ? c[k] : '');
  const tag = t.tags.find((x) => deviceTags.includes(x)) ?? t.tags[0] ?? '';
  const q = (v: string) => `"${v.replace(/["\\$`]/g, '\\$&')}"`;
  const lines = [
    `TARGET_NAME=${q(t.name)}`,
    `CUSTOM_VERSION=${q(String(t.version))}`,
    `LMP_MANIFEST_SHA=${q(s('lmp-manifest-sha'))}`,
    `META_SUBSCRIBER_OVERRIDES_SHA=${q(s('meta-subscriber-overrides-sha'))}`,
    `CONTAINERS_SHA=${q(s('containers-sha'))}`,
    `TAG=${q(tag)}`,
  ];
  await writeFileAtomic(join(storageDir, 'current-target'), lines.join('\n') + '\n');
}

export function isFailed(state: DeviceState, name: string): boolean {
  return state.failed.some((f) => f.name === name);
}

/** `custom["boot-firmware"].version` of a Target, if it ships boot firmware. */
export function bootFirmwareOf(t: TargetRecord): string | undefined {
  const fw = (t.info.custom as Record<string, unknown> | undefined)?.['boot-firmware'];
  return isObject(fw) && typeof fw.version === 'string' && fw.version !== ''
    ? fw.version
    : undefined;
}
