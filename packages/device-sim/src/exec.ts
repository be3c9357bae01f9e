import { execFile } from 'node:child_process';
import { DeviceSimError } from './errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a real tool (ostree, fw_printenv, fw_setenv, tar, chattr) without a shell.
 * A failure becomes a `TOOL_FAILED` error that names the command and quotes its stderr.
 */
export function run(cmd: string, args: readonly string[], what: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const enoent = (err as NodeJS.ErrnoException).code === 'ENOENT';
          const detail = enoent
            ? `${cmd} is not installed (install the Debian package that provides it)`
            : (stderr.trim() || stdout.trim() || err.message).split('\n').slice(-5).join('\n');
          reject(
            new DeviceSimError(
              'TOOL_FAILED',
              `${what} failed: \`${[cmd, ...args].join(' ')}\`: ${detail}`,
              {
                cause: err,
              },
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}
