import { Flags } from '@oclif/core';
import { listTargets } from '../../listing.js';
import { targetsListJson, type TargetsListJson } from '../../cli/json.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { targetsListText } from '../../cli/text.js';

export default class TargetsList extends BundleCommand<TargetsListJson> {
  static override description =
    "List the factory's published Targets: version, hardware id, tags, OSTree commit, apps, and the tags whose CI and production targets carry each.";
  static override examples = [
    '<%= config.bin %> targets list --factory ./factory',
    '<%= config.bin %> targets list --factory ./factory --tag main --json',
  ];
  static override flags = {
    factory: factoryFlag,
    tag: Flags.string({ description: 'only the Targets published for this tag' }),
    json: Flags.boolean({ description: 'print the Targets as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<TargetsListJson> {
    const { flags } = await this.parse(TargetsList);
    try {
      const res = await listTargets({
        factory: flags.factory,
        ...(flags.tag === undefined ? {} : { tag: flags.tag }),
      });
      this.print(targetsListText(res));
      return targetsListJson(res);
    } catch (err) {
      return this.fail(err);
    }
  }
}
