import { Args, Flags } from '@oclif/core';
import { initFactory, type InitFactoryResult } from '../../factory.js';
import { BundleCommand } from '../../cli/base.js';
import { factoryInitText } from '../../cli/text.js';

export default class FactoryInit extends BundleCommand<InitFactoryResult> {
  static override description =
    'Create a factory: online keys, root metadata v1 of the ci and prod chains, an OSTree repo and an app store. ' +
    'Offline keys (root, production targets) are written as key archives to --offline-keys, never into the factory.';
  static override examples = [
    '<%= config.bin %> factory init ./factory --name acme --offline-keys ./offline-keys',
    '<%= config.bin %> factory init ./factory --name acme --offline-keys /media/keys --targets-keys 3 --targets-threshold 2',
  ];
  static override args = {
    dir: Args.string({ description: 'factory directory to create (new or empty)', required: true }),
  };
  static override flags = {
    name: Flags.string({ description: 'factory name (used in app URIs)', required: true }),
    'offline-keys': Flags.string({
      description: 'directory for the offline key archives',
      required: true,
    }),
    'registry-host': Flags.string({
      description: 'registry host used in app URIs',
      default: 'registry.local',
    }),
    'os-name': Flags.string({ description: 'OSTree OS name of the devices', default: 'lmp' }),
    'root-keys': Flags.integer({ description: 'number of root keys', default: 1 }),
    'root-threshold': Flags.integer({ description: 'root signature threshold', default: 1 }),
    'targets-keys': Flags.integer({ description: 'number of production targets keys', default: 3 }),
    'targets-threshold': Flags.integer({
      description: 'production targets signature threshold',
      default: 2,
    }),
    'root-expires-in-days': Flags.integer({
      description: 'validity of root metadata',
      default: 365,
    }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<InitFactoryResult> {
    const { args, flags } = await this.parse(FactoryInit);
    try {
      const res = await initFactory({
        dir: args.dir,
        name: flags.name,
        offlineKeysDir: flags['offline-keys'],
        registryHost: flags['registry-host'],
        osName: flags['os-name'],
        rootKeys: flags['root-keys'],
        rootThreshold: flags['root-threshold'],
        prodTargetsKeys: flags['targets-keys'],
        prodTargetsThreshold: flags['targets-threshold'],
        rootExpiresInDays: flags['root-expires-in-days'],
      });
      this.print(factoryInitText(res));
      return res;
    } catch (err) {
      return this.fail(err);
    }
  }
}
