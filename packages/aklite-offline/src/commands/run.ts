import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { runJson, type RunJson } from '../cli/json.js';
import { outcomeText } from '../cli/text.js';
import { run } from '../lib/run.js';

export default class Run extends AkliteCommand<RunJson> {
  static override summary =
    'Finalize the pending installation after the reboot: start the apps, or roll back.';
  static override description = `Finalizes the pending installation after the reboot. See README.md.

${exitCodesHelp([StatusCode.Ok, StatusCode.OkNeedsRebootForBootFw, StatusCode.NoPendingInstallation, StatusCode.UpdatesDeferred, StatusCode.InstallOfflineRollbackOk, StatusCode.InstallNeedsReboot, StatusCode.InstallRollbackNeedsReboot, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run --config /etc/sota/conf.d',
    'AKLITE_DEVICE_ROOT=./device <%= config.bin %> run',
    '<%= config.bin %> run --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the outcome (or the error) as JSON' }),
  };

  async run(): Promise<RunJson> {
    const { flags } = await this.parse(Run);
    let res;
    try {
      res = await run(this.device(flags));
    } catch (err) {
      return this.fail(err);
    }
    this.print(outcomeText(res));
    this.exitWith(res.status);
    return runJson(res);
  }
}
