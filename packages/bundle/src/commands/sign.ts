import { Args, Flags } from '@oclif/core';
import { showBundle, signBundle } from '../inspect.js';
import { BundleCommand } from '../cli/base.js';
import { signJson, type SignJson } from '../cli/json.js';
import { signText } from '../cli/text.js';

export default class Sign extends BundleCommand<SignJson> {
  static override description =
    "Add one signature to a production bundle with the targets key in the given archive (one release manager's key per run). " +
    'Refuses a CI bundle (signed when created), an expired bundle (refresh it with create --tuf-only first) and a single-file bundle (sign the directory, then pack it).';
  static override examples = [
    '<%= config.bin %> sign /media/usb/bundle --keys ~/keys/targets-key-1.tgz',
  ];
  static override args = {
    bundle: Args.string({
      description:
        'production bundle directory (a .zip is signed as its directory, then packed again)',
      required: true,
    }),
  };
  static override flags = {
    keys: Flags.string({ char: 'k', description: 'targets key archive (.tgz)', required: true }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<SignJson> {
    const { args, flags } = await this.parse(Sign);
    try {
      const res = await signBundle(args.bundle, flags.keys);
      const shown = await showBundle(args.bundle);
      this.print(signText(res, shown));
      return signJson(res, shown);
    } catch (err) {
      return this.fail(err);
    }
  }
}
