import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { currentJson, type CurrentJson } from '../cli/json.js';
import { currentText } from '../cli/text.js';
import { current } from '../lib/query.js';

export default class Current extends AkliteCommand<CurrentJson> {
  static override summary = 'Show the Target the device runs: name, version, OSTree hash, apps.';
  static override description = `A pure read of the device's stored current Target and its booted commit (no lock, nothing written). A device with no install record runs "Initial Target" (version -1). --json prints {name, version, ostree_hash, apps:[{name,uri,on}], booted_ostree_hash}; an error, under --json, is one {code, name, message, hint} object.

${exitCodesHelp([StatusCode.Ok, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
  static override examples = ['<%= config.bin %> current', '<%= config.bin %> current --json'];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the current Target as JSON' }),
  };

  async run(): Promise<CurrentJson> {
    const { flags } = await this.parse(Current);
    let res;
    try {
      res = await current(this.device(flags, true));
    } catch (err) {
      return this.fail(err);
    }
    this.print(currentText(res));
    return currentJson(res);
  }
}
