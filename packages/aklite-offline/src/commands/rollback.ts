import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { type RollbackJson } from '../cli/json.js';
import { outcomeText } from '../cli/text.js';
import { rollback } from '../lib/control.js';

export default class Rollback extends AkliteCommand<RollbackJson> {
  static override summary =
    'Cancel the pending installation, or mark the current Target bad and return to the last good one.';
  static override description = `Never goes below the golden system ([pacman] golden_commit). See docs/update-control.md.

${exitCodesHelp([StatusCode.Ok, StatusCode.InstallNeedsReboot, StatusCode.RollbackTargetNotFound, StatusCode.UpdatesDeferred, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
  static override examples = ['<%= config.bin %> rollback', '<%= config.bin %> rollback --json'];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the outcome (or the error) as JSON' }),
  };

  async run(): Promise<RollbackJson> {
    const { flags } = await this.parse(Rollback);
    let res;
    try {
      res = await rollback(this.device(flags));
    } catch (err) {
      return this.fail(err);
    }
    this.print(outcomeText(res));
    this.exitWith(res.status);
    return res;
  }
}
