import { AkliteCommand } from '../base.js';
import { boot, type BootResult } from '../lib/boot.js';

export default class Boot extends AkliteCommand<BootResult> {
  static override summary =
    'The boot-time step (aklite-offline-boot.service): settle the probation, stop U-Boot counting a boot that came up, and finalize a pending installation when configured.';
  static override description = `Run once per boot, after local file systems are mounted (docs/device-integration.md). It completes an installation a power cut interrupted; counts the reboot of a system on probation (its period starts over), finishes U-Boot's fall back, or marks the system good when its period is over; sets U-Boot's bootcount back to 0 when the device booted the system U-Boot is trying, so only boots that never reach this service count toward bootlimit; and, with [pacman] finalize_at_boot = true, finalizes a pending installation as \`run\` does (otherwise the technician runs \`run\`). It prints what it did, one line each. Exit codes: 0 done (also when a client defers the finalization); 1 the device or its state cannot be read, or another error.`;
  static override examples = [
    '<%= config.bin %> boot',
    'AKLITE_DEVICE_ROOT=./device <%= config.bin %> boot',
  ];

  async run(): Promise<BootResult> {
    const { flags } = await this.parse(Boot);
    let res;
    try {
      res = await boot(this.device(flags));
    } catch (err) {
      return this.fail(err);
    }
    this.print(res.steps);
    return res;
  }
}
