/**
 * The one place that maps a thrown error to the process exit status of aklite-offline
 * (reference §3.9, seeds/004): one exhaustive table over every code the device can
 * throw, the format's check-in codes (format's `FORMAT_STATUS`) and this package's.
 * A new code does not compile until it has a status here.
 */
import {
  exitStatusFor,
  FORMAT_STATUS,
  FormatError,
  StatusCode,
  type FormatErrorCode,
  type StatusValue,
} from '@offline-ota/format';
import { AkliteError, type AkliteErrorCode } from './errors.js';
import { isNoSpace } from './space.js';

const STATUS: Readonly<Record<AkliteErrorCode | FormatErrorCode, StatusValue>> = {
  ...FORMAT_STATUS,
  // The device's own files (issue 11 §4): one code, the message names the file.
  CONFIG_INVALID: StatusCode.DeviceFilesInvalid,
  DEVICE_INVALID: StatusCode.DeviceFilesInvalid,
  STATE_INVALID: StatusCode.DeviceFilesInvalid,
  LOCKED: StatusCode.UnknownError,
  INVALID_ARGUMENT: StatusCode.UnknownError,
  INSTALL_FAILED: StatusCode.UnknownError,
  TARGET_NOT_FOUND: StatusCode.TufTargetNotFound,
  DOWNGRADE: StatusCode.InstallDowngradeAttempt,
  INSTALL_IN_PROGRESS: StatusCode.InstallationInProgress,
  NO_PENDING: StatusCode.NoPendingInstallation,
  DOWNLOAD_FAILED: StatusCode.DownloadFailure,
  NO_SPACE: StatusCode.NoSpace,
  VERIFICATION_FAILED: StatusCode.VerificationFailed,
  DEFERRED: StatusCode.UpdatesDeferred,
  IN_PROBATION: StatusCode.InstallInProbation,
  CONTROL_MISMATCH: StatusCode.UpdateControlMismatch,
  ROLLBACK_TARGET_NOT_FOUND: StatusCode.RollbackTargetNotFound,
  SECURITY_VIOLATION: StatusCode.CheckinSecurityError,
  UNPACK_FAILED: StatusCode.DownloadFailure,
  // Install turns a media pull into 70/50 itself; one that escapes is a device failure.
  PULL_FAILED: StatusCode.UnknownError,
  APP_START_FAILED: StatusCode.UnknownError,
  // A delta without a base on this device: its content is missing (docs/bundle-format.md §Delta bundles).
  DELTA_BASE_MISSING: StatusCode.CheckinNoTargetContent,
  // The USB trigger: a stick without a bundle lacks the bundle's metadata (14); two
  // bundles are a mistake the message names (1).
  NO_BUNDLE: StatusCode.CheckinMetadataNotFound,
  MANY_BUNDLES: StatusCode.UnknownError,
};

export function exitStatusOf(err: unknown): StatusValue {
  // A full file system is 60 wherever it struck (issue 14 §1), whatever wrapped it.
  if (isNoSpace(err)) return StatusCode.NoSpace;
  if (err instanceof AkliteError || err instanceof FormatError) return STATUS[err.code];
  // The I/O module's errors through their tables; anything else is a bug: 1.
  return exitStatusFor(err);
}
