import { Args, Command, Flags } from '@oclif/core';
import { DeviceSimError, deviceStatus } from '../index.js';

export default class Status extends Command {
  static override description =
    'Show what a simulated device booted, its deployments, U-Boot variables and apps';
  static override examples = ['<%= config.bin %> status ./dev1 --json'];
  static override args = {
    dir: Args.directory({ description: 'device root', required: true, exists: true }),
  };
  static override flags = {
    json: Flags.boolean({ description: 'print the status as JSON (README.md §status)' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Status);
    try {
      const s = await deviceStatus(args.dir);
      if (flags.json) {
        this.log(JSON.stringify(s, null, 2));
        return;
      }
      this.log(`booted: ${s.booted.deployment}`);
      for (const d of s.deployments) {
        this.log(
          `${d.booted ? '*' : ' '} ${d.index} ${d.commit}.${d.serial}${d.index === 0 ? ' (default)' : ''}`,
        );
      }
      this.log(
        `env: ${Object.entries(s.env)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
      this.log(`apps running: ${s.apps.running.join(', ') || '(none)'}`);
      for (const c of s.containers)
        this.log(`  ${c.container}  ${c.state === 'exited' ? `exited (${c.exitCode})` : c.state}`);
      this.log(
        `current target: ${s.currentTarget ? (s.currentTarget.TARGET_NAME ?? JSON.stringify(s.currentTarget)) : '(none recorded)'}`,
      );
    } catch (err) {
      if (err instanceof DeviceSimError) this.error(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
