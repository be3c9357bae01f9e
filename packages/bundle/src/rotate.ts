import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  formatTufTime,
  generateSigningKey,
  keyIdOf,
  signEnvelope,
  systemClock,
  verifyRootRotation,
  type BundleType,
  type Clock,
  type RootSigned,
  type SigningKey,
  type TufPublicKey,
} from '@offline-ota/format';
import { BundleError } from './errors.js';
import { DAY_MS, nextVersions, type Factory } from './factory.js';
import { exists } from './fsutil.js';
import { writeKeyArchive } from './key-archive.js';
import { collectSigningKeys } from './offline-keys.js';
import { resolveFactory } from './publish.js';
import {
  buildRootSigned,
  readRootChain,
  readTargetsFile,
  signTargets,
  writeSigned,
} from './tuf-repo.js';
import { listWaves } from './waves.js';

export interface RotateRootOptions {
  factory: string | Factory;
  /** Archive(s) holding at least a threshold of the current root keys. */
  rootKeys: string[];
  /** Where the new root keys archive is written (refused if it exists). */
  newRootKeysOut?: string;
  /** Keep the current root keys (only a new version / expiry). */
  keepRootKeys?: boolean;
  newRootKeysCount?: number;
  newRootThreshold?: number;
  /** Also replace the production targets keys; their archives go to `targetsKeysOutDir`. */
  rotateTargets?: boolean;
  targetsKeysOutDir?: string;
  prodTargetsKeysCount?: number;
  prodTargetsThreshold?: number;
  expiresInDays?: number;
  clock?: Clock;
}

export interface RotateRootResult {
  version: number;
  expires: string;
  rootKeyIds: string[];
  prodTargetsKeyIds: string[];
  newRootKeysArchive?: string;
  targetsKeyArchives: string[];
  /** Production targets files re-signed with the new targets keys. */
  resigned: string[];
}

function publicKeysOf(
  root: RootSigned,
  role: 'root' | 'targets' | 'snapshot' | 'timestamp',
): TufPublicKey[] {
  return root.roles[role].keyids.map((id) => root.keys[id]);
}

/**
 * Root rotation (format doc §Root): writes root N+1 of both chains, signed by a threshold
 * of root N's root keys and a threshold of the new root keys. Optionally replaces the
 * production targets keys, re-signing every production targets file with them.
 */
export async function rotateRoot(o: RotateRootOptions): Promise<RotateRootResult> {
  const factory = await resolveFactory(o.factory);
  const clock = o.clock ?? systemClock;
  const days = o.expiresInDays ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new BundleError('INVALID_ARGUMENT', `--expires-in-days must be 1 to 3650, got ${days}`);
  }
  const ci = await readRootChain(factory.paths.tufDir('ci'));
  const prod = await readRootChain(factory.paths.tufDir('prod'));
  const ciRoot = ci.at(-1)!.env.signed;
  const prodRoot = prod.at(-1)!.env.signed;
  if (ciRoot.version !== prodRoot.version) {
    throw new BundleError(
      'FACTORY_INVALID',
      `the ci and prod root chains differ in length (${ciRoot.version} vs ${prodRoot.version}); repair the factory first`,
    );
  }
  const oldKeys = await collectSigningKeys(o.rootKeys, ciRoot.roles.root, 'signing the new root');

  let newRootKeys: SigningKey[];
  let newRootThreshold: number;
  if (o.keepRootKeys === true) {
    if (o.newRootKeysOut !== undefined) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        'keeping the root keys writes no new root keys archive; drop --out',
      );
    }
    newRootKeys = await collectSigningKeys(
      o.rootKeys,
      ciRoot.roles.root,
      'keeping the current root keys',
      ciRoot.roles.root.keyids.length,
    );
    newRootThreshold = ciRoot.roles.root.threshold;
  } else {
    if (o.newRootKeysOut === undefined) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        'say where the new root keys archive goes (--out FILE.tgz)',
      );
    }
    if (await exists(o.newRootKeysOut)) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `${o.newRootKeysOut} already exists; refusing to overwrite keys`,
        {
          file: o.newRootKeysOut,
        },
      );
    }
    const n = o.newRootKeysCount ?? ciRoot.roles.root.keyids.length;
    newRootThreshold = o.newRootThreshold ?? Math.min(ciRoot.roles.root.threshold, n);
    if (!Number.isInteger(n) || n < 1 || n > 16 || newRootThreshold < 1 || newRootThreshold > n) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `root keys ${n} with threshold ${newRootThreshold} is not possible`,
      );
    }
    newRootKeys = Array.from({ length: n }, () => generateSigningKey());
  }

  let prodTargetsKeys: TufPublicKey[] = publicKeysOf(prodRoot, 'targets');
  let prodTargetsThreshold = prodRoot.roles.targets.threshold;
  let newTargetsSigning: SigningKey[] = [];
  const targetsArchives: string[] = [];
  if (o.rotateTargets === true) {
    if (o.targetsKeysOutDir === undefined) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        'say where the new targets key archives go (--targets-keys-out DIR)',
      );
    }
    const n = o.prodTargetsKeysCount ?? prodRoot.roles.targets.keyids.length;
    prodTargetsThreshold = o.prodTargetsThreshold ?? Math.min(prodTargetsThreshold, n);
    if (
      !Number.isInteger(n) ||
      n < 1 ||
      n > 16 ||
      prodTargetsThreshold < 1 ||
      prodTargetsThreshold > n
    ) {
      throw new BundleError(
        'INVALID_ARGUMENT',
        `targets keys ${n} with threshold ${prodTargetsThreshold} is not possible`,
      );
    }
    newTargetsSigning = Array.from({ length: n }, () => generateSigningKey());
    prodTargetsKeys = newTargetsSigning.map((k) => k.publicKey);
    for (let i = 0; i < n; i++) {
      const p = join(o.targetsKeysOutDir, `targets-key-${i + 1}.tgz`);
      if (await exists(p)) {
        throw new BundleError(
          'INVALID_ARGUMENT',
          `${p} already exists; choose an empty --targets-keys-out directory`,
          {
            file: p,
          },
        );
      }
      targetsArchives.push(p);
    }
  }

  const version = ciRoot.version + 1;
  const expires = formatTufTime(new Date(clock().getTime() + days * DAY_MS));
  const common = {
    rootKeys: newRootKeys.map((k) => k.publicKey),
    rootThreshold: newRootThreshold,
    snapshotKey: factory.onlineKeys.snapshot.publicKey,
    timestampKey: factory.onlineKeys.timestamp.publicKey,
  };
  const signers = [
    ...oldKeys,
    ...newRootKeys.filter((k) => !oldKeys.some((o2) => o2.keyid === k.keyid)),
  ];
  const roots: Record<BundleType, RootSigned> = {
    ci: buildRootSigned(
      version,
      expires,
      {
        ...common,
        targetsKeys: publicKeysOf(ciRoot, 'targets'),
        targetsThreshold: ciRoot.roles.targets.threshold,
      },
      keyIdOf,
      'ci',
    ),
    prod: buildRootSigned(
      version,
      expires,
      { ...common, targetsKeys: prodTargetsKeys, targetsThreshold: prodTargetsThreshold },
      keyIdOf,
      'prod',
    ),
  };
  const envs = {
    ci: signEnvelope(roots.ci, signers),
    prod: signEnvelope(roots.prod, signers),
  };
  // Self-check before anything is written: the device will walk exactly this step.
  verifyRootRotation(ciRoot, envs.ci, `ci ${version}.root.json`);
  verifyRootRotation(prodRoot, envs.prod, `prod ${version}.root.json`);

  // Keys first: a root naming keys nobody holds would lock the factory out.
  if (o.newRootKeysOut !== undefined) await writeKeyArchive(o.newRootKeysOut, 'root', newRootKeys);
  for (let i = 0; i < targetsArchives.length; i++) {
    await writeKeyArchive(targetsArchives[i], 'targets', [newTargetsSigning[i]]);
  }
  await writeSigned(factory.paths.root('ci', version), envs.ci);
  await writeSigned(factory.paths.root('prod', version), envs.prod);

  const resigned: string[] = [];
  if (o.rotateTargets === true) {
    // Production targets signed with the old keys no longer verify under the new root.
    const signWith = newTargetsSigning.slice(0, prodTargetsThreshold);
    const files = [
      ...(await listTagDirs(factory)).map((tag) => factory.paths.tagTargets('prod', tag)),
      ...(await listWaves(factory)).map((w) => factory.paths.waveTargets(w.name)),
    ];
    for (const file of files) {
      const current = await readTargetsFile(file);
      if (!current) continue;
      const { targets: v } = await nextVersions(factory, 'prod', ['targets']);
      await writeSigned(
        file,
        signTargets(v, current.env.signed.expires, current.env.signed.targets, signWith),
      );
      resigned.push(file);
    }
  }
  return {
    version,
    expires,
    rootKeyIds: newRootKeys.map((k) => k.keyid),
    prodTargetsKeyIds: prodTargetsKeys.map(keyIdOf),
    ...(o.newRootKeysOut === undefined ? {} : { newRootKeysArchive: o.newRootKeysOut }),
    targetsKeyArchives: targetsArchives,
    resigned,
  };
}

async function listTagDirs(factory: Factory): Promise<string[]> {
  return readdir(join(factory.paths.tufDir('prod'), 'tags')).catch(() => [] as string[]);
}
