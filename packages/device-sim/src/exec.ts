import { ExecError, execChecked, tailLines } from '@offline-ota/format';
import { DeviceSimError } from './errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a real tool (ostree, fw_printenv, fw_setenv, tar, chattr) without a shell, through
 * `execChecked` of `@offline-ota/format` (`io/exec.ts`). A failure becomes a `TOOL_FAILED`
 * error that names the command and quotes its stderr.
 */
export async function run(cmd: string, args: readonly string[], what: string): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execChecked(cmd, args);
    return { stdout, stderr };
  } catch (err) {
    if (err instanceof ExecError) throw toolFailed(err, what);
    throw err;
  }
}

/** `TOOL_FAILED`: `<what> failed: \`<command>\`: <why>` (install hint or the last 5 lines of output). */
export function toolFailed(err: ExecError, what: string): DeviceSimError {
  const detail =
    err.code === 'NOT_FOUND'
      ? `${err.command[0]} is not installed (install the Debian package that provides it)`
      : tailLines(err.stderr, 5) || tailLines(err.stdout, 5) || err.message;
  return new DeviceSimError(
    'TOOL_FAILED',
    `${what} failed: \`${err.command.join(' ')}\`: ${detail}`,
    {
      cause: err,
    },
  );
}
