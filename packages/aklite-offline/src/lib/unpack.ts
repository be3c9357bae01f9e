/**
 * The security-unpack hook (Legato's model; docs/security-unpack.md): a single-file
 * bundle is streamed through an integrator's program — the bundle on its stdin, the plain
 * bundle read from its stdout — before anything else looks at it. Exit 0: the output is
 * the bundle to check and install. Exit 1: a security violation (wrong key, tampered
 * ciphertext). Any other exit or signal: the unpack failed. Either failure cancels the
 * update and the output is removed, so the device stays as it was.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AkliteError, messageOf } from './errors.js';

export interface UnpackOptions {
  /** The program from `[pacman] security_unpack` (run without a shell, no arguments). */
  program: string;
  /** The single-file bundle on the media. */
  input: string;
  /** A directory on the device's storage for the plain bundle (created, removed on failure). */
  workDir: string;
  /** Refuse output larger than this many bytes. */
  maxBytes: number;
  /** Extra environment for the program (e.g. AKLITE_DEVICE_ROOT). */
  env?: Record<string, string>;
}

export interface Unpacked {
  /** The plain single-file bundle. */
  file: string;
  /** Removes the plain bundle and its directory. */
  cleanup(): Promise<void>;
}

const STDERR_TAIL = 2048;

export async function securityUnpack(opts: UnpackOptions): Promise<Unpacked> {
  const dir = join(opts.workDir, `unpack-${randomBytes(6).toString('hex')}`);
  const file = join(dir, 'bundle.zip');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await runUnpack(opts, file);
    return { file, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function runUnpack(opts: UnpackOptions, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let written = 0;
    let failure: AkliteError | undefined;
    const fail = (e: AkliteError) => {
      failure ??= e;
      child.kill('SIGKILL');
    };
    const child = spawn(opts.program, [], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    const input = createReadStream(opts.input);
    const output = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    input.on('error', (err) =>
      fail(
        new AkliteError(
          'DOWNLOAD_FAILED',
          `cannot read ${opts.input}: ${messageOf(err)}; check the media and try again`,
          { cause: err, file: opts.input },
        ),
      ),
    );
    // The program may stop reading early (e.g. on a bad header): that is its exit's business.
    child.stdin.on('error', () => undefined);
    input.pipe(child.stdin);
    child.stdout.on('data', (chunk: Buffer) => {
      written += chunk.length;
      if (written > opts.maxBytes) {
        fail(
          new AkliteError(
            'UNPACK_FAILED',
            `security_unpack program ${opts.program} wrote more than ${opts.maxBytes} bytes; the update is cancelled`,
          ),
        );
      }
    });
    child.stdout.pipe(output);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.on('error', (err) =>
      fail(
        new AkliteError(
          'UNPACK_FAILED',
          `cannot run the security_unpack program ${opts.program}: ${messageOf(err)}; check [pacman] security_unpack in the device config`,
          { cause: err, file: opts.program },
        ),
      ),
    );
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let flushed = false;
    const settle = () => {
      if (exited === undefined || !flushed) return;
      input.destroy();
      if (failure) return reject(failure);
      const { code, signal } = exited;
      const said =
        stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
      if (code === 0) return resolve();
      if (code === 1) {
        return reject(
          new AkliteError(
            'SECURITY_VIOLATION',
            `security_unpack program ${opts.program} reported a security violation (exit 1)${said}; do not use this media`,
            { file: opts.input },
          ),
        );
      }
      reject(
        new AkliteError(
          'UNPACK_FAILED',
          `security_unpack program ${opts.program} failed (${signal !== null ? `signal ${signal}` : `exit ${String(code)}`})${said}; the update is cancelled`,
          { file: opts.input },
        ),
      );
    };
    output.on('finish', () => {
      flushed = true;
      settle();
    });
    output.on('error', (err) => {
      fail(
        new AkliteError('UNPACK_FAILED', `cannot write the unpacked bundle: ${messageOf(err)}`, {
          cause: err,
        }),
      );
      flushed = true;
      settle();
    });
    child.on('close', (code, signal) => {
      exited = { code, signal };
      settle();
    });
  });
}
