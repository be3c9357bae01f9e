/**
 * Errors of the host side. Every failure carries a closed string code and, when it
 * wraps a third-party error (fs, ostree, tar), the original as `cause`. Commands map
 * these to messages and a non-zero exit; the library never prints. The class is the
 * shared `OfflineOtaError` of `@offline-ota/format` with this package's codes.
 */
import { OfflineOtaError } from '@offline-ota/format';

export type BundleErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FACTORY_NOT_EMPTY'
  | 'FACTORY_INVALID'
  | 'KEY_ARCHIVE_INVALID'
  | 'KEY_NOT_FOUND'
  | 'KEY_AMBIGUOUS'
  | 'ALREADY_SIGNED'
  | 'OSTREE_FAILED'
  | 'APP_INVALID'
  | 'TARGET_EXISTS'
  | 'TARGET_NOT_FOUND'
  | 'TAG_NOT_FOUND'
  | 'WAVE_NOT_FOUND'
  | 'WAVE_STATE'
  | 'DESTINATION_NOT_EMPTY'
  | 'BUNDLE_INVALID'
  | 'VERIFY_FAILED'
  | 'EXPIRED'
  | 'MEDIA_UNSAFE'
  | 'IO_FAILED';

export class BundleError extends OfflineOtaError<BundleErrorCode> {}

/** The shared `messageOf`, under the name the host package has always used. */
export { messageOf as errorMessage } from '@offline-ota/format';
