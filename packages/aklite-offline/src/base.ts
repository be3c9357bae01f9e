/**
 * The one base of aklite-offline's commands. It defines the device flags (`--device-root`,
 * `--config`) once and resolves them into the library's `DeviceOptions` (with the ports
 * that print), and it owns the exit-code plumbing: a command's `run()` returns its typed
 * result, oclif prints it under `--json` (`enableJsonFlag` on the commands that have JSON
 * output), and the process then exits with exactly the status the command set (oclif must
 * not turn it into 1 or 2). Text output is formatted in `cli/text.ts`, JSON in `cli/json.ts`.
 */
import { resolve } from 'node:path';
import { Command, Flags, ux } from '@oclif/core';
import {
  describe,
  isSuccess,
  ProgressDrawer,
  StatusCode,
  type StatusValue,
} from '@offline-ota/format';
import { errorJson } from './cli/json.js';
import { exitStatusOf } from './lib/exit-status.js';
import { messageOf } from './lib/errors.js';
import type { DeviceOptions } from './lib/device.js';
import type { Ports } from './lib/ports.js';
import { phaseProgress } from './progress.js';

/** `--src-dir` / `--src-file`: exactly one names the media (check, install). */
export const mediaFlags = {
  'src-dir': Flags.string({
    char: 's',
    description: 'The bundle directory on the media (tuf/, ostree_repo/, apps/)',
    exactlyOne: ['src-dir', 'src-file'],
  }),
  'src-file': Flags.string({
    description:
      'A single-file bundle (.zip, from `bundlectl create --archive zip` or `bundlectl pack`), read in place without extracting it',
    exactlyOne: ['src-dir', 'src-file'],
  }),
};

/** The media path, absolute (a relative one is resolved against the working directory). */
export const mediaPath = (flags: { 'src-dir'?: string; 'src-file'?: string }): string =>
  resolve(flags['src-dir'] ?? flags['src-file'] ?? '');

/** The device flags every command takes, defined once. */
export const deviceFlags = {
  config: Flags.string({
    char: 'c',
    multiple: true,
    description:
      'A *.toml config file or a directory of them (repeatable; merged in order). Default: usr/lib/sota/conf.d, var/sota/sota.toml, etc/sota/conf.d under the device root',
  }),
  'device-root': Flags.string({
    description: 'Root of the device filesystem (a directory for simulated devices)',
    env: 'AKLITE_DEVICE_ROOT',
    default: '/',
  }),
  loglevel: Flags.integer({
    description:
      "Log level, as aktualizr-lite's (0 trace, 1 debug, 2 info, 3 warning, 4 error, 5 fatal); 3 and above print no progress lines",
    min: 0,
    max: 5,
  }),
};

/**
 * aktualizr-lite's spellings of the JSON switch, as scripts pass them: `--json 1` and
 * `--json=1` mean `--json`; `--json 0` and `--json=0` mean no JSON.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const inline = /^--json=(.*)$/.exec(a);
    const value = inline ? inline[1] : a === '--json' ? argv[i + 1] : undefined;
    const on = value === '1' || value === 'true';
    const off = value === '0' || value === 'false';
    if (inline || a === '--json') {
      if (!inline && (on || off)) i++;
      if (!off) out.push('--json');
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The parsed device flags. */
export interface DeviceFlags {
  config?: string[] | undefined;
  'device-root': string;
  loglevel?: number | undefined;
}

export abstract class AkliteCommand<R = unknown> extends Command {
  static override baseFlags = deviceFlags;

  /** The byte-progress line on stderr, once device() made it. */
  private drawer: ProgressDrawer | undefined;
  /** What the process exits with once the result is printed. */
  private status: StatusValue = StatusCode.Ok;

  abstract override run(): Promise<R>;

  /**
   * The library's device options from the device flags, with ports that print messages
   * and byte progress (one line, on a TTY only) to stderr. `quiet` (the default under
   * `--json`): no progress at all.
   */
  protected device(flags: DeviceFlags, quiet = this.jsonEnabled()): DeviceOptions {
    quiet ||= (flags.loglevel ?? 2) >= 3;
    // Every path is absolute from here on (issue 11 §7): a relative --device-root or
    // AKLITE_DEVICE_ROOT works exactly like the absolute one, also in the commands the
    // library runs in other directories (compose).
    return {
      deviceRoot: resolve(flags['device-root']),
      configPaths: (flags.config ?? []).map((p) => resolve(p)),
      ports: this.ports(quiet),
    };
  }

  /**
   * The CLI's ports (the rest are the production adapters). The testkit's `aklite-stop-at`
   * overrides this to add a checkpoint port that cuts the power in tests.
   */
  protected ports(quiet: boolean): Partial<Ports> {
    const drawer = new ProgressDrawer({ stream: process.stderr, enabled: !quiet });
    this.drawer = drawer;
    return {
      progress: (m: string) => {
        if (!quiet) this.logToStderr(m);
      },
      byteProgress: (p) => drawer.update(phaseProgress(p)),
    };
  }

  /** Sets the exit status; the process exits with it after the result is printed. */
  protected exitWith(status: StatusValue): void {
    this.status = status;
  }

  /** Prints text lines on stdout (nothing under `--json`). */
  protected print(lines: readonly string[]): void {
    for (const l of lines) this.log(l);
  }

  /** Every line printed first erases a drawn progress line. */
  override log(message?: string, ...args: unknown[]): void {
    this.drawer?.clear();
    super.log(message, ...args);
  }

  override logToStderr(message?: string, ...args: unknown[]): void {
    this.drawer?.clear();
    super.logToStderr(message, ...args);
  }

  /**
   * Prints a failure with its status and next step on stderr, and under `--json` also as
   * one JSON object on stdout (`ErrorJson`: code, name, message, hint), then exits with
   * the mapped status.
   */
  protected fail(err: unknown): never {
    const code = exitStatusOf(err);
    this.drawer?.clear();
    if (this.jsonEnabled())
      ux.stdout(JSON.stringify(errorJson(code, messageOf(err), err as object), null, 2));
    ux.stderr(`${isSuccess(code) ? '' : 'ERROR: '}${messageOf(err)}`);
    ux.stderr(describe(code));
    return this.exit(code);
  }

  /** aktualizr-lite's `--json 1` is accepted before oclif parses the flags. */
  override async init(): Promise<void> {
    this.argv = normalizeArgv(this.argv);
    await super.init();
  }

  /** Runs the command, lets oclif print the result (`--json`), then exits with the status. */
  protected override async _run<T>(): Promise<T> {
    await super._run<T>();
    return this.exit(this.status);
  }

  /**
   * Errors oclif raises (usage: exit 2) go to stderr with their exit code, and under
   * `--json` also as one `ErrorJson` object on stdout; the exit `fail()` or `_run()` asked
   * for passes through.
   */
  protected override catch(
    err: Error & { code?: unknown; oclif?: { exit?: number } },
  ): Promise<never> {
    if (err.code !== 'EEXIT' && this.jsonEnabled()) {
      const exit = (err.oclif?.exit ?? StatusCode.UnknownError) as StatusValue;
      ux.stdout(JSON.stringify(errorJson(exit, err.message), null, 2));
    }
    return Promise.reject(err);
  }
}
