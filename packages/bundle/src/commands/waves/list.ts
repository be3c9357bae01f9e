import { listFactoryWaves } from '../../listing.js';
import { wavesListJson, type WavesListJson } from '../../cli/json.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { Flags } from '@oclif/core';
import { wavesListText } from '../../cli/text.js';

export default class WavesList extends BundleCommand<WavesListJson> {
  static override description =
    "List the factory's production waves: Target, tag, state (active or complete), when created and completed, targets version.";
  static override examples = [
    '<%= config.bin %> waves list --factory ./factory',
    '<%= config.bin %> waves list --factory ./factory --json',
  ];
  static override flags = {
    factory: factoryFlag,
    json: Flags.boolean({ description: 'print the waves as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<WavesListJson> {
    const { flags } = await this.parse(WavesList);
    try {
      const res = await listFactoryWaves({ factory: flags.factory });
      this.print(wavesListText(res));
      return wavesListJson(res);
    } catch (err) {
      return this.fail(err);
    }
  }
}
