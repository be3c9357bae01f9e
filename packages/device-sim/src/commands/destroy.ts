import { Args, Command } from '@oclif/core';
import { DeviceSimError, destroyDevice } from '../index.js';

export default class Destroy extends Command {
  static override description =
    'Remove a simulated device: every container and image of its engine store, then its whole tree';
  static override examples = ['<%= config.bin %> destroy ./dev1'];
  static override args = {
    dir: Args.string({ description: 'device root (a missing one is fine)', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Destroy);
    try {
      await destroyDevice(args.dir);
      this.log(`removed ${args.dir}`);
    } catch (err) {
      if (err instanceof DeviceSimError) this.error(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
