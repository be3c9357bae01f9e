import { exitCodesHelp, StatusCode } from '@offline-ota/format';
import { Flags } from '@oclif/core';
import { AkliteCommand, mediaPath } from '../base.js';
import { listJson, type ListJson } from '../cli/json.js';
import { listText } from '../cli/text.js';
import { list, listStick } from '../lib/query.js';

export default class List extends AkliteCommand<ListJson> {
  static override summary =
    "List the Targets of a stick, or of the device's trusted TUF metadata, that fit this device.";
  static override description = `With --src-dir or --src-file: the whole check-in against the stick, as check does (nothing is written), and its Targets. Without: the Targets of the metadata the device stored at its last install (a pure read; 0 unless the device's files are broken). --json prints an array of {name, version, apps:[{name,uri,on}], current?, newer?, failed?, selected?, reason?, pending?} (check's Target shape); an error, under --json, is one {code, name, message, hint} object.

${exitCodesHelp([StatusCode.Ok, StatusCode.CheckinOkCached, StatusCode.CheckinFailure, StatusCode.CheckinNoMatchingTargets, StatusCode.CheckinNoTargetContent, StatusCode.CheckinSecurityError, StatusCode.CheckinExpiredMetadata, StatusCode.CheckinMetadataNotFound, StatusCode.CheckinInvalidBundleMetadata, StatusCode.CheckinUpdateNewVersion, StatusCode.CheckinUpdateSyncApps, StatusCode.VerificationFailed, StatusCode.DeviceFilesInvalid, StatusCode.UnknownError, StatusCode.InvalidCommandLine])}`;
  static override examples = [
    '<%= config.bin %> list',
    '<%= config.bin %> list --json',
    '<%= config.bin %> list --src-dir /mnt/usb/bundle --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    'src-dir': Flags.string({
      char: 's',
      description: "A bundle directory on the media: list its Targets (default: the device's)",
      exclusive: ['src-file'],
    }),
    'src-file': Flags.string({
      description: 'A single-file bundle (.zip) on the media: list its Targets',
      exclusive: ['src-dir'],
    }),
    json: Flags.boolean({ description: 'Print the Targets as JSON' }),
  };

  async run(): Promise<ListJson> {
    const { flags } = await this.parse(List);
    const stick = flags['src-dir'] !== undefined || flags['src-file'] !== undefined;
    let res;
    try {
      res = stick
        ? await listStick({ ...this.device(flags), srcDir: mediaPath(flags) })
        : await list(this.device(flags, true));
    } catch (err) {
      return this.fail(err);
    }
    this.print(listText(res));
    if ('status' in res) this.exitWith(res.status);
    return listJson(res);
  }
}
