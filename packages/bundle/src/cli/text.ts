/**
 * The text output of bundlectl's commands (what they print without `--json`), one function
 * per result. Commands print these lines; they format nothing themselves.
 */
import { formatBytes } from '@offline-ota/format';
import type { CreateBundleResult } from '../create.js';
import type { InitFactoryResult } from '../factory.js';
import type { ShowResult, SignBundleResult } from '../inspect.js';
import type { PackBundleResult } from '../pack.js';
import type { PublishTargetResult } from '../publish.js';
import type { RotateRootResult } from '../rotate.js';
import type { TargetListEntry } from '../listing.js';
import type { WaveResult, WaveState } from '../waves.js';

/** `2025-02-11T09:17:39Z` → `2025-02-11 09:17:39 +0000 UTC` (Go's time.Time, as fioctl prints). */
export function goTime(tuf: string): string {
  return `${tuf.slice(0, 10)} ${tuf.slice(11, 19)} +0000 UTC`;
}

/** The text of `show` (reference §2.6), plus remaining time and Target details. */
export function showText(s: ShowResult): string[] {
  const lines = [
    'Bundle Targets info:',
    `\tType:\t\t${s.type}`,
    `\tTag:\t\t${s.tag}`,
    `\tExpires:\t${goTime(s.expires)} (${s.remaining})`,
    '\tTargets:',
  ];
  for (const t of s.targets) {
    const details =
      t.version === undefined
        ? ' (not described by tuf/targets.json)'
        : ` (version ${t.version}, hardware id ${t.hardwareId ?? '?'}, commit ${t.commit ?? '?'}${
            Object.keys(t.apps ?? {}).length > 0
              ? `, apps: ${Object.keys(t.apps ?? {}).join(', ')}`
              : ''
          })`;
    lines.push(`\t\t\t${t.name}${details}`);
    if (t.delta !== undefined) {
      const o = t.delta.omitted;
      lines.push(
        `\t\t\t  delta from ${t.delta.bases.map((b) => b.name).join(' or ')}: leaves out ${o.objects} OSTree object(s) and ${o.blobs} app blob(s), ${formatBytes(o.bytes)} saved; a device must run one of the bases`,
      );
    }
  }
  lines.push('\tSignatures:');
  for (const k of s.signatures)
    lines.push(`\t\t\t- ${k}${s.invalidSignatures.includes(k) ? ' (INVALID)' : ''}`);
  lines.push('\tAllowed keys:');
  for (const k of s.allowedKeys) lines.push(`\t\t\t- ${k}`);
  lines.push(`\tThreshold:\t${s.threshold}`);
  if (s.missing > 0) {
    lines.push(
      `\tMissing:\t${s.missing} (the number of required additional signatures; run the \`sign\` sub-command to sign the bundle)`,
    );
  }
  return lines;
}

/** `create`: the zip written (with `--archive zip`), then `show` of the bundle. */
export function createText(res: CreateBundleResult, shown: ShowResult): string[] {
  const a = res.archive;
  return [
    ...(a === undefined ? [] : [`Wrote ${a.file}: ${a.bytes} bytes, sha256 ${a.sha256}`]),
    ...showText(shown),
  ];
}

/** `pack` (the FAT32 warning goes to stderr: see `packWarnings`). */
export function packText(res: PackBundleResult): string[] {
  return [
    `Wrote ${res.file}: ${res.bytes} bytes, ${res.entries} entries`,
    `\tsha256:\t${res.sha256}`,
    ...(res.zip64 ? ['\tZIP64 records are used'] : []),
  ];
}

export function packWarnings(res: PackBundleResult): string[] {
  return res.tooLargeForFat32
    ? ['WARNING: the file is larger than 4 GiB; copy it to an exFAT stick, not FAT32']
    : [];
}

/** `sign` (reference §2.5), then `show` of the bundle. */
export function signText(res: SignBundleResult, shown: ShowResult): string[] {
  return [
    `Signing the bundle with new key; ID: ${res.keyid}, type: ED25519`,
    res.missing > 0
      ? `${res.missing} more signature(s) is/are required to meet the required threshold (${res.threshold})`
      : `The bundle is signed with enough number of signatures (${res.signatures}) to meet the required threshold (${res.threshold})`,
    ...showText(shown),
  ];
}

/** `factory init`. */
export function factoryInitText(res: InitFactoryResult): string[] {
  return [
    `Created factory ${res.config.name} in ${res.factoryDir}`,
    `\tRoot keys:\t\t${res.rootKeyIds.join(', ')}`,
    `\tCI targets key:\t\t${res.ciTargetsKeyId}`,
    `\tProduction targets keys:\t${res.prodTargetsKeyIds.join(', ')}`,
    `Offline keys (keep them off this machine):`,
    `\t${res.offlineKeys.root}`,
    ...res.offlineKeys.targets.map((t) => `\t${t}`),
  ];
}

/** `keys rotate-root`. */
export function rotateRootText(res: RotateRootResult): string[] {
  return [
    `Wrote root version ${res.version} (ci and prod), expires ${res.expires}`,
    `\tRoot keys:\t${res.rootKeyIds.join(', ')}`,
    ...(res.newRootKeysArchive === undefined
      ? []
      : [`\tNew root keys archive:\t${res.newRootKeysArchive}`]),
    ...res.targetsKeyArchives.map((a) => `\tNew targets key archive:\t${a}`),
    ...res.resigned.map((f) => `\tRe-signed:\t${f}`),
  ];
}

/** `targets publish`. */
export function publishText(res: PublishTargetResult): string[] {
  return [
    `Published Target ${res.name}`,
    `\tOSTree commit:\t${res.commit}`,
    ...Object.entries(res.apps).map(([app, uri]) => `\tApp ${app}:\t${uri}`),
    ...Object.entries(res.ciTargetsVersions).map(
      ([tag, v]) => `\tCI targets of tag ${tag}: version ${v}`,
    ),
  ];
}

/** `waves init`. */
export function wavesInitText(res: WaveResult): string[] {
  return [
    `Wave ${res.wave.name} is active: Target ${res.wave.target}, tag ${res.wave.tag}`,
    `\tTargets version ${res.targetsVersion}, signed by ${res.signedBy.join(', ')}`,
  ];
}

/** `waves complete`. */
export function wavesCompleteText(res: WaveResult): string[] {
  return [
    `Wave ${res.wave.name} is complete: ${res.wave.target} is a production Target of tag ${res.wave.tag}`,
    `\tProduction targets version ${res.targetsVersion}, signed by ${res.signedBy.join(', ')}`,
  ];
}

/** `targets list`: one line per Target, where it is signed in. */
export function targetsListText(res: readonly TargetListEntry[]): string[] {
  if (res.length === 0) return ['No Targets published; run `bundlectl targets publish`'];
  return res.map(
    (t) =>
      `${t.name}\tversion ${t.version}\t${t.hardwareIds.join(',')}\ttags ${t.tags.join(',') || '-'}\t` +
      `commit ${t.commit.slice(0, 12)}\tCI: ${t.ci.join(',') || '-'}\tproduction: ${t.prod.join(',') || '-'}` +
      (Object.keys(t.apps).length > 0 ? `\tapps ${Object.keys(t.apps).join(',')}` : ''),
  );
}

/** `waves list`: one line per wave. */
export function wavesListText(res: readonly WaveState[]): string[] {
  if (res.length === 0) return ['No waves; start one with `bundlectl waves init`'];
  return res.map(
    (w) =>
      `${w.name}\t${w.state}\tTarget ${w.target}\ttag ${w.tag}\ttargets version ${w.targetsVersion}\tcreated ${w.createdAt}` +
      (w.completedAt === undefined ? '' : `\tcompleted ${w.completedAt}`),
  );
}
