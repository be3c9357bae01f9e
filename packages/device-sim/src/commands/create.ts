import { Args, Command, Flags } from '@oclif/core';
import { createDevice, DeviceSimError } from '../index.js';

export default class Create extends Command {
  static override description =
    'Create a simulated device booted on a published Target of a factory';
  static override examples = [
    '<%= config.bin %> create ./dev1 --factory ./factory --target raspberrypi4-64-lmp-42 --tag main',
  ];
  static override args = {
    dir: Args.directory({
      description: 'device root to create (new or empty directory)',
      required: true,
    }),
  };
  static override flags = {
    factory: Flags.directory({
      description: 'factory directory (bundlectl factory)',
      required: true,
      exists: true,
    }),
    target: Flags.string({
      description: 'name of the Target the device boots (factory targets/<NAME>.json)',
      required: true,
    }),
    type: Flags.option({
      options: ['ci', 'prod', 'none'] as const,
      default: 'ci',
      description: '[provision] device_type',
    })(),
    tag: Flags.string({ description: '[pacman] tags of the device' }),
    golden: Flags.boolean({
      description:
        'Provision the Target as the golden system: pin its deployment (ostree admin pin) and record it as [pacman] golden_commit',
    }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Create);
    try {
      const result = await createDevice({
        root: args.dir,
        factory: flags.factory,
        target: flags.target,
        type: flags.type,
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        golden: flags.golden,
        onProgress: flags.json ? undefined : (m) => this.logToStderr(m),
      });
      if (flags.json) {
        this.log(JSON.stringify(result, null, 2));
      } else {
        this.log(`created ${result.root}: booted ${result.target} (${result.booted.deployment})`);
        this.log(`apps running: ${result.apps.running.join(', ') || '(none)'}`);
        if (result.golden !== null) this.log(`golden system: ${result.golden} (pinned)`);
        if (result.apps.failed.length > 0)
          this.log(`apps failed to start: ${result.apps.failed.join(', ')}`);
      }
    } catch (err) {
      if (err instanceof DeviceSimError) this.error(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
