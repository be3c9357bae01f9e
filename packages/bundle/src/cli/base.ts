import { Command, Flags } from '@oclif/core';
import { FormatError } from '@offline-ota/format';
import { BundleError } from '../errors.js';

/** Flags shared by the commands that work on a factory. */
export const factoryFlag = Flags.directory({
  description: 'factory directory (or set BUNDLECTL_FACTORY)',
  env: 'BUNDLECTL_FACTORY',
  required: true,
});

/**
 * Thin-command base: turns library errors into one message line and a non-zero exit.
 * Library code never prints or exits; this is the only place that does for bundlectl.
 */
export abstract class BundleCommand extends Command {
  protected fail(err: unknown, exit = 1): never {
    if (err instanceof BundleError || err instanceof FormatError) {
      this.error(err.message, { exit, code: err.code });
    }
    throw err;
  }

  protected printJson(value: unknown): void {
    this.log(JSON.stringify(value, null, 2));
  }
}
