import { Args, Flags } from '@oclif/core';
import { makeSampleApp } from '../../samples.js';
import { BundleCommand } from '../../cli/base.js';

export default class SampleApp extends BundleCommand {
  static override description =
    'Write a sample compose project <dir>/<name> with one OCI image layout built from scratch (for tests and demos).';
  static override examples = [
    '<%= config.bin %> sample app ./apps --name shellhttpd --content "version 2"',
    '<%= config.bin %> sample app ./apps --name broken --fail-start',
  ];
  static override args = {
    dir: Args.string({ description: 'parent directory of the project', required: true }),
  };
  static override flags = {
    name: Flags.string({ description: 'app (and image) name', required: true }),
    content: Flags.string({
      description: 'content of the image file srv/<name>/index.html',
      default: 'hello',
    }),
    'fail-start': Flags.boolean({
      description: "make device-sim's compose stand-in fail this app",
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SampleApp);
    try {
      const app = await makeSampleApp(args.dir, {
        name: flags.name,
        images: [{ name: flags.name, files: { [`srv/${flags.name}/index.html`]: flags.content } }],
        failStart: flags['fail-start'],
      });
      this.log(`Wrote compose project ${app.projectDir}`);
    } catch (err) {
      this.fail(err);
    }
  }
}
