import { Args, Flags } from '@oclif/core';
import { wavesComplete, type WaveResult } from '../../waves.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { wavesCompleteText } from '../../cli/text.js';

export default class WavesComplete extends BundleCommand<WaveResult> {
  static override description =
    "Complete a wave: its Target joins the production targets of the wave's tag, re-signed with offline keys.";
  static override examples = [
    '<%= config.bin %> waves complete wave-1 --factory ./factory --keys targets-key-1.tgz --keys targets-key-2.tgz',
  ];
  static override args = { wave: Args.string({ description: 'wave name', required: true }) };
  static override flags = {
    factory: factoryFlag,
    keys: Flags.string({
      char: 'k',
      description: 'targets key archive (repeat to reach the threshold)',
      required: true,
      multiple: true,
    }),
    'expires-in-days': Flags.integer({
      description: 'validity of the production targets',
      default: 365,
    }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<WaveResult> {
    const { args, flags } = await this.parse(WavesComplete);
    try {
      const res = await wavesComplete({
        factory: flags.factory,
        wave: args.wave,
        keys: flags.keys,
        expiresInDays: flags['expires-in-days'],
      });
      this.print(wavesCompleteText(res));
      return res;
    } catch (err) {
      return this.fail(err);
    }
  }
}
