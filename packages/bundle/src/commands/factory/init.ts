import { Args, Flags } from '@oclif/core';
import { initFactory } from '../../factory.js';
import { BundleCommand } from '../../cli/base.js';

export default class FactoryInit extends BundleCommand {
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

  async run(): Promise<void> {
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
      if (flags.json) return this.printJson(res);
      this.log(`Created factory ${res.config.name} in ${res.factoryDir}`);
      this.log(`\tRoot keys:\t\t${res.rootKeyIds.join(', ')}`);
      this.log(`\tCI targets key:\t\t${res.ciTargetsKeyId}`);
      this.log(`\tProduction targets keys:\t${res.prodTargetsKeyIds.join(', ')}`);
      this.log(`Offline keys (keep them off this machine):`);
      this.log(`\t${res.offlineKeys.root}`);
      for (const t of res.offlineKeys.targets) this.log(`\t${t}`);
    } catch (err) {
      this.fail(err);
    }
  }
}
