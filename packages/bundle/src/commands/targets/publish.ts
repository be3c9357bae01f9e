import { Flags } from '@oclif/core';
import { publishTarget } from '../../publish.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';

export default class TargetsPublish extends BundleCommand {
  static override aliases = ['factory:publish'];
  static override description =
    'Publish a Target: commit a rootfs directory to the factory OSTree repo, import compose apps, ' +
    'and add the Target to the CI targets of each tag (signed with the online CI targets key).';
  static override examples = [
    '<%= config.bin %> targets publish --factory ./factory --rootfs ./rootfs --hardware-id sim-x86 --version 2 --tag main --app ./apps/shellhttpd',
  ];
  static override flags = {
    factory: factoryFlag,
    rootfs: Flags.directory({
      description: 'root filesystem tree to commit',
      required: true,
      exists: true,
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

  async run(): Promise<void> {
    const { flags } = await this.parse(TargetsPublish);
    try {
      const res = await publishTarget({
        factory: flags.factory,
        rootfsDir: flags.rootfs,
        hardwareId: flags['hardware-id'],
        version: flags.version,
        tags: flags.tag,
        apps: flags.app ?? [],
        ...(flags.subject === undefined ? {} : { subject: flags.subject }),
      });
      if (flags.json) return this.printJson(res);
      this.log(`Published Target ${res.name}`);
      this.log(`\tOSTree commit:\t${res.commit}`);
      for (const [app, uri] of Object.entries(res.apps)) this.log(`\tApp ${app}:\t${uri}`);
      for (const [tag, v] of Object.entries(res.ciTargetsVersions))
        this.log(`\tCI targets of tag ${tag}: version ${v}`);
    } catch (err) {
      this.fail(err);
    }
  }
}
