import type { ShowResult } from '../inspect.js';

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
