/**
 * The `--json` output of aklite-offline, written down as valibot schemas: the contract that
 * scripts on the device read (README.md). Keys are snake_case, as in the reference client's
 * JSON (`status --json`: `ostree_hash`, `applied_target`, ...). The TypeScript types of the
 * output are inferred from these schemas, and each `...Json` function maps a library result
 * onto them, so the compiler holds the library to the contract; the end-to-end tests parse
 * what the real CLI prints with the same schemas (strict objects: no key may be added
 * without changing this file).
 */
import * as v from 'valibot';
import { errorReport, type StatusValue } from '@offline-ota/format';
import type {
  CheckResult,
  CurrentTarget,
  DeviceStatus,
  ListEntry,
  ListStickResult,
} from '../lib/query.js';
import type { RunResult } from '../lib/run.js';
import type { DeferralResult, ProbationResult } from '../lib/control.js';
import type { UsbResult } from '../lib/usb.js';

const App = v.strictObject({ name: v.string(), uri: v.string(), on: v.boolean() });

/** One Target of `check --json` (reference §3.9). */
export const CheckTargetJson = v.strictObject({
  name: v.string(),
  version: v.number(),
  apps: v.array(App),
  current: v.optional(v.literal(true)),
  newer: v.optional(v.literal(true)),
  failed: v.optional(v.literal(true)),
  selected: v.optional(v.literal(true)),
  reason: v.optional(v.string()),
  /** `list` without a stick: this Target's installation awaits `run`. */
  pending: v.optional(v.literal(true)),
});
export const CheckJson = v.array(CheckTargetJson);
export type CheckJson = v.InferOutput<typeof CheckJson>;

/** `list --json`, with or without a stick: `check`'s Target shape (issue 11 §6). */
export const ListJson = CheckJson;
export type ListJson = CheckJson;

/** `current --json`: the Target the device runs. */
export const CurrentJson = v.strictObject({
  name: v.string(),
  version: v.number(),
  ostree_hash: v.string(),
  apps: v.array(App),
  booted_ostree_hash: v.string(),
});
export type CurrentJson = v.InferOutput<typeof CurrentJson>;

const TargetStatus = {
  name: v.string(),
  version: v.number(),
  ostree_hash: v.string(),
  apps: v.array(App),
};

const Deferrals = v.array(v.strictObject({ client: v.string(), count: v.number() }));

/** The probation of the current Target (docs/update-control.md). */
export const ProbationViewJson = v.strictObject({
  state: v.picklist(['good', 'probation']),
  target: v.nullable(v.string()),
  started_at: v.nullable(v.string()),
  ends_at: v.nullable(v.string()),
  locks: v.number(),
  reboots: v.number(),
  probation_seconds: v.number(),
});

/** `status --json` (README.md). */
export const StatusJson = v.strictObject({
  hardware_id: v.string(),
  ostree_hash: v.string(),
  tag: v.string(),
  device_type: v.nullable(v.string()),
  applied_target: v.nullable(v.strictObject(TargetStatus)),
  pending_target: v.nullable(
    v.strictObject({
      ...TargetStatus,
      kind: v.picklist(['ostree', 'apps']),
      rollback: v.boolean(),
      needs_reboot: v.boolean(),
    }),
  ),
  failed_targets: v.array(
    v.strictObject({
      name: v.string(),
      version: v.number(),
      reason: v.string(),
      at: v.string(),
      /** When its apps failed to start: app, service, exit code, the end of its log. */
      app_failure: v.optional(
        v.strictObject({
          app: v.string(),
          service: v.nullable(v.string()),
          exit_code: v.nullable(v.number()),
          log: v.nullable(v.string()),
        }),
      ),
    }),
  ),
  boot_firmware_version: v.nullable(v.string()),
  bootloader: v.record(v.string(), v.nullable(v.string())),
  probation: ProbationViewJson,
  deferred_by: Deferrals,
  last_good_target: v.nullable(
    v.strictObject({ name: v.string(), version: v.number(), ostree_hash: v.string() }),
  ),
  golden_target: v.nullable(
    v.strictObject({ name: v.nullable(v.string()), ostree_hash: v.string(), pinned: v.boolean() }),
  ),
});
export type StatusJson = v.InferOutput<typeof StatusJson>;

/** `defer --json` and `allow --json`. */
export const DeferralJson = v.strictObject({
  client: v.string(),
  count: v.number(),
  deferred_by: Deferrals,
  message: v.string(),
});
export type DeferralJson = v.InferOutput<typeof DeferralJson>;

/** `probation <action> --json`. */
export const ProbationJson = v.strictObject({
  status: v.number(),
  ignored: v.boolean(),
  probation: ProbationViewJson,
  message: v.string(),
});
export type ProbationJson = v.InferOutput<typeof ProbationJson>;

/** `usb --json` (docs/device-integration.md): what the USB trigger found, checked and installed. */
export const UsbJson = v.strictObject({
  status: v.number(),
  device: v.string(),
  bundle: v.strictObject({ name: v.string(), kind: v.picklist(['dir', 'zip']) }),
  ignored: v.array(v.string()),
  auto_install: v.boolean(),
  check: v.strictObject({ status: v.number(), targets: CheckJson }),
  install: v.nullable(
    v.strictObject({
      status: v.number(),
      target: v.string(),
      from: v.nullable(v.string()),
      message: v.string(),
    }),
  ),
  unmounted: v.boolean(),
  message: v.string(),
});
export type UsbJson = v.InferOutput<typeof UsbJson>;

export const checkJson = (res: CheckResult): CheckJson => res.targets;

export const listJson = (res: readonly ListEntry[] | ListStickResult): ListJson =>
  'targets' in res ? res.targets : [...res];

export const currentJson = (res: CurrentTarget): CurrentJson => res;

export const statusJson = (res: DeviceStatus): StatusJson => res;

export const deferralJson = (res: DeferralResult): DeferralJson => ({
  client: res.client,
  count: res.count,
  deferred_by: res.deferredBy,
  message: res.message,
});

export const probationJson = (res: ProbationResult): ProbationJson => res;

export const usbJson = (res: UsbResult): UsbJson => ({
  status: res.status,
  device: res.device,
  bundle: res.bundle,
  ignored: res.ignored,
  auto_install: res.autoInstall,
  check: { status: res.check.status, targets: checkJson(res.check) },
  install:
    res.install === null
      ? null
      : {
          status: res.install.status,
          target: res.install.target,
          from: res.install.from,
          message: res.install.message,
        },
  unmounted: res.unmounted,
  message: res.message,
});

/**
 * A failure under `--json` (every command): the exit status with its name and next step,
 * the message, and the project's error code and file when there are ones.
 */
export const ErrorJson = v.strictObject({
  code: v.number(),
  name: v.string(),
  message: v.string(),
  hint: v.string(),
  error: v.optional(v.string()),
  file: v.optional(v.string()),
});
export type ErrorJson = v.InferOutput<typeof ErrorJson>;

export const errorJson = (
  status: StatusValue,
  message: string,
  err?: { code?: unknown; file?: unknown },
): ErrorJson => errorReport(status, message, err);

/** `install --json`. */
export const InstallJson = v.strictObject({
  status: v.number(),
  target: v.string(),
  from: v.nullable(v.string()),
  message: v.string(),
});
export type InstallJson = v.InferOutput<typeof InstallJson>;

/** `rollback --json`. */
export const RollbackJson = v.strictObject({
  status: v.number(),
  target: v.string(),
  message: v.string(),
});
export type RollbackJson = v.InferOutput<typeof RollbackJson>;

/** `run --json`. */
export const RunJson = v.strictObject({
  status: v.number(),
  target: v.string(),
  message: v.string(),
  /** The finalized Target starts its probation period. */
  probation: v.optional(v.boolean()),
});
export type RunJson = v.InferOutput<typeof RunJson>;

export const runJson = (res: RunResult): RunJson => ({
  status: res.status,
  target: res.target,
  message: res.message,
  ...(res.probation === undefined ? {} : { probation: res.probation }),
});

/**
 * Every `--json` output of aklite-offline by file name: `scripts/gen-docs.mjs` writes each
 * as a JSON Schema (`docs/schemas/aklite-offline/<name>.schema.json`), which the tests
 * validate the real CLI's output against.
 */
export const JSON_OUTPUTS = {
  check: CheckJson,
  list: ListJson,
  current: CurrentJson,
  status: StatusJson,
  install: InstallJson,
  run: RunJson,
  rollback: RollbackJson,
  deferral: DeferralJson,
  probation: ProbationJson,
  usb: UsbJson,
  error: ErrorJson,
} as const;
