import { Args, Flags } from '@oclif/core';
import { packBundle } from '../pack.js';
import { BundleCommand } from '../cli/base.js';
import { progressPrinter } from '../cli/progress.js';

export default class Pack extends BundleCommand {
  static override description =
    'Pack a directory bundle into one zip file for removable media. Already-compressed content (OSTree .filez ' +
    'objects, gzip layers) is stored, the rest deflated; the same bundle always gives the same bytes. ZIP64 is used ' +
    'when needed; past 4 GiB a FAT32 stick cannot hold the file (use exFAT). Sign production bundles before packing.';
  static override examples = [
    '<%= config.bin %> pack ./bundle /media/usb/bundle.zip',
    '<%= config.bin %> pack ./bundle ./bundle.zip --json',
  ];
  static override args = {
    bundle: Args.directory({ description: 'directory bundle', required: true, exists: true }),
    file: Args.string({ description: 'zip file to write (must not exist)', required: true }),
  };
  static override flags = {
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pack);
    const printer = progressPrinter({
      stream: process.stderr,
      log: (l) => this.log(l),
      warn: (l) => this.logToStderr(l),
      json: flags.json,
    });
    try {
      const res = await packBundle({ src: args.bundle, dst: args.file, onProgress: printer });
      printer.end();
      if (flags.json) return this.printJson(res);
      this.log(`Wrote ${res.file}: ${res.bytes} bytes, ${res.entries} entries`);
      this.log(`\tsha256:\t${res.sha256}`);
      if (res.zip64) this.log('\tZIP64 records are used');
      if (res.tooLargeForFat32)
        this.logToStderr(
          'WARNING: the file is larger than 4 GiB; copy it to an exFAT stick, not FAT32',
        );
    } catch (err) {
      printer.end();
      this.fail(err);
    }
  }
}
