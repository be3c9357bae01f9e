/**
 * The exit status of every FormatError code (docs/bundle-format.md §Signing and
 * verification summary; the numbers are `StatusCode`'s). One exhaustive table: a new
 * code does not compile until it is given a status here.
 */
import { FormatError, type FormatErrorCode } from './errors.js';
import { StatusCode, type StatusValue } from './status.js';

export const FORMAT_STATUS: Readonly<Record<FormatErrorCode, StatusValue>> = {
  ROOT_CHAIN_BROKEN: StatusCode.CheckinSecurityError,
  TUF_SECURITY: StatusCode.CheckinSecurityError,
  TUF_ROLLBACK: StatusCode.CheckinSecurityError,
  INVALID_KEY: StatusCode.CheckinSecurityError,
  INVALID_TIME: StatusCode.CheckinSecurityError,
  INVALID_METADATA: StatusCode.CheckinSecurityError,
  PATH_ESCAPE: StatusCode.CheckinSecurityError,
  FILE_TOO_LARGE: StatusCode.CheckinSecurityError,
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

/** The exit status a check-in failure maps to; anything but a FormatError is 1. */
export function exitStatusFor(err: unknown): StatusValue {
  return err instanceof FormatError ? FORMAT_STATUS[err.code] : StatusCode.UnknownError;
}
