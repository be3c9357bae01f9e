import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { statusJson, type StatusJson } from '../cli/json.js';
import { statusText } from '../cli/text.js';
import { status } from '../lib/query.js';

export default class Status extends AkliteCommand<StatusJson> {
  static override summary =
    'Show the booted commit, the applied and pending Targets, failed Targets, probation and deferrals.';
  static override description =
    'Exit codes: 0, or 1 when the device or its state cannot be read. --json shape in README.md.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print the status as JSON' }),
  };

  async run(): Promise<StatusJson> {
    const { flags } = await this.parse(Status);
    let res;
    try {
      res = await status(this.device(flags, true));
    } catch (err) {
      return this.fail(err);
    }
    this.print(statusText(res));
    return statusJson(res);
  }
}
