/**
 * Errors of the host side. Every failure carries a closed string code and, when it
 * wraps a third-party error (fs, ostree, tar), the original as `cause`. Commands map
 * these to messages and a non-zero exit; the library never prints.
 */
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

export class BundleError extends Error {
  readonly code: BundleErrorCode;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: BundleErrorCode,
    message: string,
    options?: { cause?: unknown; file?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BundleError';
    this.code = code;
    this.file = options?.file;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
