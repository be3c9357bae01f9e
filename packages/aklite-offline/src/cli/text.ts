/**
 * The text output of aklite-offline's commands (what they print without `--json`), one
 * function per result. Commands print these lines; they format nothing themselves.
 */
import { describe, type StatusValue } from '@offline-ota/format';
import type {
  CheckResult,
  CurrentTarget,
  DeviceStatus,
  ListEntry,
  ListStickResult,
} from '../lib/query.js';
import type { DeferralResult, ProbationResult } from '../lib/control.js';
import type { UsbResult } from '../lib/usb.js';

/** `check` (reference §3.9: `Found Targets: `, one block per Target). */
export function checkText(res: CheckResult): string[] {
  const lines = [
    `Bundle: type ${res.bundle.type}, tag ${res.bundle.tag}, expires ${res.bundle.expires}`,
    '',
    res.targets.length > 0 ? 'Found Targets: ' : 'No Targets found',
  ];
  for (const t of res.targets) {
    const marks = [
      t.current ? 'current' : '',
      t.newer ? 'newer' : '',
      t.failed ? 'failed' : '',
      t.selected ? 'selected' : '',
    ]
      .filter((x) => x !== '')
      .join(', ');
    lines.push(`${t.name}${marks ? ` (${marks})` : ''}`, `\tversion: ${t.version}`, '\tapps:');
    for (const a of t.apps) lines.push(`\t\t${a.on ? 'on' : 'off'} ${a.name} -> ${a.uri}`);
    if (t.reason) lines.push(`\t${t.reason}`);
  }
  for (const u of res.unavailable)
    lines.push(`${u.name}: not installable from this bundle: ${u.reason}`);
  lines.push('', describe(res.status));
  return lines;
}

/** `list`: one line per Target, its marks and reason; with a stick, what its status means. */
export function listText(res: readonly ListEntry[] | ListStickResult): string[] {
  const targets: readonly ListEntry[] = 'targets' in res ? res.targets : res;
  const lines =
    targets.length === 0
      ? ['targets' in res ? 'No Targets found' : 'No Targets known; install a bundle first']
      : targets.flatMap((t) => {
          const marks = [
            t.current ? 'current' : '',
            t.newer ? 'newer' : '',
            t.pending ? 'pending' : '',
            t.failed ? 'failed' : '',
            t.selected ? 'selected' : '',
          ]
            .filter((x) => x)
            .join(', ');
          return [
            `${t.name}\tversion ${t.version}${marks ? `\t(${marks})` : ''}`,
            ...(t.reason === undefined ? [] : [`\t${t.reason}`]),
          ];
        });
  if ('status' in res) lines.push('', describe(res.status));
  return lines;
}

/** `current` (reference `aklite current`). */
export function currentText(res: CurrentTarget): string[] {
  const lines = [
    `Target: ${res.name}`,
    `Version: ${res.version}`,
    `OSTree hash: ${res.ostree_hash}`,
  ];
  if (res.booted_ostree_hash !== res.ostree_hash)
    lines.push(
      `Booted OSTree hash: ${res.booted_ostree_hash} (an installation awaits \`aklite-offline run\`)`,
    );
  lines.push(res.apps.length > 0 ? 'Apps:' : 'Apps: none');
  for (const a of res.apps) lines.push(`\t${a.on ? 'on ' : 'off'}: ${a.name} -> ${a.uri}`);
  return lines;
}

/** `status`. */
export function statusText(res: DeviceStatus): string[] {
  const lines = [
    `Hardware id: ${res.hardware_id}`,
    `Device type: ${res.device_type ?? 'unset (taken from the first bundle installed)'}`,
    `Tag: ${res.tag || '(any)'}`,
    `Booted ostree hash: ${res.ostree_hash}`,
    `Applied Target: ${res.applied_target ? `${res.applied_target.name} (version ${res.applied_target.version})` : 'unknown'}`,
  ];
  for (const a of res.applied_target?.apps ?? [])
    lines.push(`\t${a.on ? 'on ' : 'off'}: ${a.name} -> ${a.uri}`);
  const p = res.pending_target;
  lines.push(
    `Pending Target: ${p ? `${p.name} (${p.rollback ? 'rollback, ' : ''}${p.needs_reboot ? 'reboot needed' : 'run `aklite-offline run`'})` : 'none'}`,
  );
  for (const f of res.failed_targets) lines.push(`Failed Target: ${f.name}: ${f.reason}`);
  const pr = res.probation;
  lines.push(
    pr.state === 'good'
      ? 'System: good (no probation)'
      : `System: on probation (${pr.target}, since ${pr.started_at}, ` +
          `${pr.ends_at === null ? `held by ${pr.locks} lock(s)` : `ends ${pr.ends_at}`}, reboots ${pr.reboots})`,
    `Updates: ${res.deferred_by.length === 0 ? 'allowed' : `deferred by ${res.deferred_by.map((d) => d.client).join(', ')}`}`,
    `Last good Target: ${res.last_good_target?.name ?? 'unknown'}`,
  );
  if (res.golden_target)
    lines.push(
      `Golden system: ${res.golden_target.name ?? res.golden_target.ostree_hash}${res.golden_target.pinned ? ' (pinned)' : ' (NOT pinned)'}`,
    );
  return lines;
}

/** `install`, `run`, `rollback`: the outcome and what the status means. */
export const outcomeText = (res: { message: string; status: StatusValue }): string[] => [
  res.message,
  describe(res.status),
];

/** `probation <action>`: the outcome, and what the status means unless it is 0. */
export const probationText = (res: ProbationResult): string[] =>
  res.status !== 0 ? [res.message, describe(res.status)] : [res.message];

/** `defer`, `allow`. */
export const deferralText = (res: DeferralResult): string[] => [res.message];

/** `usb`: the stick and its bundle, the check, then the install's outcome or why none ran. */
export function usbText(res: UsbResult): string[] {
  const bundle =
    res.bundle.name === '.'
      ? 'the stick itself'
      : `${res.bundle.name} (${res.bundle.kind === 'dir' ? 'directory' : 'single file'})`;
  return [
    `Stick ${res.device}: bundle ${bundle}` +
      (res.ignored.length > 0 ? `; ignored ${res.ignored.join(', ')}` : ''),
    ...checkText(res.check),
    '',
    ...(res.install === null ? [res.message] : outcomeText(res.install)),
  ];
}
