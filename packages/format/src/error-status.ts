/**
 * The exit status of every FormatError code (docs/bundle-format.md §Signing and
 * verification summary; the numbers are `StatusCode`'s). One exhaustive table: a new
 * code does not compile until it is given a status here.
 */
import { FormatError, type FormatErrorCode } from './errors.js';
import { ExecError, IoError, type ExecErrorCode, type IoErrorCode } from './io/errors.js';
import { StatusCode, type StatusValue } from './status.js';

export const FORMAT_STATUS: Readonly<Record<FormatErrorCode, StatusValue>> = {
  ROOT_CHAIN_BROKEN: StatusCode.CheckinSecurityError,
  TUF_SECURITY: StatusCode.CheckinSecurityError,
  TUF_ROLLBACK: StatusCode.CheckinOkCached,
  INVALID_KEY: StatusCode.CheckinSecurityError,
  INVALID_TIME: StatusCode.CheckinSecurityError,
  INVALID_METADATA: StatusCode.CheckinSecurityError,
  PATH_ESCAPE: StatusCode.CheckinSecurityError,
  FILE_TOO_LARGE: StatusCode.CheckinSecurityError,
  FOREIGN_BUNDLE: StatusCode.CheckinSecurityError,
  EXPIRED: StatusCode.CheckinExpiredMetadata,
  TUF_EXPIRED: StatusCode.CheckinExpiredMetadata,
  ROOT_NOT_FOUND: StatusCode.CheckinMetadataNotFound,
  TUF_MISSING: StatusCode.CheckinMetadataNotFound,
  FILE_MISSING: StatusCode.CheckinMetadataNotFound,
  BUNDLE_INVALID: StatusCode.CheckinInvalidBundleMetadata,
  TYPE_MISMATCH: StatusCode.CheckinInvalidBundleMetadata,
  TAG_MISMATCH: StatusCode.CheckinInvalidBundleMetadata,
  UNKNOWN_KEY: StatusCode.CheckinInvalidBundleMetadata,
  BAD_SIGNATURE: StatusCode.CheckinInvalidBundleMetadata,
  DUPLICATE_SIGNATURE: StatusCode.CheckinInvalidBundleMetadata,
  THRESHOLD_NOT_MET: StatusCode.CheckinInvalidBundleMetadata,
  TUF_FAILURE: StatusCode.CheckinFailure,
  NO_MATCHING_TARGETS: StatusCode.CheckinNoMatchingTargets,
  NO_TARGET_CONTENT: StatusCode.CheckinNoTargetContent,
  CONTENT_INVALID: StatusCode.VerificationFailed,
  DEVICE_ROOT_INVALID: StatusCode.DeviceFilesInvalid,
  MEDIA_UNREADABLE: StatusCode.DownloadFailure,
  NO_SPACE: StatusCode.NoSpace,
  // Not check-in outcomes: a host-side argument, an unreadable file, a store that a
  // locked start-up repairs.
  INVALID_JSON: StatusCode.UnknownError,
  EXPIRY_TOO_SOON: StatusCode.UnknownError,
  INVALID_ARGUMENT: StatusCode.UnknownError,
  IO_ERROR: StatusCode.UnknownError,
  TRUST_STORE_INCONSISTENT: StatusCode.UnknownError,
};

/**
 * The device-safe I/O module's codes (io/errors.ts). A failed file-system call or device
 * tool that escapes its caller unwrapped is a failure of the device, not of the media:
 * callers that know better (a read from the media, a full disk) wrap it in their own code.
 */
export const IO_STATUS: Readonly<Record<IoErrorCode, StatusValue>> = {
  IO_FAILED: StatusCode.UnknownError,
  TOO_LARGE: StatusCode.UnknownError,
  NOT_A_FILE: StatusCode.UnknownError,
};

export const EXEC_STATUS: Readonly<Record<ExecErrorCode, StatusValue>> = {
  NOT_FOUND: StatusCode.UnknownError,
  SPAWN_FAILED: StatusCode.UnknownError,
  FAILED: StatusCode.UnknownError,
  TIMED_OUT: StatusCode.UnknownError,
  OUTPUT_TOO_LARGE: StatusCode.UnknownError,
};

/**
 * The exit status of any error of the format package (FormatError, IoError, ExecError),
 * each through its exhaustive table. Anything else is not one of the project's errors
 * (a bug) and is 1.
 */
export function exitStatusFor(err: unknown): StatusValue {
  if (err instanceof FormatError) return FORMAT_STATUS[err.code];
  if (err instanceof IoError) return IO_STATUS[err.code];
  if (err instanceof ExecError) return EXEC_STATUS[err.code];
  return StatusCode.UnknownError;
}
