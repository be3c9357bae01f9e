import { Command, Flags } from '@oclif/core';
import { describe, type StatusValue } from '@offline-ota/format';
import { exitStatusOf } from './lib/exit-status.js';
import { messageOf } from './lib/errors.js';
import type { Ports } from './lib/ports.js';
import { ProgressDrawer } from './progress.js';

/**
 * Shared flags and the exit-code plumbing: a command computes a status, prints, and
 * exits with exactly that status (oclif must not turn it into 1 or 2).
 */
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

export abstract class AkliteCommand extends Command {
  static override baseFlags = {
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

  /** The byte-progress line on stderr, once ports() made it. */
  private drawer: ProgressDrawer | undefined;

  /**
   * Ports for the library: messages and byte progress (one line, on a TTY only) to stderr.
   * `quiet` (also `--json`): no progress at all.
   */
  protected ports(quiet = false): Partial<Ports> {
    const drawer = new ProgressDrawer({ stream: process.stderr, enabled: !quiet });
    this.drawer = drawer;
    return {
      progress: (m: string) => {
        if (!quiet) this.logToStderr(m);
      },
      byteProgress: (p) => drawer.update(p),
    };
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

  /** Prints a failure with its status and next step, then exits with the mapped status. */
  protected fail(err: unknown): never {
    const code = exitStatusOf(err);
    this.logToStderr(`ERROR: ${messageOf(err)}`);
    this.logToStderr(describe(code));
    return this.done(code);
  }

  protected done(code: StatusValue): never {
    return this.exit(code);
  }
}
