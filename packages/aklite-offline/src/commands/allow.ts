import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { deferralJson, type DeferralJson } from '../cli/json.js';
import { deferralText } from '../cli/text.js';
import { allow } from '../lib/control.js';

export default class Allow extends AkliteCommand<DeferralJson> {
  static override summary =
    'Withdraw one defer of this client; updates go ahead when no client defers.';
  static override description = `Exit codes: 0; 43 the client does not defer (allow without a matching defer is an error, not a no-op); 1 invalid client id, lock, state. See docs/update-control.md.`;
  static override examples = ['<%= config.bin %> allow --client emergency-call'];
  static override enableJsonFlag = true;
  static override flags = {
    client: Flags.string({
      required: true,
      description: 'The client that called defer',
    }),
    json: Flags.boolean({ description: 'Print {client, count, deferred_by, message} as JSON' }),
  };

  async run(): Promise<DeferralJson> {
    const { flags } = await this.parse(Allow);
    let res;
    try {
      res = await allow({ ...this.device(flags), client: flags.client });
    } catch (err) {
      return this.fail(err);
    }
    this.print(deferralText(res));
    return deferralJson(res);
  }
}
