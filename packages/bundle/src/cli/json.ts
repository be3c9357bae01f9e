/**
 * The `--json` output of the bundlectl commands whose result is more than the library's:
 * `create` and `sign` add `show` of the bundle written. Keys are camelCase, as in every
 * bundlectl result (docs/factory.md); aklite-offline's device output is snake_case, as
 * in the reference client (docs/architecture.md, "The command layer").
 *
 * Every `--json` output is also written down as a valibot schema (`JSON_OUTPUTS`):
 * `scripts/gen-docs.mjs` writes each as a JSON Schema (`docs/schemas/bundlectl/`), which
 * the e2e tests validate the real CLI's output against; the `...Json` functions hold the
 * library's result types to them.
 */
import * as v from 'valibot';
import type { CreateBundleResult } from '../create.js';
import type { TargetListEntry } from '../listing.js';
import type { InitFactoryResult } from '../factory.js';
import type { PublishTargetResult } from '../publish.js';
import type { RotateRootResult } from '../rotate.js';
import type { WaveResult, WaveState } from '../waves.js';
import type { ErrorReport } from '@offline-ota/format';
import type { ShowResult, SignBundleResult, VerifyBundleResult } from '../inspect.js';
import type { PackBundleResult } from '../pack.js';

export type CreateJson = Omit<CreateBundleResult, 'archive'> & {
  /** With `--archive zip`: the zip written (its `show` is the top-level one). */
  archive?: PackBundleResult;
  show: ShowResult;
};

export function createJson(res: CreateBundleResult, shown: ShowResult): CreateJson {
  if (res.archive === undefined) return { ...res, show: shown };
  const file: Partial<CreateBundleResult['archive']> = { ...res.archive };
  delete file.show;
  return { ...res, archive: file as PackBundleResult, show: shown };
}

export type SignJson = SignBundleResult & { show: ShowResult };

export const signJson = (res: SignBundleResult, shown: ShowResult): SignJson => ({
  ...res,
  show: shown,
});

const Apps = v.record(v.string(), v.string());

/** `targets list --json`. */
export const TargetsListJson = v.array(
  v.strictObject({
    name: v.string(),
    version: v.number(),
    hardwareIds: v.array(v.string()),
    tags: v.array(v.string()),
    commit: v.string(),
    apps: Apps,
    ci: v.array(v.string()),
    prod: v.array(v.string()),
  }),
);
export type TargetsListJson = v.InferOutput<typeof TargetsListJson>;
export const targetsListJson = (res: TargetListEntry[]): TargetsListJson => res;

/** `waves list --json`. */
export const WavesListJson = v.array(
  v.strictObject({
    name: v.string(),
    target: v.string(),
    tag: v.string(),
    state: v.picklist(['active', 'complete']),
    createdAt: v.string(),
    completedAt: v.optional(v.string()),
    targetsVersion: v.number(),
  }),
);
export type WavesListJson = v.InferOutput<typeof WavesListJson>;
export const wavesListJson = (res: WaveState[]): WavesListJson => res;

const DeltaJson = v.strictObject({
  bases: v.array(v.strictObject({ name: v.string(), commit: v.string() })),
  omitted: v.strictObject({ objects: v.number(), blobs: v.number(), bytes: v.number() }),
});

/** `show --json` (docs/factory.md §show). */
export const ShowJson = v.strictObject({
  bundle: v.string(),
  type: v.picklist(['ci', 'prod']),
  tag: v.string(),
  version: v.number(),
  expires: v.string(),
  expired: v.boolean(),
  remaining: v.string(),
  rootVersion: v.number(),
  targets: v.array(
    v.strictObject({
      name: v.string(),
      version: v.optional(v.number()),
      commit: v.optional(v.string()),
      hardwareId: v.optional(v.string()),
      apps: v.optional(Apps),
      delta: v.optional(DeltaJson),
    }),
  ),
  delta: v.boolean(),
  signatures: v.array(v.string()),
  allowedKeys: v.array(v.string()),
  threshold: v.number(),
  missing: v.number(),
  invalidSignatures: v.array(v.string()),
});
export type ShowJson = v.InferOutput<typeof ShowJson>;
export const showJson = (res: ShowResult): ShowJson => res;

/** `verify --json`: the device's status and what it would install (also when it refuses). */
export const VerifyJson = v.strictObject({
  status: v.number(),
  ok: v.boolean(),
  message: v.string(),
  type: v.optional(v.picklist(['ci', 'prod'])),
  tag: v.optional(v.string()),
  rootVersion: v.optional(v.number()),
  available: v.array(v.string()),
  unavailable: v.array(v.strictObject({ name: v.string(), reason: v.string() })),
  deltas: v.record(v.string(), DeltaJson),
});
export type VerifyJson = v.InferOutput<typeof VerifyJson>;
export const verifyJson = (res: VerifyBundleResult): VerifyJson => res;

/** A failure under `--json` (every command): format's `ErrorReport`. */
export const ErrorJson = v.strictObject({
  code: v.number(),
  name: v.string(),
  message: v.string(),
  hint: v.string(),
  error: v.optional(v.string()),
  file: v.optional(v.string()),
});
export type ErrorJson = v.InferOutput<typeof ErrorJson>;
export const errorJson = (res: ErrorReport): ErrorJson => res;

const Versions = v.strictObject({
  targets: v.number(),
  snapshot: v.number(),
  timestamp: v.number(),
  root: v.number(),
});

const PackJsonSchema = v.strictObject({
  file: v.string(),
  bytes: v.number(),
  sha256: v.string(),
  entries: v.number(),
  stored: v.number(),
  deflated: v.number(),
  zip64: v.boolean(),
  tooLargeForFat32: v.boolean(),
});
/** `pack --json`. */
export const packJson = (res: PackBundleResult): v.InferOutput<typeof PackJsonSchema> => res;

const CreateJsonSchema = v.strictObject({
  dst: v.string(),
  type: v.picklist(['ci', 'prod']),
  tag: v.string(),
  wave: v.optional(v.string()),
  target: v.string(),
  targets: v.array(v.string()),
  expires: v.string(),
  versions: Versions,
  apps: Apps,
  selfCheck: v.strictObject({
    available: v.array(v.string()),
    unavailable: v.array(v.strictObject({ name: v.string(), reason: v.string() })),
    signaturesPending: v.boolean(),
  }),
  delta: v.optional(
    v.strictObject({
      ...DeltaJson.entries,
      carried: v.strictObject({ objects: v.number(), bytes: v.number() }),
    }),
  ),
  archive: v.optional(PackJsonSchema),
  show: ShowJson,
});
/** Compile-time: `create --json` fits its schema. */
export const createJsonChecked = (res: CreateJson): v.InferOutput<typeof CreateJsonSchema> => res;

const SignJsonSchema = v.strictObject({
  keyid: v.string(),
  signatures: v.number(),
  threshold: v.number(),
  missing: v.number(),
  show: ShowJson,
});
/** Compile-time: `sign --json` fits its schema. */
export const signJsonChecked = (res: SignJson): v.InferOutput<typeof SignJsonSchema> => res;

const FactoryInitJsonSchema = v.strictObject({
  factoryDir: v.string(),
  config: v.strictObject({
    name: v.string(),
    registryHost: v.string(),
    osName: v.string(),
    createdAt: v.string(),
  }),
  rootKeyIds: v.array(v.string()),
  ciTargetsKeyId: v.string(),
  prodTargetsKeyIds: v.array(v.string()),
  offlineKeys: v.strictObject({ root: v.string(), targets: v.array(v.string()) }),
});
/** `factory init --json`. */
export const factoryInitJson = (
  res: InitFactoryResult,
): v.InferOutput<typeof FactoryInitJsonSchema> => res;

const PublishJsonSchema = v.strictObject({
  name: v.string(),
  commit: v.string(),
  apps: Apps,
  ciTargetsVersions: v.record(v.string(), v.number()),
  /** The catalog entry: the unsigned TUF target (its `custom` as published). */
  entry: v.strictObject({
    name: v.string(),
    target: v.object({
      length: v.number(),
      hashes: v.record(v.string(), v.string()),
      custom: v.object({}),
    }),
  }),
});
/** `targets publish --json`. */
export const publishJson = (res: PublishTargetResult): v.InferOutput<typeof PublishJsonSchema> =>
  res;

const RotateRootJsonSchema = v.strictObject({
  version: v.number(),
  expires: v.string(),
  rootKeyIds: v.array(v.string()),
  prodTargetsKeyIds: v.array(v.string()),
  newRootKeysArchive: v.optional(v.string()),
  targetsKeyArchives: v.array(v.string()),
  resigned: v.array(v.string()),
});
/** `keys rotate-root --json`. */
export const rotateRootJson = (res: RotateRootResult): v.InferOutput<typeof RotateRootJsonSchema> =>
  res;

const WaveJsonSchema = v.strictObject({
  wave: WavesListJson.item,
  targetsFile: v.string(),
  targetsVersion: v.number(),
  signedBy: v.array(v.string()),
});
/** `waves init --json` and `waves complete --json`. */
export const waveJson = (res: WaveResult): v.InferOutput<typeof WaveJsonSchema> => res;

/**
 * The `--json` outputs written down as schemas, by file name (`gen-docs.mjs` writes
 * `docs/schemas/bundlectl/<name>.schema.json`).
 */
export const JSON_OUTPUTS = {
  create: CreateJsonSchema,
  error: ErrorJson,
  'factory-init': FactoryInitJsonSchema,
  'keys-rotate-root': RotateRootJsonSchema,
  pack: PackJsonSchema,
  show: ShowJson,
  sign: SignJsonSchema,
  'targets-list': TargetsListJson,
  'targets-publish': PublishJsonSchema,
  verify: VerifyJson,
  'waves-init': WaveJsonSchema,
  'waves-complete': WaveJsonSchema,
  'waves-list': WavesListJson,
} as const;
