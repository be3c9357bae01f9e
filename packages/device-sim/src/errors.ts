/**
 * Errors of the simulated device. Every failure carries a closed string code; the CLI
 * maps any of them to exit status 1 (device-sim is a test tool, not a field tool).
 */
export type DeviceSimErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FACTORY_INVALID'
  | 'DEVICE_NOT_EMPTY'
  | 'DEVICE_INVALID'
  | 'TOOL_FAILED'
  | 'BOOT_FAILED'
  | 'COMPOSE_INVALID'
  | 'APP_INCOMPLETE'
  | 'APP_START_FAILED';

export class DeviceSimError extends Error {
  readonly code: DeviceSimErrorCode;
  /** The file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: DeviceSimErrorCode,
    message: string,
    options?: { cause?: unknown; file?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeviceSimError';
    this.code = code;
    this.file = options?.file;
  }
}

/** Message of any thrown value, for wrapping third-party errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for a Node.js system error with the given `code` (ENOENT, EEXIST, …). */
export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
