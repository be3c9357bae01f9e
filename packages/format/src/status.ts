/**
 * The exit-status contract of `aklite-offline` (and of `bundlectl verify`), from
 * aktualizr-lite's `StatusCode` and `aklite-offline`'s remapping. Field scripts loop on
 * these numbers: never renumber an entry.
 */
export const StatusCode = {
  Ok: 0,
  UnknownError: 1,
  /** Set by the CLI framework: an unknown flag, a missing required one, a bad value. */
  InvalidCommandLine: 2,
  CheckinOkCached: 3,
  CheckinFailure: 4,
  OkNeedsRebootForBootFw: 5,
  CheckinNoMatchingTargets: 6,
  CheckinNoTargetContent: 8,
  InstallAppsNeedFinalization: 10,
  CheckinSecurityError: 11,
  CheckinExpiredMetadata: 12,
  CheckinMetadataFetchFailure: 13,
  CheckinMetadataNotFound: 14,
  CheckinInvalidBundleMetadata: 15,
  CheckinUpdateNewVersion: 16,
  CheckinUpdateSyncApps: 17,
  CheckinUpdateRollback: 18,
  TufTargetNotFound: 20,
  RollbackTargetNotFound: 21,
  InstallationInProgress: 30,
  NoPendingInstallation: 40,
  DownloadFailure: 50,
  NoSpace: 60,
  VerificationFailed: 70,
  InstallAlreadyInstalled: 75,
  InstallTargetPullFailure: 80,
  InstallNeedsRebootForBootFw: 90,
  InstallOfflineRollbackOk: 99,
  InstallNeedsReboot: 100,
  InstallDowngradeAttempt: 102,
  InstallRollbackOk: 110,
  InstallRollbackNeedsReboot: 120,
  InstallRollbackFailed: 130,
  // Update control (aklite-offline only; free numbers, see docs/update-control.md).
  UpdatesDeferred: 41,
  InstallInProbation: 42,
  UpdateControlMismatch: 43,
  // The device's own files (aklite-offline only; a free number, issue 11 §4).
  DeviceFilesInvalid: 44,
} as const;

export type StatusName = keyof typeof StatusCode;
export type StatusValue = (typeof StatusCode)[StatusName];

interface StatusInfo {
  readonly name: StatusName;
  readonly success: boolean;
  readonly description: string;
  readonly next: string;
  /**
   * Set on a code of the reference's table that no path of this project produces (kept so
   * that a number never changes its meaning): why it is never produced.
   */
  readonly reserved?: string;
}

const INFO: Record<StatusValue, Omit<StatusInfo, 'name'>> = {
  0: { success: true, description: 'Success', next: 'Nothing to do.' },
  1: {
    success: false,
    description: 'Unknown error',
    next: 'Read the error message; fix the cause and run the command again.',
  },
  2: {
    success: false,
    description: 'Invalid command line (unknown or missing flag, bad value); nothing was done',
    next: 'Run the command with --help and correct the flags.',
  },
  3: {
    success: true,
    description:
      "The stick's metadata is older than the device's; the device kept its own and nothing was installed",
    next: "Bring a bundle created from the factory's current metadata (bundlectl create).",
  },
  4: {
    success: false,
    description: 'TUF metadata update failed',
    next: 'Recreate the bundle with bundlectl create.',
  },
  5: {
    success: true,
    description: 'Update complete; new boot firmware asks for an optional reboot',
    next: 'Reboot when convenient.',
  },
  6: {
    success: false,
    description: 'No Target in the bundle matches this device (hardware id, tag or format)',
    next: "Create a bundle for this device's hardware id and tag.",
  },
  8: {
    success: false,
    description:
      'The bundle lacks the content of its Targets (OSTree commit or apps), or it is a delta whose base this device does not hold',
    next: 'Recreate the bundle without --tuf-only / --no-apps, or copy it again; for a delta, use a full bundle (bundlectl create without --from).',
  },
  10: {
    success: true,
    description: 'Apps installed; they start with `aklite-offline run`',
    next: 'Run `aklite-offline run` (no reboot needed).',
  },
  11: {
    success: false,
    description: "Security error: the bundle's metadata is not trusted by this device",
    next: 'Do not use this media; create a new bundle from the factory.',
  },
  12: {
    success: false,
    description: "The bundle's metadata has expired",
    next: 'Refresh the bundle: bundlectl create --tuf-only, then sign again.',
  },
  13: {
    success: false,
    description: 'Metadata could not be fetched',
    next: 'Check the media and try again.',

    reserved:
      'reserved: a bundle is read from local media, never fetched; a failed read is 14 or 50',
  },
  14: {
    success: false,
    description: 'Metadata missing from the bundle',
    next: 'Copy the whole bundle to the media again.',
  },
  15: {
    success: false,
    description: 'Invalid bundle metadata: signatures, threshold, type or tag',
    next: "Sign the bundle to its threshold, or create one for this device's type and tag.",
  },
  16: {
    success: true,
    description: 'A newer Target is available',
    next: 'Run `aklite-offline install`.',
  },
  17: {
    success: true,
    description: 'An app of the current Target is missing from the container engine',
    next: 'Run `aklite-offline install` from a bundle that holds the current Target: it restores the app.',
  },
  18: {
    success: true,
    description: 'A rollback Target is selected',
    next: 'Run `aklite-offline install`.',

    reserved: 'reserved: rollbacks are `aklite-offline rollback`, not a Target a check-in selects',
  },
  20: {
    success: false,
    description: 'The named Target is not in the bundle',
    next: 'Run `aklite-offline check` to list the Targets.',
  },
  21: {
    success: false,
    description: 'No Target to roll back to',
    next: 'Install a known good Target from a bundle.',
  },
  30: {
    success: false,
    description: 'Another installation is in progress',
    next: 'Reboot and run `aklite-offline run` to finish it.',
  },
  40: {
    success: false,
    description: 'No pending installation to run',
    next: 'Run `aklite-offline install` first.',
  },
  50: {
    success: false,
    description: 'Reading update content from the media failed',
    next: 'Check the media and try again.',
  },
  60: {
    success: false,
    description: 'Not enough free space on the device',
    next: 'Free space on the device and try again.',
  },
  70: {
    success: false,
    description: 'Update content failed verification',
    next: 'Do not use this media; create a new bundle.',
  },
  75: {
    success: true,
    description: 'Target already installed',
    next: 'Nothing to do.',
    reserved:
      "reserved: aklite-offline reports an installed Target as 0, as the reference's offline client does",
  },
  80: {
    success: false,
    description: 'The installed Target could not be read back',
    next: 'Run the install again.',

    reserved: 'reserved: a commit that cannot be read back fails the install with 70 or 50',
  },
  90: {
    success: false,
    description: 'A boot firmware update awaits its confirming reboot',
    next: 'Reboot, then run the install again.',
  },
  99: {
    success: false,
    description: 'Installation failed and the device rolled back; no reboot needed',
    next: 'Investigate the failed Target before retrying.',
  },
  100: {
    success: true,
    description: 'Reboot needed',
    next: 'Reboot the device, then run `aklite-offline run`.',
  },
  102: {
    success: false,
    description: 'Refused to downgrade',
    next: 'Re-run with --force to install an older Target.',
  },
  110: {
    success: false,
    description: 'Installation failed; rolled back',
    next: 'Investigate the failed Target before retrying.',

    reserved: 'reserved: a failed install rolls back with 99 (no reboot) or 100 (reboot to finish)',
  },
  120: {
    success: false,
    description: 'Device is in an undefined state (rollback failed)',
    next: 'Service the device: reinstall a known good Target.',
  },
  130: {
    success: false,
    description: 'Rollback failed',
    next: 'Service the device: reinstall a known good Target.',

    reserved: 'reserved: a rollback that cannot complete is 120',
  },
  41: {
    success: false,
    description: 'Updates are deferred by a client; nothing was changed',
    next: 'Wait until every deferring client runs `aklite-offline allow --client <id>`, then run the command again.',
  },
  42: {
    success: false,
    description: 'The running system is still in its probation period; no new update is accepted',
    next: 'Wait for the probation to end, or end it with `aklite-offline probation mark-good` (or `probation fail`).',
  },
  44: {
    success: false,
    description:
      'A file of the device itself (its shipped or stored TUF root, its state, its configuration) is missing or invalid; the media was not judged',
    next: 'Service the device: restore the file the message names (reinstall the image, or repair the configuration); the media may be fine.',
  },
  43: {
    success: false,
    description: 'Unmatched update control call: allow without defer, or unlock without lock',
    next: 'Call `allow` only after `defer` by the same client, and `probation unlock` only after `probation lock`.',
  },
};

const BY_VALUE = new Map<number, StatusInfo>(
  (Object.entries(StatusCode) as [StatusName, StatusValue][]).map(([name, value]) => [
    value,
    { name, ...INFO[value] },
  ]),
);

/** Every status, ordered by value (for generated docs). */
export function allStatuses(): (StatusInfo & { value: StatusValue })[] {
  return [...BY_VALUE.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([value, info]) => ({ value: value as StatusValue, ...info }));
}

/** One line that names the status and what to do next. */
export function describe(code: number): string {
  const info = BY_VALUE.get(code);
  if (!info) return `Unknown status ${code}`;
  return `${info.description} (${code} ${info.name}). ${info.next}`;
}

/** The success set of aktualizr-lite's `IsSuccessCode`, plus 75 which aklite-offline maps to 0. */
export function isSuccess(code: number): boolean {
  return BY_VALUE.get(code)?.success ?? false;
}

/**
 * The exit codes of a command, for its `--help`, rendered from this table (never typed
 * by hand): `Exit codes:` and one line per code (`  16 A newer Target is available`).
 */
export function exitCodesHelp(codes: readonly StatusValue[]): string {
  const lines = codes.map((c) => {
    const info = BY_VALUE.get(c);
    if (info === undefined) throw new Error(`exitCodesHelp: ${c} is not a status`);
    if (info.reserved !== undefined) throw new Error(`exitCodesHelp: ${c} is reserved`);
    return `  ${c} ${info.description}`;
  });
  return ['Exit codes:', ...lines].join('\n');
}

/**
 * A failure as both CLIs print it under `--json` (one object on stdout): the exit status
 * with its name and next step, the message, and the project's error code and file when
 * the error has them. Each CLI writes this shape down as a schema (`cli/json.ts`).
 */
export interface ErrorReport {
  code: number;
  name: string;
  message: string;
  hint: string;
  error?: string;
  file?: string;
}

export function errorReport(
  status: number,
  message: string,
  err?: { code?: unknown; file?: unknown },
): ErrorReport {
  const info = BY_VALUE.get(status);
  const out: ErrorReport = {
    code: status,
    name: info?.name ?? 'UnknownError',
    message,
    hint: info?.next ?? '',
  };
  if (typeof err?.code === 'string') out.error = err.code;
  if (typeof err?.file === 'string') out.file = err.file;
  return out;
}
