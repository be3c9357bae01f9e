import { spawn } from 'node:child_process';
import { errnoOf, messageOf } from '../errors.js';
import { ExecError } from './errors.js';

export interface ExecOptions {
  cwd?: string;
  /** The child's whole environment; default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Bytes of stdout kept; a child writing more is killed (`OUTPUT_TOO_LARGE`). Default 64 MiB. */
  maxStdout?: number;
  /** Bytes of stderr kept, the last ones. Default 64 KiB. */
  stderrTail?: number;
  /** Kill the child (SIGKILL) after this long (`TIMED_OUT`). Default: no limit. */
  timeoutMs?: number;
  /**
   * Start the child in its own process group; a kill (timeout, output too large) then ends
   * the group, so whatever the child started dies with it.
   */
  processGroup?: boolean;
  /** Called with the child's process id once it is started (e.g. to read its `/proc` I/O). */
  onSpawn?: (pid: number) => void;
}

export interface ExecResult {
  /** The program and its arguments. */
  command: readonly string[];
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The tail of stderr (`stderrTail` bytes). */
  stderr: string;
}

const DEFAULT_MAX_STDOUT = 64 * 1024 * 1024;
const DEFAULT_STDERR_TAIL = 64 * 1024;

/** The last `n` non-empty lines of a tool's output, trimmed; '' when there are none. */
export function tailLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .join('\n')
    .trim();
}

const shown = (command: readonly string[]): string => `\`${command.join(' ')}\``;

/**
 * Runs a program without a shell, its stdin closed, and collects its output (bounded:
 * stdout up to `maxStdout`, the tail of stderr). Resolves when the program has exited and
 * its output is closed, whatever the exit status; rejects with an `ExecError` only when it
 * could not be run (`NOT_FOUND`, `SPAWN_FAILED`), ran too long (`TIMED_OUT`) or wrote too
 * much (`OUTPUT_TOO_LARGE`). On those two it is killed with SIGKILL (its whole process
 * group with `processGroup`).
 */
export function execCapture(
  cmd: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const command = [cmd, ...args];
  const maxStdout = opts.maxStdout ?? DEFAULT_MAX_STDOUT;
  const stderrTail = opts.stderrTail ?? DEFAULT_STDERR_TAIL;
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: opts.processGroup === true,
      });
    } catch (err) {
      reject(spawnError(command, err));
      return;
    }
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = Buffer.alloc(0);
    let killedFor: 'TIMED_OUT' | 'OUTPUT_TOO_LARGE' | undefined;
    const kill = (why: 'TIMED_OUT' | 'OUTPUT_TOO_LARGE') => {
      killedFor ??= why;
      try {
        if (opts.processGroup === true && child.pid !== undefined)
          process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
      // A grandchild may still hold the pipes open: stop reading, so 'close' comes now.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => kill('TIMED_OUT'), opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      if (killedFor !== undefined) return;
      outBytes += b.length;
      if (outBytes > maxStdout) kill('OUTPUT_TOO_LARGE');
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errTail = Buffer.concat([errTail, b]);
      if (errTail.length > stderrTail) errTail = errTail.subarray(errTail.length - stderrTail);
    });
    let failed = false;
    child.on('error', (err) => {
      failed = true;
      clearTimeout(timer);
      reject(spawnError(command, err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failed) return;
      const result: ExecResult = {
        command,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: errTail.toString('utf8'),
      };
      if (killedFor === 'TIMED_OUT') {
        reject(
          failure(
            'TIMED_OUT',
            `${shown(command)} ran longer than ${opts.timeoutMs}ms and was killed`,
            result,
          ),
        );
      } else if (killedFor === 'OUTPUT_TOO_LARGE') {
        reject(
          failure(
            'OUTPUT_TOO_LARGE',
            `${shown(command)} wrote more than ${maxStdout} bytes and was killed`,
            result,
          ),
        );
      } else resolve(result);
    });
  });
}

/**
 * `execCapture`, and a non-zero exit or a signal is an `ExecError` (`FAILED`) whose
 * message quotes the command, how it ended and the last lines of its stderr.
 */
export async function execChecked(
  cmd: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const r = await execCapture(cmd, args, opts);
  if (r.code === 0) return r;
  const how = r.code === null ? `was ended by ${r.signal ?? 'a signal'}` : `exited ${r.code}`;
  const said = tailLines(r.stderr, 5);
  throw failure('FAILED', `${shown(r.command)} ${how}${said === '' ? '' : `: ${said}`}`, r);
}

function failure(
  code: 'FAILED' | 'TIMED_OUT' | 'OUTPUT_TOO_LARGE',
  message: string,
  r: ExecResult,
) {
  return new ExecError(code, message, {
    command: r.command,
    exitCode: r.code,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
  });
}

function spawnError(command: readonly string[], err: unknown): ExecError {
  const missing = errnoOf(err) === 'ENOENT';
  return new ExecError(
    missing ? 'NOT_FOUND' : 'SPAWN_FAILED',
    missing
      ? `cannot run ${command[0]}: it is not installed or not on PATH`
      : `cannot run ${command[0]}: ${messageOf(err)}`,
    { command, cause: err },
  );
}
