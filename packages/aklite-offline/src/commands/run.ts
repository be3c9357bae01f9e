import { AkliteCommand } from '../base.js';
import { outcomeText } from '../cli/text.js';
import { run, type RunResult } from '../lib/run.js';

export default class Run extends AkliteCommand<RunResult> {
  static override summary =
    'Finalize the pending installation after the reboot: start the apps, or roll back.';
  static override description = `Exit codes: 0 update complete, 5 complete and new boot firmware asks for an optional reboot, 40 nothing pending, 99 the device did not boot the update and rolled back (no reboot needed), 100 reboot needed (not rebooted yet, or the apps failed and a rollback was deployed: reboot and run again), 120 undefined state (rollback impossible), 1 other errors. See README.md.`;
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run --config /etc/sota/conf.d',
    'AKLITE_DEVICE_ROOT=./device <%= config.bin %> run',
  ];

  async run(): Promise<RunResult> {
    const { flags } = await this.parse(Run);
    let res;
    try {
      res = await run(this.device(flags));
    } catch (err) {
      return this.fail(err);
    }
    this.print(outcomeText(res));
    this.exitWith(res.status);
    return res;
  }
}
