import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { offlineArgv } from '@offline-ota/testkit';

/** dist-test/test/e2e → the package's bin/run.js (the BUILT CLI). */
export const BIN = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'bin',
  'run.js',
);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bundlectl` as a process; `faketime` (e.g. '+400d') moves its clock. */
export function bundlectl(
  args: string[],
  opts: { cwd?: string; faketime?: string } = {},
): Promise<CliResult> {
  // Network access must fail: an offline tool proves it is offline.
  const [cmd, argv] =
    opts.faketime === undefined
      ? offlineArgv(process.execPath, [BIN, ...args])
      : offlineArgv('faketime', ['-f', opts.faketime, process.execPath, BIN, ...args]);
  return new Promise((done) => {
    execFile(
      cmd,
      argv,
      {
        cwd: opts.cwd,
        env: { ...process.env, NO_COLOR: '1' },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Expects success; on failure throws with the process output for the test log. */
export async function ok(
  args: string[],
  opts: { cwd?: string; faketime?: string } = {},
): Promise<CliResult> {
  const r = await bundlectl(args, opts);
  if (r.code !== 0)
    throw new Error(`bundlectl ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Joins oclif's wrapped error lines ("›   ") back into one string. */
export function unwrap(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*›\s*/, ''))
    .join(' ')
    .replace(/\s+/g, ' ');
}

/** tuf-js is a dependency of @offline-ota/format; load it from there. */
export function loadTufJs(): {
  Updater: new (o: Record<string, unknown>) => {
    refresh(): Promise<void>;
    getTargetInfo(p: string): Promise<unknown>;
  };
} {
  const req = createRequire(fileURLToPath(import.meta.resolve('@offline-ota/format')));
  const tuf = req('tuf-js') as { Updater: never };
  return { Updater: tuf.Updater };
}

export { join };
