/**
 * The error base shared by every package (`OfflineOtaError`), the format's own codes and
 * subclass, and the helpers every package uses to read third-party errors: `messageOf`,
 * `errnoOf`/`isErrno` (Node.js system errors by their `code`). Exit statuses of the
 * format's codes: error-status.ts.
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
  | 'TRUST_STORE_INCONSISTENT'
  /** The device's own trusted root (shipped in the image, or stored) is missing or invalid. */
  | 'DEVICE_ROOT_INVALID'
  /** A bundle signed only by keys the device's root does not list (another factory). */
  | 'FOREIGN_BUNDLE'
  /** The media went away while it was read (EIO, ENXIO, ENODEV, ESTALE, ENOTCONN, a file that shrank). */
  | 'MEDIA_UNREADABLE'
  /** The device's file system ran out of space (ENOSPC, EDQUOT). */
  | 'NO_SPACE';

export interface OfflineOtaErrorOptions {
  /** The error this one wraps (a third-party error, or a lower layer's). */
  cause?: unknown;
  /** The file the error is about, when there is one. */
  file?: string | undefined;
}

/**
 * The one error base of the project. Each package declares its closed union of string
 * codes and one subclass (`FormatError`, `BundleError`, `DeviceSimError`, `AkliteError`);
 * callers switch on `code`, never on the message, and map codes to exit statuses in one
 * exhaustive table per CLI.
 */
export class OfflineOtaError<Code extends string> extends Error {
  readonly code: Code;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(code: Code, message: string, options?: OfflineOtaErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.file = options?.file;
  }
}

/** Errors of the bundle format and the check-in. */
export class FormatError extends OfflineOtaError<FormatErrorCode> {}

/** Message of any thrown value, for wrapping third-party errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `code` of a Node.js system error (ENOENT, ENOSPC, …), by property, never by message. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  return err instanceof Error && typeof code === 'string' ? code : undefined;
}

/** True for a Node.js system error with the given `code`. */
export function isErrno(err: unknown, code: string): boolean {
  return errnoOf(err) === code;
}
