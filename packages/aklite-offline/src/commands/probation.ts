import { Args, Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { probationJson, type ProbationJson } from '../cli/json.js';
import { probationText } from '../cli/text.js';
import { probation } from '../lib/control.js';
import type { ProbationAction } from '../lib/probation.js';

const ACTIONS = ['status', 'settle', 'lock', 'unlock', 'mark-good', 'fail'] as const;

export default class Probation extends AkliteCommand<ProbationJson> {
  static override summary = 'Show or control the probation period of a new system.';
  static override description = `status: show it as stored (changes nothing). settle: evaluate it now, as every update command does first: count a reboot (the period starts over), finish U-Boot's fall back, or mark the system good when its period is over (a boot service calls this after each boot). lock/unlock: a counted hold (each lock needs its unlock) that keeps the probation from ending by time. mark-good: end it now, the system is good. fail: mark the system bad and roll back to the last good Target. Once the system is good, lock/unlock/mark-good/fail are ignored (exit 0 with a note). Exit codes: 0; 100 (fail) the good Target is deployed: reboot, then \`run\`; 21 (fail) no good Target to return to; 41 (fail) a client defers updates; 43 unlock without lock; 1 other errors. See docs/update-control.md.`;
  static override examples = [
    '<%= config.bin %> probation status --json',
    '<%= config.bin %> probation settle',
    '<%= config.bin %> probation lock',
    '<%= config.bin %> probation unlock',
    '<%= config.bin %> probation mark-good',
    '<%= config.bin %> probation fail',
  ];
  static override args = {
    action: Args.string({ options: [...ACTIONS], default: 'status', description: 'What to do' }),
  };
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print {status, ignored, probation, message} as JSON' }),
  };

  async run(): Promise<ProbationJson> {
    const { args, flags } = await this.parse(Probation);
    let res;
    try {
      res = await probation({ ...this.device(flags), action: args.action as ProbationAction });
    } catch (err) {
      return this.fail(err);
    }
    this.print(probationText(res));
    this.exitWith(res.status);
    return probationJson(res);
  }
}
