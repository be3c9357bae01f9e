/**
 * The one base of bundlectl's commands: a command parses its flags, calls one library
 * function, prints its text (`cli/text.ts`) and returns its typed result, which oclif prints
 * under `--json` (`enableJsonFlag` on the commands that have JSON output). Library errors
 * become one message line on stderr and exit 1 (2 for a usage error), and under `--json`
 * also one `{code, name, message, hint, error?, file?}` object on stdout (format's
 * `errorReport`, the shape aklite-offline prints); `verify` sets the device's status.
 * Library code never prints or exits; this is the only place that does for bundlectl.
 */
import { Command, Flags, ux } from '@oclif/core';
import { errorReport, FormatError, StatusCode, type StatusValue } from '@offline-ota/format';
import { BundleError } from '../errors.js';
import { progressPrinter } from './progress.js';

/** Flags shared by the commands that work on a factory. */
export const factoryFlag = Flags.directory({
  description: 'factory directory (or set BUNDLECTL_FACTORY)',
  env: 'BUNDLECTL_FACTORY',
  required: true,
});

export abstract class BundleCommand<R = unknown> extends Command {
  /** What the process exits with once the result is printed (0: a normal exit). */
  private status: StatusValue = StatusCode.Ok;
  /** The failure was printed as JSON already (`fail` then oclif's `catch`). */
  private reported = false;

  abstract override run(): Promise<R>;

  /** Turns a library error into one message line and a non-zero exit; rethrows others. */
  protected fail(err: unknown, exit = 1): never {
    if (err instanceof BundleError || err instanceof FormatError) {
      this.report(exit, err.message, err);
      this.error(err.message, { exit, code: err.code });
    }
    throw err;
  }

  /** Sets the exit status; the process exits with it after the result is printed. */
  protected exitWith(status: StatusValue): void {
    this.status = status;
  }

  /** Prints text lines on stdout (nothing under `--json`). */
  protected print(lines: readonly string[]): void {
    for (const l of lines) this.log(l);
  }

  /** The library's progress callback: step lines and the progress line on stderr. */
  protected progress(): ReturnType<typeof progressPrinter> {
    return progressPrinter({
      stream: process.stderr,
      log: (l) => this.logToStderr(l),
      warn: (l) => this.logToStderr(l),
      json: this.jsonEnabled(),
    });
  }

  /** Runs the command, lets oclif print the result (`--json`), then exits with the status. */
  protected override async _run<T>(): Promise<T> {
    const result = await super._run<T>();
    if (this.status !== StatusCode.Ok) this.exit(this.status);
    return result;
  }

  /** Under `--json`: the failure as one JSON object on stdout (once). */
  private report(exit: number, message: string, err?: { code?: unknown; file?: unknown }): void {
    if (this.reported || !this.jsonEnabled()) return;
    this.reported = true;
    ux.stdout(JSON.stringify(errorReport(exit, message, err), null, 2));
  }

  /**
   * Errors (usage: 2, failures: 1) go to stderr with their exit code, and under `--json`
   * also as the JSON object on stdout; the exit `_run()` asked for passes through.
   */
  protected override catch(
    err: Error & { code?: unknown; oclif?: { exit?: number } },
  ): Promise<never> {
    if (err.code !== 'EEXIT') this.report(err.oclif?.exit ?? 1, err.message, err);
    return Promise.reject(err);
  }
}
