import { exitStatusFor, FormatError, StatusCode, type StatusValue } from '@offline-ota/format';
import { AkliteError, type AkliteErrorCode } from './errors.js';

const BY_CODE: Record<AkliteErrorCode, StatusValue> = {
  CONFIG_INVALID: StatusCode.UnknownError,
  LOCKED: StatusCode.UnknownError,
  DEVICE_INVALID: StatusCode.UnknownError,
  STATE_INVALID: StatusCode.UnknownError,
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
};

/**
 * The one place that maps a thrown error to the process exit status
 * (reference §3.9, seeds/004). Check-in failures keep the format package's mapping.
 */
export function exitStatusOf(err: unknown): StatusValue {
  if (err instanceof AkliteError) return BY_CODE[err.code];
  if (err instanceof FormatError) return exitStatusFor(err);
  return StatusCode.UnknownError;
}
