import { Parser, type ReadEntry } from 'tar';
import {
  parsePrivateKeyFile,
  parsePublicKey,
  privateKeyFile,
  type SigningKey,
  type TufPublicKey,
  keyIdOf,
} from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { readCapped, writeFileAtomic } from './fsutil.js';
import { buildTarGz } from './tarball.js';

/**
 * Offline key archives (reference §2.5): a gzip tar holding
 * `tufrepo/keys/<role>-<keyid first 8>.pub` and `.sec` JSON key files. They never live
 * in the factory directory; each release manager keeps one.
 */
export const KEY_ARCHIVE_PREFIX = 'tufrepo/keys/';
/** Largest archive read (compressed). */
export const KEY_ARCHIVE_CAP = 1024 * 1024;
/** Largest single key file inside an archive. */
export const KEY_FILE_CAP = 16 * 1024;
const MAX_ENTRIES = 256;

export type KeyRole = 'root' | 'targets';

export interface ArchivedKey {
  role: string;
  keyid: string;
  publicKey: TufPublicKey;
  /** Present when the archive holds the matching `.sec` file. */
  signingKey?: SigningKey;
  /** Name of the `.pub` (or `.sec`) file inside the archive. */
  entry: string;
}

export interface KeyArchive {
  path: string;
  keys: ArchivedKey[];
}

export function keyFileBase(role: string, keyid: string): string {
  return `${role}-${keyid.slice(0, 8)}`;
}

/** Builds the bytes of a key archive for the given signing keys. */
export function buildKeyArchive(role: KeyRole, keys: readonly SigningKey[]): Buffer {
  return buildTarGz(
    keys.flatMap((k) => [
      {
        path: `${KEY_ARCHIVE_PREFIX}${keyFileBase(role, k.keyid)}.pub`,
        data: Buffer.from(JSON.stringify(k.publicKey, null, 2) + '\n'),
        mode: 0o644,
      },
      {
        path: `${KEY_ARCHIVE_PREFIX}${keyFileBase(role, k.keyid)}.sec`,
        data: Buffer.from(JSON.stringify(privateKeyFile(k), null, 2) + '\n'),
        mode: 0o600,
      },
    ]),
  );
}

/** Writes a key archive atomically with mode 0600 (it holds private keys). */
export async function writeKeyArchive(
  path: string,
  role: KeyRole,
  keys: readonly SigningKey[],
): Promise<void> {
  await writeFileAtomic(path, buildKeyArchive(role, keys), { mode: 0o600 });
}

function damaged(path: string, detail: string, cause?: unknown): BundleError {
  return new BundleError(
    'KEY_ARCHIVE_INVALID',
    `${path} is not a valid key archive (${detail}); expected a .tgz holding ${KEY_ARCHIVE_PREFIX}<role>-<id>.pub/.sec files, as written by bundlectl factory init`,
    { ...(cause === undefined ? {} : { cause }), file: path },
  );
}

/** Reads the entries of a gzip tar, accepting only small regular files under tufrepo/keys/. */
async function readEntries(path: string, bytes: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let problem: BundleError | undefined;
  let count = 0;
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        count++;
        const name = entry.path.replace(/^\.\//, '');
        const fail = (detail: string): void => {
          problem ??= damaged(path, detail);
          entry.resume();
        };
        if (count > MAX_ENTRIES) return fail(`more than ${MAX_ENTRIES} entries`);
        if (name.split('/').includes('..') || name.startsWith('/'))
          return fail(`unsafe entry name ${name}`);
        if (entry.type === 'Directory') {
          if (!`${KEY_ARCHIVE_PREFIX}`.startsWith(name.endsWith('/') ? name : `${name}/`)) {
            return fail(`unexpected directory ${name}`);
          }
          entry.resume();
          return;
        }
        if (entry.type !== 'File' && entry.type !== 'OldFile')
          return fail(`${name} is not a regular file`);
        if (
          !name.startsWith(KEY_ARCHIVE_PREFIX) ||
          name.slice(KEY_ARCHIVE_PREFIX.length).includes('/')
        ) {
          return fail(`unexpected entry ${name} outside ${KEY_ARCHIVE_PREFIX}`);
        }
        if (entry.size > KEY_FILE_CAP) return fail(`${name} is larger than ${KEY_FILE_CAP} bytes`);
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => files.set(name, Buffer.concat(chunks)));
      },
    });
    parser.on('error', (err: unknown) => reject(damaged(path, errorMessage(err), err)));
    parser.on('warn', (_code: string, message: unknown) => {
      problem ??= damaged(path, typeof message === 'string' ? message : errorMessage(message));
    });
    parser.on('end', () => resolve());
    parser.on('close', () => resolve());
    parser.end(bytes);
  });
  if (problem) throw problem;
  return files;
}

/**
 * Reads and validates a key archive: only regular files under `tufrepo/keys/`, no `..`,
 * sizes capped, every key file a valid ed25519 key, every `.sec` matching its `.pub`.
 */
export async function readKeyArchive(path: string): Promise<KeyArchive> {
  let bytes: Buffer;
  try {
    bytes = await readCapped(path, KEY_ARCHIVE_CAP);
  } catch (err) {
    throw new BundleError(
      'KEY_ARCHIVE_INVALID',
      `cannot read key archive ${path}: ${errorMessage(err)}`,
      {
        cause: err,
        file: path,
      },
    );
  }
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b)
    throw damaged(path, 'not gzip data');
  const files = await readEntries(path, bytes);
  const byBase = new Map<string, { pub?: Buffer; sec?: Buffer }>();
  for (const [name, data] of files) {
    const file = name.slice(KEY_ARCHIVE_PREFIX.length);
    const m = /^(.+)\.(pub|sec)$/.exec(file);
    if (!m) continue; // unrelated files (e.g. README) are ignored
    const slot = byBase.get(m[1]) ?? {};
    slot[m[2] as 'pub' | 'sec'] = data;
    byBase.set(m[1], slot);
  }
  const keys: ArchivedKey[] = [];
  for (const [base, slot] of [...byBase.entries()].sort()) {
    const role = base.includes('-') ? base.slice(0, base.lastIndexOf('-')) : base;
    let publicKey: TufPublicKey | undefined;
    let signingKey: SigningKey | undefined;
    try {
      if (slot.pub)
        publicKey = parsePublicKey(JSON.parse(slot.pub.toString('utf8')), `${path}: ${base}.pub`);
      if (slot.sec) {
        signingKey = parsePrivateKeyFile(
          JSON.parse(slot.sec.toString('utf8')),
          `${path}: ${base}.sec`,
        );
      }
    } catch (err) {
      throw damaged(path, `${base}: ${errorMessage(err)}`, err);
    }
    if (publicKey && signingKey && keyIdOf(publicKey) !== signingKey.keyid) {
      throw damaged(path, `${base}.sec does not match ${base}.pub`);
    }
    const pk = publicKey ?? signingKey!.publicKey;
    keys.push({
      role,
      keyid: keyIdOf(pk),
      publicKey: pk,
      ...(signingKey ? { signingKey } : {}),
      entry: `${KEY_ARCHIVE_PREFIX}${base}.${slot.pub ? 'pub' : 'sec'}`,
    });
  }
  if (keys.length === 0) throw damaged(path, 'no key files found');
  return { path, keys };
}

/** The private keys of an archive whose key ids are in `keyids`. */
export function signingKeysFor(archive: KeyArchive, keyids: readonly string[]): SigningKey[] {
  const out: SigningKey[] = [];
  for (const k of archive.keys) {
    if (k.signingKey && keyids.includes(k.keyid) && !out.some((o) => o.keyid === k.keyid))
      out.push(k.signingKey);
  }
  return out;
}
