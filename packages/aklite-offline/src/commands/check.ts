import { Flags } from '@oclif/core';
import { describe } from '@offline-ota/format';
import { AkliteCommand, mediaFlags, mediaPath } from '../base.js';
import { check } from '../lib/query.js';

export default class Check extends AkliteCommand {
  static override summary = 'Verify an offline bundle and list the Targets it offers this device.';
  static override description = `Runs the whole check-in (signatures, expiry, type, tag, hardware id, content) without changing the device. Exit codes: 0 up to date, 16 a Target would be installed, 4/6/8/11/12/14/15 check-in failures, 1 other errors. --json prints an array of {name, version, apps:[{name,uri,on}], current?, newer?, failed?, selected?, reason?} (README.md).`;
  static override examples = [
    '<%= config.bin %> check --src-dir /mnt/usb/bundle',
    '<%= config.bin %> check --src-dir /mnt/usb/bundle --json',
    '<%= config.bin %> check --src-file /mnt/usb/bundle.zip',
  ];
  static override flags = {
    ...mediaFlags,
    json: Flags.boolean({ description: 'Print the Targets as JSON' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    let res;
    try {
      res = await check({
        deviceRoot: flags['device-root'],
        configPaths: flags.config ?? [],
        srcDir: mediaPath(flags),
        ports: this.ports(flags.json),
      });
    } catch (err) {
      return this.fail(err);
    }
    if (flags.json) {
      this.log(JSON.stringify(res.targets, null, 2));
    } else {
      this.log(
        `Bundle: type ${res.bundle.type}, tag ${res.bundle.tag}, expires ${res.bundle.expires}`,
      );
      this.log('');
      this.log(res.targets.length > 0 ? 'Found Targets: ' : 'No Targets found');
      for (const t of res.targets) {
        const marks = [
          t.current ? 'current' : '',
          t.newer ? 'newer' : '',
          t.failed ? 'failed' : '',
          t.selected ? 'selected' : '',
        ]
          .filter((x) => x !== '')
          .join(', ');
        this.log(`${t.name}${marks ? ` (${marks})` : ''}`);
        this.log(`\tversion: ${t.version}`);
        this.log('\tapps:');
        for (const a of t.apps) this.log(`\t\t${a.on ? 'on' : 'off'} ${a.name} -> ${a.uri}`);
        if (t.reason) this.log(`\t${t.reason}`);
      }
      for (const u of res.unavailable)
        this.log(`${u.name}: not installable from this bundle: ${u.reason}`);
      this.log('');
      this.log(describe(res.status));
    }
    this.done(res.status);
  }
}
