import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { type RollbackJson } from '../cli/json.js';
import { outcomeText } from '../cli/text.js';
import { rollback } from '../lib/control.js';

export default class Rollback extends AkliteCommand<RollbackJson> {
  static override summary =
    'Cancel the pending installation, or mark the current Target bad and return to the last good one.';
  static override description = `Never goes below the golden system ([pacman] golden_commit). Exit codes: 0 done (installation cancelled, or apps rolled back in place), 100 the good Target is deployed: reboot, then \`run\`, 21 no good Target to return to, 41 a client defers updates, 1 other errors. See docs/update-control.md.`;
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
