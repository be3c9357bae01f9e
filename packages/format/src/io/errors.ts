import { errnoOf, OfflineOtaError } from '../errors.js';

/**
 * Errors of the device-safe I/O module (`io/`), on the project's error base
 * (`OfflineOtaError`). Two classes with closed codes: `IoError`
 * for the file system, `ExecError` for child processes. Each names what it is about (the
 * file, or the command with its exit code and the tail of its stderr), so a package
 * wrapping one into its own error code keeps a message that says what went wrong where.
 */

/**
 * System error codes of media that went away while read: an I/O error of the device
 * (EIO), a device or mount gone (ENXIO, ENODEV, ESTALE) or a FUSE file system whose
 * daemon died (ENOTCONN). Media that is merely missing a file is ENOENT, not one of these.
 */
export const MEDIA_GONE_ERRNOS: ReadonlySet<string> = new Set([
  'EIO',
  'ENXIO',
  'ENODEV',
  'ESTALE',
  'ENOTCONN',
]);

/** System error codes of a file system that has no room left (space or quota). */
export const NO_SPACE_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/**
 * The first system error code along an error's `cause` chain (an IoError's `errno`
 * included), at most 16 links deep.
 */
export function errnoInChain(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 16 && cur !== undefined && cur !== null; i++) {
    // An error of this project carries its own `code` (not a system one) and, for
    // IoError, the system code in `errno`.
    const code =
      cur instanceof IoError
        ? cur.errno
        : cur instanceof OfflineOtaError
          ? undefined
          : errnoOf(cur);
    if (code !== undefined && /^E[A-Z0-9]+$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export type IoErrorCode =
  /** A file-system call failed; `errno` holds the system code (ENOENT, ENOSPC, …). */
  | 'IO_FAILED'
  /** A capped read met a file larger than its cap. */
  | 'TOO_LARGE'
  /** A capped read met something that is not a regular file. */
  | 'NOT_A_FILE';

export class IoError extends OfflineOtaError<IoErrorCode> {
  /** The file the error is about. */
  declare readonly file: string;
  /** The system error code of the failed call (`IO_FAILED`), when there was one. */
  readonly errno: string | undefined;
  /** `TOO_LARGE`: the file's size and the cap it exceeded. */
  readonly size: number | undefined;
  readonly cap: number | undefined;

  constructor(
    code: IoErrorCode,
    message: string,
    options: { file: string; cause?: unknown; size?: number; cap?: number },
  ) {
    super(code, message, { file: options.file, cause: options.cause });
    this.errno = errnoOf(options.cause);
    this.size = options.size;
    this.cap = options.cap;
  }
}

export type ExecErrorCode =
  /** The program does not exist (spawn failed with ENOENT). */
  | 'NOT_FOUND'
  /** The program could not be started for another reason (EACCES, …). */
  | 'SPAWN_FAILED'
  /** It ran and exited non-zero, or a signal ended it. */
  | 'FAILED'
  /** It ran past `timeoutMs` and was killed. */
  | 'TIMED_OUT'
  /** It wrote more than `maxStdout` bytes to stdout and was killed. */
  | 'OUTPUT_TOO_LARGE';

export class ExecError extends OfflineOtaError<ExecErrorCode> {
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** Exit status; null when it did not exit normally (signal, not started). */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What it wrote, bounded (stdout capped, stderr its tail). */
  readonly stdout: string;
  readonly stderr: string;

  constructor(
    code: ExecErrorCode,
    message: string,
    options: {
      command: readonly string[];
      exitCode?: number | null;
      signal?: NodeJS.Signals | null;
      stdout?: string;
      stderr?: string;
      cause?: unknown;
    },
  ) {
    super(code, message, { cause: options.cause });
    this.command = options.command;
    this.exitCode = options.exitCode ?? null;
    this.signal = options.signal ?? null;
    this.stdout = options.stdout ?? '';
    this.stderr = options.stderr ?? '';
  }
}
