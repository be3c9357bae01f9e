import { Args, Flags } from '@oclif/core';
import { AkliteCommand } from '../base.js';
import { usbJson, type UsbJson } from '../cli/json.js';
import { usbText } from '../cli/text.js';
import { usb } from '../lib/usb.js';

export default class Usb extends AkliteCommand<UsbJson> {
  static override summary =
    'The USB trigger: mount a stick read-only, check its bundle, install it if [usb] auto_install is on, unmount.';
  static override description = `Started by the udev rule and aklite-offline-usb@.service when removable media is inserted (docs/device-integration.md), or by hand. Holds the aklite lock from start to end. Mounts DEVICE with [usb] mount_command on [usb] mount_dir (default: mount -o ro,nodev,nosuid,noexec), finds the one bundle at the stick's top level (a directory holding tuf/, a .zip file, or tuf/, ostree_repo/, apps/ themselves), ignoring what desktop systems leave there (._* AppleDouble files, .Spotlight-V100, .Trashes, .fseventsd, System Volume Information and the like), runs check, then install when [usb] auto_install = true (default false: check only), and unmounts with [usb] unmount_command. It never reboots. Exit codes: those of check (0 up to date, 16 a Target would be installed) without an install, else those of install (0, 10, 100, 90, 30, 41, 42, 50, 60, 70, ...); 4/6/8/11/12/14/15 check-in failures; 14 no bundle on the stick; 1 more than one bundle (the message names them), another instance still running after [usb] lock_wait_seconds (60), or another error; 50 the stick could not be mounted or read. --json prints {status, device, bundle:{name,kind}, ignored, auto_install, check:{status,targets}, install, unmounted, message}.`;
  static override examples = [
    '<%= config.bin %> usb /dev/sda1',
    '<%= config.bin %> usb /dev/sda1 --json',
  ];
  static override args = {
    device: Args.string({
      required: true,
      description: "The stick's block device (e.g. /dev/sda1): {device} of [usb] mount_command",
    }),
  };
  static override enableJsonFlag = true;
  static override flags = {
    json: Flags.boolean({ description: 'Print what was found, checked and installed as JSON' }),
  };

  async run(): Promise<UsbJson> {
    const { args, flags } = await this.parse(Usb);
    let res;
    try {
      res = await usb({ ...this.device(flags), device: args.device });
    } catch (err) {
      return this.fail(err);
    }
    this.print(usbText(res));
    this.exitWith(res.status);
    return usbJson(res);
  }
}
