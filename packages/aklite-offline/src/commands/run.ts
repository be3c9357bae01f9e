import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { AkliteCommand } from '../base.js';
import { outcomeText } from '../cli/text.js';
import { run, type RunResult } from '../lib/run.js';

export default class Run extends AkliteCommand<RunResult> {
  static override summary =
    'Finalize the pending installation after the reboot: start the apps, or roll back.';
  static override description = `Finalizes the pending installation after the reboot. See README.md.

${exitCodesHelp([StatusCode.Ok, StatusCode.OkNeedsRebootForBootFw, StatusCode.NoPendingInstallation, StatusCode.UpdatesDeferred, StatusCode.InstallOfflineRollbackOk, StatusCode.InstallNeedsReboot, StatusCode.InstallRollbackNeedsReboot, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
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
