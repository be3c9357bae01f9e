/**
 * The one base of aklite-offline's commands. It defines the device flags (`--device-root`,
 * `--config`) once and resolves them into the library's `DeviceOptions` (with the ports
 * that print), and it owns the exit-code plumbing: a command's `run()` returns its typed
 * result, oclif prints it under `--json` (`enableJsonFlag` on the commands that have JSON
 * output), and the process then exits with exactly the status the command set (oclif must
 * not turn it into 1 or 2). Text output is formatted in `cli/text.ts`, JSON in `cli/json.ts`.
 */
import { Command, Flags, ux } from '@oclif/core';
import { describe, ProgressDrawer, StatusCode, type StatusValue } from '@offline-ota/format';
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

export const mediaPath = (flags: { 'src-dir'?: string; 'src-file'?: string }): string =>
  flags['src-dir'] ?? flags['src-file'] ?? '';

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
};

/** The parsed device flags. */
export interface DeviceFlags {
  config?: string[] | undefined;
  'device-root': string;
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
    return {
      deviceRoot: flags['device-root'],
      configPaths: flags.config ?? [],
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
   * Prints a failure with its status and next step on stderr (also under `--json`: stdout
   * only ever holds a result), then exits with the mapped status.
   */
  protected fail(err: unknown): never {
    const code = exitStatusOf(err);
    this.drawer?.clear();
    ux.stderr(`ERROR: ${messageOf(err)}`);
    ux.stderr(describe(code));
    return this.exit(code);
  }

  /** Runs the command, lets oclif print the result (`--json`), then exits with the status. */
  protected override async _run<T>(): Promise<T> {
    await super._run<T>();
    return this.exit(this.status);
  }

  /** Errors (usage, failures) go to stderr with their exit code, never as JSON on stdout. */
  protected override catch(err: Error): Promise<never> {
    return Promise.reject(err);
  }
}
