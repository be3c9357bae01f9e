import { Flags } from '@oclif/core';
import { publishTarget, type PublishTargetResult } from '../../publish.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { publishText } from '../../cli/text.js';

export default class TargetsPublish extends BundleCommand<PublishTargetResult> {
  static override aliases = ['factory:publish'];
  static override description =
    'Publish a Target: commit a rootfs directory to the factory OSTree repo, import compose apps, ' +
    'and add the Target to the CI targets of each tag (signed with the online CI targets key).';
  static override examples = [
    '<%= config.bin %> targets publish --factory ./factory --rootfs ./rootfs --hardware-id sim-x86 --version 2 --tag main --app ./apps/shellhttpd',
    '<%= config.bin %> targets publish --factory ./factory --reuse-commit sim-x86-lmp-2 --hardware-id sim-x86 --version 3 --tag main --app ./apps/shellhttpd',
  ];
  static override flags = {
    factory: factoryFlag,
    rootfs: Flags.directory({
      description: 'root filesystem tree to commit',
      exists: true,
      exactlyOne: ['rootfs', 'reuse-commit'],
    }),
    'reuse-commit': Flags.string({
      description:
        'publish an apps-only Target: reuse the OSTree commit of this published Target (devices running it update without a reboot)',
      exactlyOne: ['rootfs', 'reuse-commit'],
    }),
    'hardware-id': Flags.string({ description: 'hardware id of the devices', required: true }),
    version: Flags.integer({
      description: 'Target version (a positive whole number)',
      required: true,
      min: 1,
    }),
    tag: Flags.string({
      description: 'tag the Target is published for (repeatable)',
      required: true,
      multiple: true,
    }),
    app: Flags.directory({
      description: 'compose project directory (repeatable)',
      multiple: true,
      exists: true,
    }),
    subject: Flags.string({ description: 'OSTree commit subject' }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<PublishTargetResult> {
    const { flags } = await this.parse(TargetsPublish);
    try {
      const res = await publishTarget({
        factory: flags.factory,
        ...(flags.rootfs === undefined ? {} : { rootfsDir: flags.rootfs }),
        ...(flags['reuse-commit'] === undefined ? {} : { reuseCommitOf: flags['reuse-commit'] }),
        hardwareId: flags['hardware-id'],
        version: flags.version,
        tags: flags.tag,
        apps: flags.app ?? [],
        ...(flags.subject === undefined ? {} : { subject: flags.subject }),
      });
      this.print(publishText(res));
      return res;
    } catch (err) {
      return this.fail(err);
    }
  }
}
