import { Args, Flags } from '@oclif/core';
import { showBundle, signBundle } from '../inspect.js';
import { BundleCommand } from '../cli/base.js';
import { showText } from '../cli/show-text.js';

export default class Sign extends BundleCommand {
  static override description =
    "Add one signature to a production bundle with the targets key in the given archive (one release manager's key per run).";
  static override examples = [
    '<%= config.bin %> sign /media/usb/bundle --keys ~/keys/targets-key-1.tgz',
  ];
  static override args = {
    bundle: Args.directory({ description: 'bundle directory', required: true, exists: true }),
  };
  static override flags = {
    keys: Flags.string({ char: 'k', description: 'targets key archive (.tgz)', required: true }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Sign);
    try {
      const res = await signBundle(args.bundle, flags.keys);
      const shown = await showBundle(args.bundle);
      if (flags.json) return this.printJson({ ...res, show: shown });
      this.log(`Signing the bundle with new key; ID: ${res.keyid}, type: ED25519`);
      if (res.missing > 0) {
        this.log(
          `${res.missing} more signature(s) is/are required to meet the required threshold (${res.threshold})`,
        );
      } else {
        this.log(
          `The bundle is signed with enough number of signatures (${res.signatures}) to meet the required threshold (${res.threshold})`,
        );
      }
      for (const l of showText(shown)) this.log(l);
    } catch (err) {
      this.fail(err);
    }
  }
}
