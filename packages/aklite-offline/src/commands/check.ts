import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand, mediaFlags, mediaPath } from '../base.js';
import { checkJson, type CheckJson } from '../cli/json.js';
import { checkText } from '../cli/text.js';
import { check } from '../lib/query.js';

export default class Check extends AkliteCommand<CheckJson> {
  static override summary = 'Verify an offline bundle and list the Targets it offers this device.';
  static override description = `Runs the whole check-in (signatures, expiry, type, tag, hardware id, content) without changing the device. Never selects a Target that failed on this device (it carries why as its reason; install --target NAME retries it). When a Target is newer but install would refuse it, exits with install's code (30 an installation is pending, 41 updates are deferred, 42 the system is on probation; the Target's reason says which). --json prints an array of {name, version, apps:[{name,uri,on}], current?, newer?, failed?, selected?, reason?} (README.md); an error, under --json, is one {code, name, message, hint} object.

${exitCodesHelp([StatusCode.Ok, StatusCode.CheckinUpdateNewVersion, StatusCode.InstallationInProgress, StatusCode.UpdatesDeferred, StatusCode.InstallInProbation, StatusCode.CheckinOkCached, StatusCode.CheckinUpdateSyncApps, StatusCode.CheckinFailure, StatusCode.CheckinNoMatchingTargets, StatusCode.CheckinNoTargetContent, StatusCode.CheckinSecurityError, StatusCode.CheckinExpiredMetadata, StatusCode.CheckinMetadataNotFound, StatusCode.CheckinInvalidBundleMetadata, StatusCode.VerificationFailed, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
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
