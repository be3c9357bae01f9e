import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { listJson, type ListJson } from '../cli/json.js';
import { listText } from '../cli/text.js';
import { list } from '../lib/query.js';

export default class List extends AkliteCommand<ListJson> {
  static override summary =
    "List the Targets in the device's trusted TUF metadata that fit this device.";
  static override description = `${exitCodesHelp([StatusCode.Ok, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the Targets as JSON' }),
  };

  async run(): Promise<ListJson> {
    const { flags } = await this.parse(List);
    let res;
    try {
      res = await list(this.device(flags, true));
    } catch (err) {
      return this.fail(err);
    }
    this.print(listText(res));
    return listJson(res);
  }
}
