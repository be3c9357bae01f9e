import { Flags } from '@oclif/core';
import { rotateRoot, type RotateRootResult } from '../../rotate.js';
import { BundleCommand, factoryFlag } from '../../cli/base.js';
import { rotateRootText } from '../../cli/text.js';

export default class KeysRotateRoot extends BundleCommand<RotateRootResult> {
  static override description =
    'Rotate the root keys: write root version N+1 of both the ci and prod chains, signed by a threshold of the ' +
    'current root keys (from --keys) and of the new ones. The new root keys go to the archive named by --out. ' +
    'With --rotate-targets the production targets keys are replaced too, and every production targets file is re-signed.';
  static override examples = [
    '<%= config.bin %> keys rotate-root --factory ./factory --keys ./offline-keys/root-keys.tgz --out ./offline-keys/root-keys-v2.tgz',
    '<%= config.bin %> keys rotate-root --factory ./factory --keys root-keys.tgz --keep-root-keys --expires-in-days 730',
    '<%= config.bin %> keys rotate-root --factory ./factory --keys root-keys.tgz --out new-root.tgz --rotate-targets --targets-keys-out ./new-targets-keys',
  ];
  static override flags = {
    factory: factoryFlag,
    keys: Flags.string({
      char: 'k',
      description: 'archive(s) with the current root keys',
      required: true,
      multiple: true,
    }),
    out: Flags.string({ description: 'where to write the new root keys archive' }),
    'keep-root-keys': Flags.boolean({
      description: 'keep the current root keys (new version and expiry only)',
      exclusive: ['out'],
    }),
    'root-keys': Flags.integer({ description: 'number of new root keys (default: as now)' }),
    'root-threshold': Flags.integer({ description: 'new root threshold (default: as now)' }),
    'rotate-targets': Flags.boolean({ description: 'also replace the production targets keys' }),
    'targets-keys-out': Flags.string({
      description: 'directory for the new targets key archives',
      dependsOn: ['rotate-targets'],
    }),
    'targets-keys': Flags.integer({
      description: 'number of new production targets keys',
      dependsOn: ['rotate-targets'],
    }),
    'targets-threshold': Flags.integer({
      description: 'new production targets threshold',
      dependsOn: ['rotate-targets'],
    }),
    'expires-in-days': Flags.integer({ description: 'validity of the new root', default: 365 }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<RotateRootResult> {
    const { flags } = await this.parse(KeysRotateRoot);
    try {
      const res = await rotateRoot({
        factory: flags.factory,
        rootKeys: flags.keys,
        keepRootKeys: flags['keep-root-keys'],
        rotateTargets: flags['rotate-targets'],
        expiresInDays: flags['expires-in-days'],
        ...(flags.out === undefined ? {} : { newRootKeysOut: flags.out }),
        ...(flags['root-keys'] === undefined ? {} : { newRootKeysCount: flags['root-keys'] }),
        ...(flags['root-threshold'] === undefined
          ? {}
          : { newRootThreshold: flags['root-threshold'] }),
        ...(flags['targets-keys-out'] === undefined
          ? {}
          : { targetsKeysOutDir: flags['targets-keys-out'] }),
        ...(flags['targets-keys'] === undefined
          ? {}
          : { prodTargetsKeysCount: flags['targets-keys'] }),
        ...(flags['targets-threshold'] === undefined
          ? {}
          : { prodTargetsThreshold: flags['targets-threshold'] }),
      });
      this.print(rotateRootText(res));
      return res;
    } catch (err) {
      return this.fail(err);
    }
  }
}
