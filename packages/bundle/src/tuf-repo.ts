import {
  canonicalBytes,
  FormatError,
  parseEnvelope,
  parseRoot,
  rootFileName,
  signEnvelope,
  SPEC_VERSION,
  type Envelope,
  type RootSigned,
  type SigningKey,
  type TargetFileInfo,
  type TargetsSigned,
  type TufPublicKey,
  CAPS,
  rootVersions,
  ROOT_CHAIN_FIELD,
  type BundleType,
} from '@offline-ota/format';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleError, errorMessage } from './errors.js';
import { exists, readCapped, writeFileAtomic } from './fsutil.js';

/** Writes a signed document as canonical JSON, atomically. */
export async function writeSigned(path: string, env: Envelope<unknown>): Promise<Buffer> {
  const bytes = canonicalBytes(env);
  await writeFileAtomic(path, bytes);
  return bytes;
}

export interface RootKeysSpec {
  rootKeys: readonly TufPublicKey[];
  rootThreshold: number;
  targetsKeys: readonly TufPublicKey[];
  targetsThreshold: number;
  snapshotKey: TufPublicKey;
  timestampKey: TufPublicKey;
}

/** Builds the `signed` part of a root from its keys (consistent_snapshot false, format doc §Root). */
export function buildRootSigned(
  version: number,
  expires: string,
  spec: RootKeysSpec,
  idOf: (k: TufPublicKey) => string,
  chain: BundleType,
): RootSigned {
  const keys: Record<string, TufPublicKey> = {};
  const ids = (list: readonly TufPublicKey[]): string[] => {
    const out: string[] = [];
    for (const k of list) {
      const id = idOf(k);
      keys[id] = k;
      if (!out.includes(id)) out.push(id);
    }
    return out;
  };
  const roles = {
    root: { keyids: ids(spec.rootKeys), threshold: spec.rootThreshold },
    targets: { keyids: ids(spec.targetsKeys), threshold: spec.targetsThreshold },
    snapshot: { keyids: ids([spec.snapshotKey]), threshold: 1 },
    timestamp: { keyids: ids([spec.timestampKey]), threshold: 1 },
  };
  for (const [name, r] of Object.entries(roles)) {
    if (r.threshold < 1 || r.threshold > r.keyids.length) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `the ${name} role has ${r.keyids.length} key(s); its threshold must be from 1 to ${r.keyids.length}, got ${r.threshold}`,
      );
    }
  }
  return {
    _type: 'root',
    [ROOT_CHAIN_FIELD]: chain,
    spec_version: SPEC_VERSION,
    version,
    expires,
    consistent_snapshot: false,
    keys,
    roles,
  };
}

/** One version of a root chain with its exact file bytes. */
export interface RootFile {
  version: number;
  path: string;
  bytes: Buffer;
  env: Envelope<RootSigned>;
}

/** Reads `1.root.json … N.root.json` of a directory, checking there are no gaps. */
export async function readRootChain(dir: string): Promise<RootFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new BundleError(
      'FACTORY_INVALID',
      `cannot read the root chain in ${dir}: ${errorMessage(err)}`,
      {
        cause: err,
        file: dir,
      },
    );
  }
  const versions = rootVersions(names);
  if (versions.length === 0) {
    throw new BundleError('FACTORY_INVALID', `no root metadata (1.root.json) in ${dir}`, {
      file: dir,
    });
  }
  const chain: RootFile[] = [];
  for (let i = 0; i < versions.length; i++) {
    if (versions[i] !== i + 1) {
      throw new BundleError(
        'FACTORY_INVALID',
        `root chain in ${dir} has a gap: ${rootFileName(i + 1)} is missing`,
        {
          file: dir,
        },
      );
    }
    const path = join(dir, rootFileName(i + 1));
    const bytes = await readCapped(path, CAPS.root);
    let env: Envelope<RootSigned>;
    try {
      env = parseRoot(JSON.parse(bytes.toString('utf8')), path);
    } catch (err) {
      throw new BundleError('FACTORY_INVALID', `${path}: ${errorMessage(err)}`, {
        cause: err,
        file: path,
      });
    }
    if (env.signed.version !== i + 1) {
      throw new BundleError('FACTORY_INVALID', `${path} holds version ${env.signed.version}`, {
        file: path,
      });
    }
    chain.push({ version: i + 1, path, bytes, env });
  }
  return chain;
}

/** Parses a targets document (shape only; the factory wrote it). */
export function parseTargetsDoc(value: unknown, what: string): Envelope<TargetsSigned> {
  const env = parseEnvelope(value, what);
  const s = env.signed;
  if (s._type !== 'targets' || typeof s.targets !== 'object' || s.targets === null) {
    throw new FormatError('INVALID_METADATA', `${what}: not a targets document`, { file: what });
  }
  return env as unknown as Envelope<TargetsSigned>;
}

/** Reads a targets.json of the factory, or undefined when it does not exist. */
export async function readTargetsFile(
  path: string,
): Promise<{ env: Envelope<TargetsSigned>; bytes: Buffer } | undefined> {
  if (!(await exists(path))) return undefined;
  const bytes = await readCapped(path, CAPS.targets);
  try {
    return { env: parseTargetsDoc(JSON.parse(bytes.toString('utf8')), path), bytes };
  } catch (err) {
    throw new BundleError('FACTORY_INVALID', `${path}: ${errorMessage(err)}`, {
      cause: err,
      file: path,
    });
  }
}

/** Builds and signs a targets document. */
export function signTargets(
  version: number,
  expires: string,
  targets: Record<string, TargetFileInfo>,
  keys: readonly SigningKey[],
): Envelope<TargetsSigned> {
  const signed: TargetsSigned = {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version,
    expires,
    targets,
  };
  return signEnvelope(signed, keys);
}
