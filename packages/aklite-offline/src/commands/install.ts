import { Flags } from '@oclif/core';
import { AkliteCommand, mediaFlags, mediaPath } from '../base.js';
import { type InstallJson } from '../cli/json.js';
import { outcomeText } from '../cli/text.js';
import { install } from '../lib/install.js';

export default class Install extends AkliteCommand<InstallJson> {
  static override summary = 'Install the newest (or a named) Target from an offline bundle.';
  static override description = `Verifies the bundle against the device's TUF root, pulls the OSTree commit (re-hashing every object) and the apps (checking every digest), deploys the commit and arms the bootloader. Exit codes: 0 already installed, 10 apps installed (run \`run\`), 100 reboot then \`run\`, 90 reboot first (boot firmware), 102 downgrade refused, 30 an installation is pending, 4/6/8/11/12/14/15 check-in failures, 20 Target not found, 50 reading the media failed, 60 no space, 70 content failed verification, 1 other errors (lock, config). See README.md.`;
  static override examples = [
    '<%= config.bin %> install --src-dir /mnt/usb/bundle',
    '<%= config.bin %> install --src-file /mnt/usb/bundle.zip',
    '<%= config.bin %> install --src-dir /mnt/usb/bundle --target raspberrypi4-64-lmp-42',
    '<%= config.bin %> install --src-dir /mnt/usb/bundle --target raspberrypi4-64-lmp-40 --force',
    '<%= config.bin %> install --src-dir ./bundle --device-root ./device --config ./device/etc/sota/conf.d',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...mediaFlags,
    json: Flags.boolean({ description: 'Print the outcome (or the error) as JSON' }),
    target: Flags.string({
      char: 't',
      description: 'Install this Target (by name) instead of the newest',
    }),
    force: Flags.boolean({
      char: 'f',
      description: 'Allow installing an older Target than the current one (downgrade)',
    }),
  };

  async run(): Promise<InstallJson> {
    const { flags } = await this.parse(Install);
    let res;
    try {
      res = await install({
        ...this.device(flags),
        srcDir: mediaPath(flags),
        ...(flags.target !== undefined ? { target: flags.target } : {}),
        force: flags.force,
      });
    } catch (err) {
      return this.fail(err);
    }
    this.print(outcomeText(res));
    this.exitWith(res.status);
    return res;
  }
}
