/**
 * Device I/O behind small ports (STYLE.md §Shape). Production adapters call the real
 * tools: `ostree`, `fw_printenv`/`fw_setenv`, the compose runtime. Tests run the same
 * adapters on a simulated device root.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, realpath, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  deploymentAtEndOf,
  OstreeCli,
  plainOstreePort,
  systemClock,
  TRUST_SWAP_STEPS,
  type Clock,
  type ExecError,
  type OstreeOp,
  type OstreePort,
} from '@offline-ota/format';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { cannotRun, execTool, lastLine } from './exec.js';
import { fsyncDir, pathExists, writeFileAtomic } from './fsutil.js';

// ---------------------------------------------------------------------------------------
// OSTree

export type { Deployment, OstreePort } from '@offline-ota/format';

/**
 * A failed `ostree pull-local`. It is not classified here: ostree's messages are not an
 * interface. Install decides what it means by looking at the repo it pulled from and the
 * file system it wrote to (install.ts `pullFailure`): media gone (50), corrupt (70), no
 * space (60).
 */
export class PullError extends AkliteError {
  constructor(message: string) {
    super('PULL_FAILED', message);
  }
}

/** The device's error for a failed `ostree` run, by operation (codes and messages as before). */
function ostreeFailure(op: OstreeOp, err: ExecError): Error {
  if (err.code !== 'FAILED') return cannotRun(err);
  const line = lastLine(err.stderr);
  switch (op.op) {
    case 'init':
      return new AkliteError('INSTALL_FAILED', `ostree init ${op.repo} failed: ${line}`);
    case 'ls':
      return new AkliteError(
        'INSTALL_FAILED',
        `ostree ls -R of ${op.commit} in ${op.repo} failed: ${line}`,
      );
    case 'pull-local':
      return new PullError(`ostree pull-local of ${op.commit} from ${op.src} failed: ${line}`);
    case 'status':
      return new AkliteError(
        'DEVICE_INVALID',
        `ostree admin status on ${op.sysroot} failed: ${line}`,
      );
    case 'deploy':
      return new AkliteError(
        'INSTALL_FAILED',
        `ostree admin deploy of ${op.commit} into ${op.sysroot} failed: ${line}`,
      );
    case 'undeploy':
      return new AkliteError(
        'INSTALL_FAILED',
        `ostree admin undeploy ${op.index} on ${op.sysroot} failed: ${line}`,
      );
    case 'other':
      return new AkliteError('INSTALL_FAILED', `${op.what} failed: ${line}`);
  }
}

/** Signals a service manager or a terminal sends to stop the device CLI. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * Runs `work` (an `ostree admin deploy` or `undeploy`) with the stop signals held: one that
 * arrives meanwhile is raised again once the work is done, so the process stops after the
 * deploy, never in the middle of it (ostree freezes the sysroot's file system during a
 * deploy, and its own process group keeps it from the caller's signals: format's
 * `OstreeCli`). A SIGKILL still stops this process at once; ostree then finishes alone.
 */
export async function withStopSignalsHeld<T>(work: () => Promise<T>): Promise<T> {
  let held: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    held ??= signal;
  };
  for (const s of STOP_SIGNALS) process.on(s, hold);
  try {
    return await work();
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, hold);
    if (held !== undefined) process.kill(process.pid, held);
  }
}

const ostreeCli = plainOstreePort(new OstreeCli({ failure: ostreeFailure }));

/**
 * The OSTree port: the shared `ostree` adapter of `@offline-ota/format`, device errors;
 * deploys and undeploys run to their end (`withStopSignalsHeld`).
 */
export const ostreeTool: OstreePort = {
  ...ostreeCli,
  deploy: (sysroot, os, commit) => withStopSignalsHeld(() => ostreeCli.deploy(sysroot, os, commit)),
  undeploy: (sysroot, index) => withStopSignalsHeld(() => ostreeCli.undeploy(sysroot, index)),
};

/**
 * The booted deployment from `<root>/proc/cmdline`: the `ostree=` argument resolved under
 * the sysroot with realpath (on a real device a `/ostree/boot.N/…` symlink), then
 * `<commit>.<serial>` from the basename and the OS from `/ostree/deploy/<os>/deploy/`.
 */
export async function bootedDeployment(
  cmdlineFile: string,
  sysroot: string,
): Promise<{ os: string; commit: string; serial: number }> {
  let text: string;
  try {
    text = await readFile(cmdlineFile, 'utf8');
  } catch (err) {
    throw new AkliteError(
      'DEVICE_INVALID',
      `cannot read ${cmdlineFile}: ${messageOf(err)}; is --device-root a booted device?`,
      {
        cause: err,
        file: cmdlineFile,
      },
    );
  }
  const arg = text
    .trim()
    .split(/\s+/)
    .find((a) => a.startsWith('ostree='));
  if (arg === undefined) {
    throw new AkliteError(
      'DEVICE_INVALID',
      `${cmdlineFile} has no ostree= argument: the device was not booted from an OSTree deployment`,
      {
        file: cmdlineFile,
      },
    );
  }
  const rel = arg.slice('ostree='.length);
  let real: string;
  try {
    real = await realpath(join(sysroot, rel));
  } catch (err) {
    throw new AkliteError(
      'DEVICE_INVALID',
      `ostree=${rel} from ${cmdlineFile} does not resolve under ${sysroot}: ${messageOf(err)}`,
      {
        cause: err,
        file: cmdlineFile,
      },
    );
  }
  const deployment = deploymentAtEndOf(real);
  if (deployment === null) {
    throw new AkliteError(
      'DEVICE_INVALID',
      `ostree=${rel} resolves to ${real}, not /ostree/deploy/<os>/deploy/<commit>.<serial>`,
      {
        file: cmdlineFile,
      },
    );
  }
  return deployment;
}

// ---------------------------------------------------------------------------------------
// Bootloader environment (U-Boot)

export interface BootEnvPort {
  get(name: string): Promise<string | undefined>;
  /** Sets several variables in one write. */
  set(vars: Record<string, string | number>): Promise<void>;
}

export function fwEnv(configFile: string): BootEnvPort {
  return {
    // The whole environment is read and the variable looked up in it, so that "not set"
    // is the absence of a `name=` line, not a guess from fw_printenv's error text.
    async get(name) {
      const r = await execTool('fw_printenv', ['-c', configFile]);
      if (r.code !== 0) {
        throw new AkliteError(
          'DEVICE_INVALID',
          `fw_printenv -c ${configFile} failed: ${lastLine(r.stderr)}`,
          {
            file: configFile,
          },
        );
      }
      const prefix = `${name}=`;
      const line = r.stdout.split('\n').find((l) => l.startsWith(prefix));
      return line === undefined ? undefined : line.slice(prefix.length).trim();
    },
    async set(vars) {
      const args = Object.entries(vars).flatMap(([k, v]) => [k, String(v)]);
      const r = await execTool('fw_setenv', ['-c', configFile, ...args]);
      if (r.code !== 0) {
        throw new AkliteError(
          'INSTALL_FAILED',
          `fw_setenv -c ${configFile} ${args.join(' ')} failed: ${lastLine(r.stderr)}`,
          {
            file: configFile,
          },
        );
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// Compose runtime

export interface ComposePort {
  up(projectDir: string): Promise<void>;
  down(projectDir: string): Promise<void>;
}

export class AppStartError extends AkliteError {
  constructor(
    readonly app: string,
    message: string,
  ) {
    super('APP_START_FAILED', message);
  }
}

/** `<docker_compose_bin> --project-directory <dir> up -d` / `down`. */
export function composeTool(command: readonly string[]): ComposePort {
  const [bin, ...pre] = command;
  const runIt = async (projectDir: string, sub: string[]) => {
    const r = await execTool(bin, [...pre, '--project-directory', projectDir, ...sub], {
      cwd: projectDir,
    });
    if (r.code !== 0)
      throw new AppStartError(
        basename(projectDir),
        `${command.join(' ')} ${sub.join(' ')} in ${projectDir} failed: ${lastLine(r.stderr)}`,
      );
  };
  return {
    up: (dir) => runIt(dir, ['up', '-d']),
    down: (dir) => runIt(dir, ['down']),
  };
}

// ---------------------------------------------------------------------------------------
// Reboot sentinel (lives on tmpfs: a reboot removes it)

export interface SentinelPort {
  exists(): Promise<boolean>;
  create(): Promise<void>;
  remove(): Promise<void>;
}

export function fileSentinel(dir: string, name: string): SentinelPort {
  const file = join(dir, name);
  return {
    exists: () => pathExists(file),
    async create() {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(file, '1\n');
      await fsyncDir(dir);
    },
    async remove() {
      await rm(file, { force: true }).catch((err: unknown) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
    },
  };
}

// ---------------------------------------------------------------------------------------
// Callback program (`[pacman] callback_program`)

export interface CallbackOutcome {
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  /** True when it ran past the timeout and its process group was killed. */
  timedOut: boolean;
  /** The tail of its stdout and stderr, for the log. */
  output: string;
}

export interface CallbackPort {
  /** Runs `program` with no arguments and no shell, with exactly `env`, bounded by `timeoutMs`. */
  run(program: string, env: Record<string, string>, timeoutMs: number): Promise<CallbackOutcome>;
}

const CALLBACK_OUTPUT_CAP = 4096;

/**
 * Spawns the program in its own process group (detached) so that a timeout kills it and
 * everything it started (SIGKILL to the group). Resolves when the program exits, without
 * waiting for children that keep its output open. Never rejects.
 */
export const callbackRunner: CallbackPort = {
  run(program, env, timeoutMs) {
    return new Promise((resolve) => {
      let out = '';
      const keep = (b: Buffer) => {
        out = (out + b.toString('utf8')).slice(-CALLBACK_OUTPUT_CAP);
      };
      let child;
      try {
        child = spawn(program, [], {
          env,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (err) {
        resolve({ code: null, signal: null, timedOut: false, output: messageOf(err) });
        return;
      }
      let timedOut = false;
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let settled = false;
      const finish = (o: Omit<CallbackOutcome, 'timedOut' | 'output'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (timedOut) killGroup();
        child.stdout.destroy();
        child.stderr.destroy();
        child.unref();
        resolve({ ...o, timedOut, output: out });
      };
      child.on('error', (err) => {
        out += messageOf(err);
        finish({ code: null, signal: null });
      });
      child.on('exit', (code, signal) => finish({ code, signal }));
    });
  },
};

// ---------------------------------------------------------------------------------------

/**
 * Named points of install, run and rollback, in the order each reaches them. The library
 * reports each through the checkpoint port, where a test's port can cut the power (the
 * testkit's `aklite-stop-at`, or an in-memory fake); production's port does nothing.
 */
export const CHECKPOINTS = [
  // install
  'space-checked',
  'ostree-staged',
  'apps-staged',
  'ostree-pulled',
  'apps-copied',
  ...TRUST_SWAP_STEPS, // the trusted metadata swapped in (format's trust store)
  'tuf-committed',
  'state-pending',
  'state-deploying',
  'deployed',
  'bootenv-set',
  'installed',
  // run
  'apps-extracted',
  'apps-started',
  'bootenv-cleared',
  'current-target-written',
  'state-current',
  'fallback-recorded',
  // rollback (deployRollback)
  'rollback-recorded',
  'rollback-deployed',
] as const;

export type CheckpointName = (typeof CHECKPOINTS)[number];

/** The checkpoint port: called at each named point (see CHECKPOINTS). */
export type Checkpoint = (step: CheckpointName) => void;

/**
 * Long work whose bytes are counted: `extract-repo` the OSTree repo out of a single-file
 * bundle, `pull-ostree` the verifying pull into the scratch repo, `copy-apps` the app
 * blobs, `write-ostree` the objects written into the sysroot repo.
 */
export type ProgressPhase = 'extract-repo' | 'pull-ostree' | 'copy-apps' | 'write-ostree';

/**
 * `done` of `total` bytes of one phase (`total` undefined when unknown). For the OSTree
 * phases, `done` is what the file system holding the repo grew by: an estimate.
 */
export interface ByteProgress {
  phase: ProgressPhase;
  done: number;
  total: number | undefined;
}

export interface Ports {
  ostree: OstreePort;
  bootEnv: BootEnvPort;
  compose: ComposePort;
  sentinel: SentinelPort;
  /** Tmpfs marker of the boot in which the current probation (re)started. */
  probationMarker: SentinelPort;
  callback: CallbackPort;
  clock: Clock;
  checkpoint: Checkpoint;
  /** Progress messages for the user; the library never prints. */
  progress: (message: string) => void;
  /** Byte progress of long work: called often, must be cheap (the CLI throttles drawing). */
  byteProgress: (p: ByteProgress) => void;
}

export { systemClock };
