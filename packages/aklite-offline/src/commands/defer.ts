import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { deferralJson, type DeferralJson } from '../cli/json.js';
import { deferralText } from '../cli/text.js';
import { defer } from '../lib/control.js';

export default class Defer extends AkliteCommand<DeferralJson> {
  static override summary = 'Hold updates off while this client does something critical.';
  static override description = `Counted per client and kept across reboots (var/sota/state.json): while any client defers, install, run and rollback exit 41 naming the deferring clients. Each defer must be matched by an allow from the same client. Exit codes: 0, 1 (invalid client id, lock, state). See docs/update-control.md.`;
  static override examples = [
    '<%= config.bin %> defer --client emergency-call',
    '<%= config.bin %> allow --client emergency-call',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    client: Flags.string({
      required: true,
      description: 'Who defers (1–64 letters, digits, . _ @ : -)',
    }),
    json: Flags.boolean({ description: 'Print {client, count, deferred_by, message} as JSON' }),
  };

  async run(): Promise<DeferralJson> {
    const { flags } = await this.parse(Defer);
    let res;
    try {
      res = await defer({ ...this.device(flags), client: flags.client });
    } catch (err) {
      return this.fail(err);
    }
    this.print(deferralText(res));
    return deferralJson(res);
  }
}
