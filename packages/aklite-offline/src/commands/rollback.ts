import { describe } from '@offline-ota/format';
import { AkliteCommand } from '../base.js';
import { rollback } from '../lib/control.js';

export default class Rollback extends AkliteCommand {
  static override summary =
    'Cancel the pending installation, or mark the current Target bad and return to the last good one.';
  static override description = `Never goes below the golden system ([pacman] golden_commit). Exit codes: 0 done (installation cancelled, or apps rolled back in place), 100 the good Target is deployed: reboot, then \`run\`, 21 no good Target to return to, 41 a client defers updates, 1 other errors. See docs/update-control.md.`;
  static override examples = ['<%= config.bin %> rollback'];

  async run(): Promise<void> {
    const { flags } = await this.parse(Rollback);
    let res;
    try {
      res = await rollback({
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
