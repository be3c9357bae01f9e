import { Args, Flags } from '@oclif/core';
import { showBundle } from '../inspect.js';
import { showJson, type ShowJson } from '../cli/json.js';
import { BundleCommand } from '../cli/base.js';
import { showText } from '../cli/text.js';

export default class Show extends BundleCommand<ShowJson> {
  static override description =
    'Show an offline bundle: type, tag, expiry, Targets, signatures, allowed keys, threshold and missing signatures.';
  static override examples = [
    '<%= config.bin %> show /media/usb/bundle',
    '<%= config.bin %> show ./bundle --json',
    '<%= config.bin %> show /media/usb/bundle.zip',
  ];
  static override args = {
    bundle: Args.string({
      description: 'bundle directory, or single-file bundle (.zip) read in place',
      required: true,
    }),
  };
  static override flags = {
    json: Flags.boolean({ description: 'print the result as JSON (shape in docs/factory.md)' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<ShowJson> {
    const { args } = await this.parse(Show);
    try {
      const res = await showBundle(args.bundle);
      this.print(showText(res));
      return showJson(res);
    } catch (err) {
      return this.fail(err);
    }
  }
}
