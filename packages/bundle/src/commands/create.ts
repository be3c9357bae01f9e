import { Args, Flags } from '@oclif/core';
import { createBundle } from '../create.js';
import { showBundle } from '../inspect.js';
import { BundleCommand, factoryFlag } from '../cli/base.js';
import { createJson, type CreateJson } from '../cli/json.js';
import { createText } from '../cli/text.js';

export default class Create extends BundleCommand<CreateJson> {
  static override description =
    'Create an offline update bundle of a Target in <dst>: TUF metadata (tuf/), the OSTree commit (ostree_repo/) and ' +
    'its apps (apps/). CI bundles come signed; production and wave bundles must then be signed with `bundlectl sign` ' +
    'to the threshold. The bundle is checked as a device would before success is reported. With --archive zip, ' +
    '<dst> is written as one zip file instead of a directory (CI bundles; see also `bundlectl pack`). With --from, ' +
    'the bundle is a delta: it carries only what the base Targets lack, and a device installs it only onto a base it holds.';
  static override examples = [
    '<%= config.bin %> create sim-x86-lmp-2 /media/usb/bundle --tag main --factory ./factory',
    '<%= config.bin %> create sim-x86-lmp-2 ./bundle --tag main --prod --expires-in-days 60 --factory ./factory',
    '<%= config.bin %> create sim-x86-lmp-3 ./bundle --wave wave-1 --factory ./factory',
    '<%= config.bin %> create sim-x86-lmp-3 ./bundle --tag main --allow-multiple-targets --factory ./factory',
    '<%= config.bin %> create sim-x86-lmp-2 ./bundle --tag main --tuf-only --factory ./factory   # refresh expiry',
    '<%= config.bin %> create sim-x86-lmp-2 /media/usb/bundle.zip --tag main --archive zip --factory ./factory',
    '<%= config.bin %> create sim-x86-lmp-3 /media/usb/bundle --tag main --from sim-x86-lmp-2 --factory ./factory   # delta',
  ];
  static override args = {
    target: Args.string({ description: 'Target name, e.g. sim-x86-lmp-2', required: true }),
    dst: Args.string({
      description:
        'destination directory (empty, or an existing bundle); with --archive zip, the zip file',
      required: true,
    }),
  };
  static override flags = {
    factory: factoryFlag,
    tag: Flags.string({ description: 'the tag the devices follow', exclusive: ['wave'] }),
    prod: Flags.boolean({
      description: 'use production Targets and metadata',
      exclusive: ['wave'],
      dependsOn: ['tag'],
    }),
    wave: Flags.string({
      description: 'use the Target of an active wave (production metadata)',
      exclusive: ['tag', 'prod'],
    }),
    'expires-in-days': Flags.integer({
      char: 'e',
      description: 'validity of the bundle metadata',
      default: 30,
    }),
    'no-apps': Flags.boolean({ description: 'do not include apps' }),
    'tuf-only': Flags.boolean({
      char: 'm',
      description: 'only (re)write tuf/, e.g. to refresh the expiry',
    }),
    'allow-multiple-targets': Flags.boolean({
      description: 'add this Target to an existing bundle',
    }),
    from: Flags.string({
      description:
        'write a delta: only what this base Target (name or version) lacks; repeatable, the devices must run one of the bases',
      multiple: true,
    }),
    archive: Flags.string({
      description: 'write <dst> as one file of this format instead of a directory',
      options: ['zip'],
      exclusive: ['tuf-only', 'allow-multiple-targets', 'prod', 'wave'],
    }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<CreateJson> {
    const { args, flags } = await this.parse(Create);
    if (flags.tag === undefined && flags.wave === undefined) {
      this.error('Either `--tag` or `--wave` should be specified', { exit: 2 });
    }
    const printer = this.progress();
    try {
      const res = await createBundle({
        factory: flags.factory,
        target: args.target,
        dst: args.dst,
        ...(flags.tag === undefined ? {} : { tag: flags.tag }),
        ...(flags.wave === undefined ? {} : { wave: flags.wave }),
        prod: flags.prod,
        expiresInDays: flags['expires-in-days'],
        noApps: flags['no-apps'],
        tufOnly: flags['tuf-only'],
        allowMultipleTargets: flags['allow-multiple-targets'],
        ...(flags.from === undefined ? {} : { from: flags.from }),
        ...(flags.archive === 'zip' ? { archive: 'zip' as const } : {}),
        onProgress: printer,
      });
      printer.end();
      const shown = res.archive?.show ?? (await showBundle(args.dst));
      this.print(createText(res, shown));
      return createJson(res, shown);
    } catch (err) {
      printer.end();
      return this.fail(err);
    }
  }
}
