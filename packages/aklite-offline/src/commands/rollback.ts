import { AkliteCommand } from '../base.js';
import { outcomeText } from '../cli/text.js';
import { rollback, type RollbackResult } from '../lib/control.js';

export default class Rollback extends AkliteCommand<RollbackResult> {
  static override summary =
    'Cancel the pending installation, or mark the current Target bad and return to the last good one.';
  static override description = `Never goes below the golden system ([pacman] golden_commit). Exit codes: 0 done (installation cancelled, or apps rolled back in place), 100 the good Target is deployed: reboot, then \`run\`, 21 no good Target to return to, 41 a client defers updates, 1 other errors. See docs/update-control.md.`;
  static override examples = ['<%= config.bin %> rollback'];

  async run(): Promise<RollbackResult> {
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
