import { Args, Flags } from '@oclif/core';
import { describe, parseTufTime } from '@offline-ota/format';
import { verifyBundle } from '../inspect.js';
import { verifyJson, type VerifyJson } from '../cli/json.js';
import { BundleCommand } from '../cli/base.js';

export default class Verify extends BundleCommand<VerifyJson> {
  static override description =
    'Check a bundle exactly as a device would (root chain, bundle signatures, TUF, Target filter, content). ' +
    "The exit status is the device's check-in status code, so a factory can test a stick before shipping it.";
  static override examples = [
    '<%= config.bin %> verify /media/usb/bundle --root ./factory/tuf/prod/1.root.json',
    '<%= config.bin %> verify ./bundle --root 1.root.json --hardware-id sim-x86 --tag main --type ci --at 2026-03-01T00:00:00Z',
    '<%= config.bin %> verify /media/usb/bundle.zip --root ./factory/tuf/ci/1.root.json',
  ];
  static override args = {
    bundle: Args.string({
      description: 'bundle directory, or single-file bundle (.zip) read in place',
      required: true,
    }),
  };
  static override flags = {
    root: Flags.file({
      description: 'trusted root metadata the device ships (N.root.json)',
      required: true,
      exists: true,
    }),
    'hardware-id': Flags.string({
      description: "device hardware id (default: the bundle Targets' own)",
    }),
    tag: Flags.string({ description: 'device tag (default: accept any tag)' }),
    type: Flags.string({
      description: 'device type (default: the bundle type)',
      options: ['ci', 'prod'],
    }),
    at: Flags.string({ description: 'device time, YYYY-MM-DDTHH:MM:SSZ (default: now)' }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<VerifyJson> {
    const { args, flags } = await this.parse(Verify);
    let at: Date | undefined;
    if (flags.at !== undefined) {
      try {
        at = parseTufTime(flags.at, '--at');
      } catch (err) {
        this.fail(err);
      }
    }
    let res;
    try {
      res = await verifyBundle({
        bundle: args.bundle,
        rootFile: flags.root,
        ...(flags['hardware-id'] === undefined ? {} : { hardwareId: flags['hardware-id'] }),
        ...(flags.tag === undefined ? {} : { tag: flags.tag }),
        ...(flags.type === undefined ? {} : { type: flags.type as 'ci' | 'prod' }),
        ...(at === undefined ? {} : { at }),
      });
    } catch (err) {
      return this.fail(err);
    }
    if (res.ok) {
      this.log(res.message);
    } else {
      this.logToStderr(`Error: ${res.message}`);
      this.logToStderr(describe(res.status));
    }
    this.exitWith(res.status);
    return verifyJson(res);
  }
}
