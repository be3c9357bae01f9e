import type { RoleKeys, SigningKey } from '@offline-ota/format';
import { BundleError } from './errors.js';
import { readKeyArchive } from './key-archive.js';

/**
 * Collects, from one or more key archives, the private keys listed in `role` and
 * refuses when fewer than the threshold are found (reference §2.5 message).
 */
export async function collectSigningKeys(
  archives: readonly string[],
  role: RoleKeys,
  what: string,
  need = role.threshold,
): Promise<SigningKey[]> {
  if (archives.length === 0) {
    throw new BundleError('INVALID_ARGUMENT', `${what}: give the key archive(s) with --keys`);
  }
  const found: SigningKey[] = [];
  for (const path of archives) {
    const archive = await readKeyArchive(path);
    for (const k of archive.keys) {
      if (
        k.signingKey &&
        role.keyids.includes(k.keyid) &&
        !found.some((f) => f.keyid === k.keyid)
      ) {
        found.push(k.signingKey);
      }
    }
  }
  if (found.length === 0) {
    throw new BundleError(
      'KEY_NOT_FOUND',
      `No private key found for key IDs: [${role.keyids.join(' ')}] in ${archives.join(', ')} (${what})`,
    );
  }
  if (found.length < need) {
    throw new BundleError(
      'KEY_NOT_FOUND',
      `${what} needs ${need} of the keys [${role.keyids.join(' ')}]; the given archive(s) hold only ${found.length} (${found
        .map((k) => k.keyid)
        .join(', ')}). Pass more --keys archives`,
    );
  }
  return found.slice(0, need);
}
