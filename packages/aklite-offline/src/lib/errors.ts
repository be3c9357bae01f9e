/**
 * The one error class of aklite-offline: the shared `OfflineOtaError` of
 * `@offline-ota/format` with this closed union of codes. Every failure the library
 * throws is an AkliteError (its subclasses `PullError`, `AppStartError` included) or a
 * FormatError from the check-in; `exitStatusOf` maps both through one table.
 */
import { OfflineOtaError } from '@offline-ota/format';

export type AkliteErrorCode =
  /** The configuration is missing, unreadable or invalid. */
  | 'CONFIG_INVALID'
  /** Another aklite-offline instance holds the lock. */
  | 'LOCKED'
  /** The device (sysroot, cmdline, boot environment) is not what the updater expects. */
  | 'DEVICE_INVALID'
  /** The persistent state file cannot be read or parsed. */
  | 'STATE_INVALID'
  /** `--target` names no Target that the bundle offers for this device. */
  | 'TARGET_NOT_FOUND'
  /** An older Target was selected without `--force`. */
  | 'DOWNGRADE'
  /** An installation awaits its finalization (`run`). */
  | 'INSTALL_IN_PROGRESS'
  /** `run` found no pending installation. */
  | 'NO_PENDING'
  /** Reading or copying update content from the media failed. */
  | 'DOWNLOAD_FAILED'
  /** Installing would fill the sysroot filesystem past the storage watermark. */
  | 'NO_SPACE'
  /** Update content does not match its signed digest. */
  | 'VERIFICATION_FAILED'
  /** A device tool (ostree admin, fw_setenv) failed while changing the device. */
  | 'INSTALL_FAILED'
  /** A command was called with invalid arguments. */
  | 'INVALID_ARGUMENT'
  /** Update control: a client defers updates (install, run, rollback refused). */
  | 'DEFERRED'
  /** Update control: the running system is in probation (install refused). */
  | 'IN_PROBATION'
  /** Update control: `allow` without `defer`, or `probation unlock` without `lock`. */
  | 'CONTROL_MISMATCH'
  /** `rollback` / `probation fail`: no good Target to return to (golden floor reached). */
  | 'ROLLBACK_TARGET_NOT_FOUND'
  /** The security_unpack program reported a security violation (its exit 1). */
  | 'SECURITY_VIOLATION'
  /** The security_unpack program failed otherwise (other exit, signal, cannot run). */
  | 'UNPACK_FAILED'
  /** `ostree pull-local` failed (`PullError`; install reports it as 50, 60 or 70, or wraps it). */
  | 'PULL_FAILED'
  /** An app's compose project could not be set up or started (`AppStartError`). */
  | 'APP_START_FAILED'
  /** Every Target the bundle offers is a delta whose base this device does not hold (delta.ts). */
  | 'DELTA_BASE_MISSING'
  /** `usb`: the stick holds no bundle at its top level (usb.ts). */
  | 'NO_BUNDLE'
  /** `usb`: the stick holds more than one bundle; the message names them (usb.ts). */
  | 'MANY_BUNDLES';

export class AkliteError extends OfflineOtaError<AkliteErrorCode> {}

export { isErrno, messageOf } from '@offline-ota/format';
