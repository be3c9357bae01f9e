import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { allow } from '../lib/control.js';

export default class Allow extends AkliteCommand {
  static override summary =
    'Withdraw one defer of this client; updates go ahead when no client defers.';
  static override description = `Exit codes: 0; 43 the client does not defer (allow without a matching defer is an error, not a no-op); 1 invalid client id, lock, state. See docs/update-control.md.`;
  static override examples = ['<%= config.bin %> allow --client emergency-call'];
  static override flags = {
    client: Flags.string({
      required: true,
      description: 'The client that called defer',
    }),
    json: Flags.boolean({ description: 'Print {client, count, deferredBy, message} as JSON' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Allow);
    let res;
    try {
      res = await allow({
        deviceRoot: flags['device-root'],
        configPaths: flags.config ?? [],
        client: flags.client,
        ports: this.ports(flags.json),
      });
    } catch (err) {
      return this.fail(err);
    }
    this.log(flags.json ? JSON.stringify(res, null, 2) : res.message);
    this.done(0);
  }
}
