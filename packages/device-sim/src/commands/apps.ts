import { Args, Command, Flags } from '@oclif/core';
import { DeviceSimError, deviceContainers } from '../index.js';

export default class Apps extends Command {
  static override description =
    "Show the containers of a simulated device's engine (as the engine reports them) and the last lines each service logged";
  static override examples = [
    '<%= config.bin %> apps ./dev1',
    '<%= config.bin %> apps ./dev1 --json',
  ];
  static override args = {
    dir: Args.directory({ description: 'device root', required: true, exists: true }),
  };
  static override flags = {
    lines: Flags.integer({ description: 'log lines per container', default: 1, min: 0, max: 100 }),
    json: Flags.boolean({ description: 'print the containers as JSON' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Apps);
    try {
      const list = await deviceContainers(args.dir, flags.lines);
      if (flags.json) {
        this.log(JSON.stringify(list, null, 2));
        return;
      }
      if (list.length === 0) this.log('(no containers)');
      for (const c of list) {
        const state = c.state === 'exited' ? `exited (${c.exitCode})` : c.state;
        this.log(`${c.container}  ${state}  ${c.image}`);
        for (const line of c.log === '' ? [] : c.log.split('\n')) this.log(`  | ${line}`);
      }
    } catch (err) {
      if (err instanceof DeviceSimError) this.error(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
