import { spawn } from 'node:child_process';
import { AkliteError, messageOf } from './errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell and collects its output; never throws for a non-zero exit. */
export function execTool(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      reject(
        new AkliteError('DEVICE_INVALID', `cannot run ${cmd}: ${messageOf(err)}`, { cause: err }),
      );
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => errOut.push(b));
    child.on('error', (err) => {
      reject(
        new AkliteError(
          'DEVICE_INVALID',
          `cannot run ${cmd}: ${messageOf(err)}; is it installed and on PATH?`,
          {
            cause: err,
          },
        ),
      );
    });
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
      });
    });
  });
}

/** The last non-empty line of a tool's stderr, for error messages. */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.at(-1) ?? '(no output)';
}
