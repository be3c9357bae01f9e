import { Flags } from '@oclif/core';
import { AkliteCommand, mediaFlags, mediaPath } from '../base.js';
import { checkJson, type CheckJson } from '../cli/json.js';
import { checkText } from '../cli/text.js';
import { check } from '../lib/query.js';

export default class Check extends AkliteCommand<CheckJson> {
  static override summary = 'Verify an offline bundle and list the Targets it offers this device.';
  static override description = `Runs the whole check-in (signatures, expiry, type, tag, hardware id, content) without changing the device. Never selects a Target that failed on this device (it carries why as its reason; install --target NAME retries it). Exit codes: 0 up to date (or only failed Targets are newer), 16 a Target would be installed, 30/41/42 a Target is newer but install would refuse it with that code (an installation is pending, updates are deferred, the system is on probation; the Target's reason says which), 4/6/8/11/12/14/15 check-in failures, 70 a file of the bundle that fails verification (a corrupt tuf/ entry of a single-file bundle), 1 other errors. --json prints an array of {name, version, apps:[{name,uri,on}], current?, newer?, failed?, selected?, reason?} (README.md).`;
  static override examples = [
    '<%= config.bin %> check --src-dir /mnt/usb/bundle',
    '<%= config.bin %> check --src-dir /mnt/usb/bundle --json',
    '<%= config.bin %> check --src-file /mnt/usb/bundle.zip',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...mediaFlags,
    json: Flags.boolean({ description: 'Print the Targets as JSON' }),
  };

  async run(): Promise<CheckJson> {
    const { flags } = await this.parse(Check);
    let res;
    try {
      res = await check({ ...this.device(flags), srcDir: mediaPath(flags) });
    } catch (err) {
      return this.fail(err);
    }
    this.print(checkText(res));
    this.exitWith(res.status);
    return checkJson(res);
  }
}
