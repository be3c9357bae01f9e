import { Args, Command, Flags } from '@oclif/core';
import { DeviceSimError, rebootDevice } from '../index.js';

export default class Reboot extends Command {
  static override description =
    'Reboot a simulated device: U-Boot counts boots while an upgrade is pending and falls back past bootlimit';
  static override examples = [
    '<%= config.bin %> reboot ./dev1',
    '<%= config.bin %> reboot ./dev1 --fail-boot',
  ];
  static override args = {
    dir: Args.directory({ description: 'device root', required: true, exists: true }),
  };
  static override flags = {
    'fail-boot': Flags.boolean({ description: "the default deployment's kernel does not come up" }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Reboot);
    try {
      const result = await rebootDevice(args.dir, { failBoot: flags['fail-boot'] });
      if (flags.json) {
        this.log(JSON.stringify(result, null, 2));
        return;
      }
      for (const a of result.attempts.filter((x) => x.outcome === 'failed')) {
        this.log(`boot attempt ${a.bootcount}: ${a.deployment} did not come up`);
      }
      this.log(
        `booted ${result.booted.deployment} (index ${result.booted.index}${result.rolledBack ? ', altbootcmd rollback' : ''})` +
          ` bootcount=${result.env.bootcount} rollback=${result.env.rollback}`,
      );
    } catch (err) {
      if (err instanceof DeviceSimError) this.error(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
