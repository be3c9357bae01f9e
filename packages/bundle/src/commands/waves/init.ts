import { Args, Flags } from '@oclif/core';
import { wavesInit, type WaveResult } from '../../waves.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { wavesInitText } from '../../cli/text.js';

export default class WavesInit extends BundleCommand<WaveResult> {
  static override description =
    "Start a wave: production targets holding the tag's production Targets plus the given Target, " +
    'signed with offline production targets keys to the threshold.';
  static override examples = [
    '<%= config.bin %> waves init wave-1 --factory ./factory --target sim-x86-lmp-2 --tag main --keys targets-key-1.tgz --keys targets-key-2.tgz',
  ];
  static override args = { wave: Args.string({ description: 'wave name', required: true }) };
  static override flags = {
    factory: factoryFlag,
    target: Flags.string({ description: 'published Target name', required: true }),
    tag: Flags.string({ description: 'tag of the production Targets', required: true }),
    keys: Flags.string({
      char: 'k',
      description: 'targets key archive (repeat to reach the threshold)',
      required: true,
      multiple: true,
    }),
    'expires-in-days': Flags.integer({ description: 'validity of the wave targets', default: 365 }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<WaveResult> {
    const { args, flags } = await this.parse(WavesInit);
    try {
      const res = await wavesInit({
        factory: flags.factory,
        wave: args.wave,
        target: flags.target,
        tag: flags.tag,
        keys: flags.keys,
        expiresInDays: flags['expires-in-days'],
      });
      this.print(wavesInitText(res));
      return res;
    } catch (err) {
      return this.fail(err);
    }
  }
}
