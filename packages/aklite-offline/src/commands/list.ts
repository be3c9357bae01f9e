import { Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { list } from '../lib/query.js';

export default class List extends AkliteCommand {
  static override summary =
    "List the Targets in the device's trusted TUF metadata that fit this device.";
  static override description = 'Exit codes: 0, or 1 when the device or its state cannot be read.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];
  static override flags = {
    json: Flags.boolean({ description: 'Print the Targets as JSON' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    let res;
    try {
      res = await list({
        deviceRoot: flags['device-root'],
        configPaths: flags.config ?? [],
        ports: this.ports(true),
      });
    } catch (err) {
      return this.fail(err);
    }
    if (flags.json) {
      this.log(JSON.stringify(res, null, 2));
    } else if (res.length === 0) {
      this.log('No Targets known; install a bundle first');
    } else {
      for (const t of res) {
        const marks = [
          t.current ? 'current' : '',
          t.pending ? 'pending' : '',
          t.failed ? 'failed' : '',
        ]
          .filter((x) => x)
          .join(', ');
        this.log(`${t.name}\tversion ${t.version}\t${t.ostree_hash}${marks ? `\t(${marks})` : ''}`);
      }
    }
    this.done(0);
  }
}
