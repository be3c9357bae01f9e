import { Args, Flags } from '@oclif/core';
import { DEFAULT_BUSYBOX, makeSampleApp } from '../../samples.js';
import { BundleCommand } from '../../cli/base.js';

export default class SampleApp extends BundleCommand {
  static override description =
    'Write a sample compose project <dir>/<name> whose one image, built from scratch with a static busybox and no network, runs a service that prints the version it serves and keeps running (or, with --exit-code, exits with that code).';
  static override examples = [
    '<%= config.bin %> sample app ./apps --name shellhttpd --serves 2',
    '<%= config.bin %> sample app ./apps --name broken --serves 3 --exit-code 3',
  ];
  static override args = {
    dir: Args.string({ description: 'parent directory of the project', required: true }),
  };
  static override flags = {
    name: Flags.string({ description: 'app (and image and service) name', required: true }),
    serves: Flags.string({
      description: 'the version the service says it serves (also in srv/<name>/index.html)',
      default: '1',
    }),
    'exit-code': Flags.integer({
      description: 'make the service fail: print an error and exit with this code (1-255)',
      min: 1,
      max: 255,
    }),
    busybox: Flags.string({
      description: 'a statically linked busybox to put into the image',
      default: DEFAULT_BUSYBOX,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SampleApp);
    try {
      const app = await makeSampleApp(args.dir, {
        name: flags.name,
        images: [
          {
            name: flags.name,
            files: {
              [`srv/${flags.name}/index.html`]: `<p>${flags.name} version ${flags.serves}</p>\n`,
            },
            service: {
              serves: flags.serves,
              busybox: flags.busybox,
              ...(flags['exit-code'] === undefined ? {} : { exitCode: flags['exit-code'] }),
            },
          },
        ],
      });
      this.log(`Wrote compose project ${app.projectDir}`);
    } catch (err) {
      this.fail(err);
    }
  }
}
