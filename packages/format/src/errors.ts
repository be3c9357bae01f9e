/**
 * Errors of the bundle format. Every failure carries a closed string code so that
 * callers (the host CLI, the device) map it to an exit status in one place.
 */
export type FormatErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_METADATA'
  | 'INVALID_TIME'
  | 'INVALID_KEY'
  | 'UNKNOWN_KEY'
  | 'BAD_SIGNATURE'
  | 'DUPLICATE_SIGNATURE'
  | 'THRESHOLD_NOT_MET'
  | 'ROOT_CHAIN_BROKEN'
  | 'ROOT_NOT_FOUND'
  | 'EXPIRED'
  | 'EXPIRY_TOO_SOON'
  | 'INVALID_ARGUMENT'
  | 'FILE_MISSING'
  | 'FILE_TOO_LARGE'
  | 'PATH_ESCAPE'
  | 'TYPE_MISMATCH'
  | 'TAG_MISMATCH'
  | 'TUF_SECURITY'
  | 'TUF_EXPIRED'
  | 'TUF_MISSING'
  | 'TUF_FAILURE'
  | 'TUF_ROLLBACK'
  | 'NO_MATCHING_TARGETS'
  | 'NO_TARGET_CONTENT'
  | 'CONTENT_INVALID'
  | 'BUNDLE_INVALID'
  | 'IO_ERROR'
  | 'TRUST_STORE_INCONSISTENT';

export class FormatError extends Error {
  readonly code: FormatErrorCode;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: FormatErrorCode,
    message: string,
    options?: { cause?: unknown; file?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FormatError';
    this.code = code;
    this.file = options?.file;
  }
}

/** Message of any thrown value, for wrapping third-party errors. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
