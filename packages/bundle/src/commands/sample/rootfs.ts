import { Args, Flags } from '@oclif/core';
import { makeSampleRootfs } from '../../samples.js';
import { BundleCommand } from '../../cli/base.js';

export default class SampleRootfs extends BundleCommand {
  static override description =
    'Write a sample rootfs tree (kernel, os-release with VERSION_ID, usr/bin/hello, usr/etc/app.conf) for tests and demos.';
  static override examples = ['<%= config.bin %> sample rootfs ./rootfs-v2 --version 2'];
  static override args = {
    dir: Args.string({ description: 'directory to write', required: true }),
  };
  static override flags = {
    version: Flags.string({ description: 'VERSION_ID written to os-release', required: true }),
    'os-name': Flags.string({ description: 'ID written to os-release', default: 'lmp' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SampleRootfs);
    try {
      await makeSampleRootfs(args.dir, { version: flags.version, osName: flags['os-name'] });
      this.log(`Wrote a sample rootfs (version ${flags.version}) to ${args.dir}`);
    } catch (err) {
      this.fail(err);
    }
  }
}
