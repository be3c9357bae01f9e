import { describe } from '@offline-ota/format';
import { AkliteCommand } from '../base.js';
import { run } from '../lib/run.js';

export default class Run extends AkliteCommand {
  static override summary =
    'Finalize the pending installation after the reboot: start the apps, or roll back.';
  static override description = `Exit codes: 0 update complete, 5 complete and new boot firmware asks for an optional reboot, 40 nothing pending, 99 the device did not boot the update and rolled back (no reboot needed), 100 reboot needed (not rebooted yet, or the apps failed and a rollback was deployed: reboot and run again), 120 undefined state (rollback impossible), 1 other errors. See README.md.`;
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run --config /etc/sota/conf.d',
    'AKLITE_DEVICE_ROOT=./device <%= config.bin %> run',
  ];

  async run(): Promise<void> {
    const { flags } = await this.parse(Run);
    let res;
    try {
      res = await run({
        deviceRoot: flags['device-root'],
        configPaths: flags.config ?? [],
        ports: this.ports(),
      });
    } catch (err) {
      return this.fail(err);
    }
    this.log(res.message);
    this.log(describe(res.status));
    this.done(res.status);
  }
}
