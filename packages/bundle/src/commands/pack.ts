import { Args, Flags } from '@oclif/core';
import { assertPackable } from '../inspect.js';
import { packBundle } from '../pack.js';
import type { PackBundleResult } from '../pack.js';
import { BundleCommand } from '../cli/base.js';
import { packText, packWarnings } from '../cli/text.js';

export default class Pack extends BundleCommand<PackBundleResult> {
  static override description =
    'Pack a directory bundle into one zip file for removable media. Already-compressed content (OSTree .filez ' +
    'objects, gzip layers) is stored, the rest deflated; the same bundle always gives the same bytes. ZIP64 is used ' +
    'when needed; past 4 GiB a FAT32 stick cannot hold the file (use exFAT). Sign production bundles before packing: ' +
    'an under-signed one is refused unless --allow-unsigned.';
  static override examples = [
    '<%= config.bin %> pack ./bundle /media/usb/bundle.zip',
    '<%= config.bin %> pack ./bundle ./bundle.zip --json',
  ];
  static override args = {
    bundle: Args.string({ description: 'directory bundle', required: true }),
    file: Args.string({ description: 'zip file to write (must not exist)', required: true }),
  };
  static override flags = {
    json: Flags.boolean({ description: 'print the result as JSON' }),
    'allow-unsigned': Flags.boolean({
      description:
        'pack a production bundle that is signed below its threshold (a device refuses it until it is signed)',
    }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<PackBundleResult> {
    const { args, flags } = await this.parse(Pack);
    const printer = this.progress();
    try {
      await assertPackable(args.bundle, flags['allow-unsigned']);
      const res = await packBundle({ src: args.bundle, dst: args.file, onProgress: printer });
      printer.end();
      this.print(packText(res));
      for (const w of packWarnings(res)) this.logToStderr(w);
      return res;
    } catch (err) {
      printer.end();
      return this.fail(err);
    }
  }
}
