/**
 * Running device tools (`ostree`, `fw_printenv`, `fw_setenv`, the compose runtime):
 * `execCapture` of `@offline-ota/format` (`io/exec.ts`: no shell, bounded output), with a
 * program that cannot be started wrapped into `DEVICE_INVALID`.
 */
import { ExecError, execCapture, tailLines } from '@offline-ota/format';
import { AkliteError } from './errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The device's message for a tool that could not be started. */
export function cannotRun(err: ExecError): AkliteError {
  if (err.code !== 'NOT_FOUND' && err.code !== 'SPAWN_FAILED')
    return new AkliteError('DEVICE_INVALID', err.message, { cause: err });
  const why = err.cause instanceof Error ? err.cause.message : err.message;
  return new AkliteError(
    'DEVICE_INVALID',
    `cannot run ${err.command[0]}: ${why}; is it installed and on PATH?`,
    { cause: err },
  );
}

/** Runs a program without a shell and collects its output; never throws for a non-zero exit. */
export async function execTool(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string } = {},
): Promise<ExecResult> {
  try {
    const r = await execCapture(cmd, args, opts.cwd === undefined ? {} : { cwd: opts.cwd });
    return { code: r.code ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    if (err instanceof ExecError) throw cannotRun(err);
    throw err;
  }
}

/** The last non-empty line of a tool's stderr, for error messages. */
export function lastLine(text: string): string {
  return tailLines(text, 1) || '(no output)';
}
