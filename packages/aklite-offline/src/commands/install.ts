import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand, mediaFlags, mediaPath } from '../base.js';
import { type InstallJson } from '../cli/json.js';
import { outcomeText } from '../cli/text.js';
import { install } from '../lib/install.js';

export default class Install extends AkliteCommand<InstallJson> {
  static override summary = 'Install the newest (or a named) Target from an offline bundle.';
  static override description = `Verifies the bundle against the device's TUF root, pulls the OSTree commit (re-hashing every object) and the apps (checking every digest), deploys the commit and arms the bootloader. See README.md.

${exitCodesHelp([StatusCode.Ok, StatusCode.InstallAppsNeedFinalization, StatusCode.InstallNeedsReboot, StatusCode.InstallNeedsRebootForBootFw, StatusCode.InstallDowngradeAttempt, StatusCode.InstallationInProgress, StatusCode.UpdatesDeferred, StatusCode.InstallInProbation, StatusCode.CheckinOkCached, StatusCode.CheckinFailure, StatusCode.CheckinNoMatchingTargets, StatusCode.CheckinNoTargetContent, StatusCode.CheckinSecurityError, StatusCode.CheckinExpiredMetadata, StatusCode.CheckinMetadataNotFound, StatusCode.CheckinInvalidBundleMetadata, StatusCode.TufTargetNotFound, StatusCode.DownloadFailure, StatusCode.NoSpace, StatusCode.VerificationFailed, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
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
