import { createHash } from 'node:crypto';
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canonicalBytes,
  signEnvelope,
  signingKeyFromSeed,
  StatusCode,
  type BundleManifestSigned,
  type BundleType,
  type Envelope,
  type SigningKey,
  type StatusName,
} from '@offline-ota/format';
import {
  BundleError,
  createBundle,
  DAY_MS,
  exists,
  initFactory,
  makeSampleApp,
  makeSampleRootfs,
  packBundle,
  publishTarget,
  rotateRoot,
  signBundle,
  wavesInit,
} from '@offline-ota/bundle';

/**
 * The committed test bundles (`test-bundles/` at the repository root): a small factory,
 * a good CI bundle, a good production bundle signed 2 of 3, and a named set of broken
 * ones, each with the device it is meant for and the exit code `aklite-offline install`
 * must give. Fixed key seeds and a fixed clock make the output byte for byte the same on
 * every run, so a test can regenerate them and compare.
 *
 * tuf-js checks expiry against the system clock, and the `expired` bundle is valid only on
 * the day it was made, so this runs with the system clock at {@link TEST_BUNDLES_CLOCK}
 * (`faketime '2026-01-01 00:00:00'`; `test-bundles/generate.mjs` does that).
 */

/** The clock every step is given (and the system clock the generator must run at). */
export const TEST_BUNDLES_CLOCK = '2026-01-01T00:00:00Z';
/** The `faketime` argument that starts the system clock at {@link TEST_BUNDLES_CLOCK} (it then runs on). */
export const TEST_BUNDLES_FAKETIME = '2026-01-01 00:00:00';
/** Validity of roots, targets and the good bundles: ten years (the most the tools allow). */
export const TEST_BUNDLES_VALID_DAYS = 3650;

const FACTORY_NAME = 'acme';
const HARDWARE_ID = 'sim-x86';
const OTHER_HARDWARE_ID = 'sim-arm';
const TAG = 'main';
const OTHER_TAG = 'devel';
const WAVE = 'wave-1';
const APP = 'shellhttpd';

/** The device a bundle is run on: `device-sim create --type T --tag G --target B`. */
export interface TestBundleDevice {
  type: BundleType;
  tag: string;
  hardwareId: string;
  /** The Target the device is booted on (a Target of `factory/`). */
  target: string;
}

export interface TestBundleEntry {
  /** Also the path relative to `test-bundles/`. */
  name: string;
  /** `dir`: `aklite-offline install --src-dir`; `file`: `--src-file` (a zip). */
  source: 'dir' | 'file';
  description: string;
  /** The Target the bundle carries. */
  target: string;
  device: TestBundleDevice;
  /** Exit code of `aklite-offline install` on a fresh device, and its StatusCode name. */
  install: { code: number; status: StatusName };
  /** For bundles that install: the code of `aklite-offline run` after the reboot. */
  run?: { code: number; status: StatusName };
}

export interface TestBundlesManifest {
  /** How the set was made (informative). */
  generator: string;
  clock: string;
  /** Paths relative to `test-bundles/`. */
  factory: string;
  offlineKeys: string;
  roots: Record<BundleType, string>;
  bundles: TestBundleEntry[];
}

export interface GenerateTestBundlesOptions {
  /** An empty or missing directory; receives the generated tree. */
  outDir: string;
  /** Scratch space for sources and a rotated factory copy; default a new temp dir. */
  workDir?: string;
  onProgress?: (message: string) => void;
}

/** A test key: ed25519 from the seed sha256("offline-ota test-bundles <label>"). */
export function testBundleKey(label: string): SigningKey {
  return signingKeyFromSeed(
    new Uint8Array(createHash('sha256').update(`offline-ota test-bundles ${label}`).digest()),
  );
}

const status = (name: StatusName): { code: number; status: StatusName } => ({
  code: StatusCode[name],
  status: name,
});

/** Sets every directory under (and including) `dir` to 0755: the umask must not reach OSTree. */
async function normaliseDirModes(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true }))
    if (e.isDirectory()) await normaliseDirModes(join(dir, e.name));
}

/** Removes empty directories (git does not keep them; the committed tree must match). */
async function pruneEmptyDirs(dir: string): Promise<boolean> {
  let empty = true;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && (await pruneEmptyDirs(p))) await rmdir(p);
    else empty = false;
  }
  return empty;
}

/** Files under `dir` (relative paths, sorted), depth first in name order. */
export async function listTestBundleFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listTestBundleFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/** Flips one bit in the middle of a file. */
async function flipMiddleByte(file: string): Promise<void> {
  const buf = await readFile(file);
  const i = Math.floor(buf.length / 2);
  buf[i] ^= 0x01;
  await writeFile(file, buf);
}

/**
 * Generates the test bundle set into `outDir` (see the module comment). Returns the
 * manifest it also writes to `outDir/manifest.json`.
 */
export async function generateTestBundles(
  o: GenerateTestBundlesOptions,
): Promise<TestBundlesManifest> {
  const progress = o.onProgress ?? (() => undefined);
  const now = new Date(TEST_BUNDLES_CLOCK);
  const clock = () => new Date(now.getTime());
  const skew = Date.now() - now.getTime();
  if (skew < 0 || skew >= DAY_MS) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `the test bundles must be generated with the system clock on ${TEST_BUNDLES_CLOCK.slice(0, 10)} (it is ${new Date().toISOString()}): tuf-js checks expiry against the system clock and the "expired" bundle is valid only that day. Run it as: faketime '${TEST_BUNDLES_FAKETIME}' node test-bundles/generate.mjs`,
    );
  }
  if (await exists(o.outDir)) {
    if ((await readdir(o.outDir)).length > 0) {
      throw new BundleError(
        'DESTINATION_NOT_EMPTY',
        `${o.outDir} is not empty; the test bundles are generated into an empty directory`,
        { file: o.outDir },
      );
    }
  }
  const ownWork = o.workDir === undefined;
  const work = o.workDir ?? (await mkdtemp(join(tmpdir(), 'test-bundles-')));
  try {
    return await generate(o.outDir, work, clock, progress);
  } finally {
    if (ownWork) await rm(work, { recursive: true, force: true });
  }
}

async function generate(
  out: string,
  work: string,
  clock: () => Date,
  progress: (message: string) => void,
): Promise<TestBundlesManifest> {
  const days = TEST_BUNDLES_VALID_DAYS;
  const factoryDir = join(out, 'factory');
  const keysDir = join(out, 'offline-keys');
  await mkdir(out, { recursive: true });

  progress('factory: keys from fixed seeds, root v1 of both chains');
  const init = await initFactory({
    dir: factoryDir,
    name: FACTORY_NAME,
    offlineKeysDir: keysDir,
    rootExpiresInDays: days,
    clock,
    keySource: testBundleKey,
  });
  const [key1, key2, key3] = init.offlineKeys.targets as [string, string, string];

  // Sources: v1 and v2 of a rootfs and its app; directory modes fixed (OSTree records them).
  const sources: Record<number, { rootfs: string; app: string }> = {};
  for (const v of [1, 2]) {
    const src = join(work, 'sources', `v${v}`);
    const rootfs = await makeSampleRootfs(join(src, 'rootfs'), { version: v });
    const app = await makeSampleApp(join(src, 'apps'), {
      name: APP,
      images: [
        {
          name: APP,
          files: {
            [`srv/${APP}/index.html`]: `<p>${APP} version ${v}</p>\n`,
            'etc/version': `${v}\n`,
          },
          // A running service (Debian's static busybox): devices start the apps for real.
          service: { serves: String(v) },
        },
      ],
    });
    await normaliseDirModes(src);
    sources[v] = { rootfs, app: app.projectDir };
  }
  const publish = async (v: number, hardwareId: string, tags: string[]): Promise<string> => {
    const res = await publishTarget({
      factory: factoryDir,
      rootfsDir: sources[v].rootfs,
      hardwareId,
      version: v,
      tags,
      apps: [sources[v].app],
      clock,
      targetsExpiresInDays: days,
    });
    progress(`published ${res.name} (tags ${tags.join(', ')})`);
    return res.name;
  };
  const v1 = await publish(1, HARDWARE_ID, [TAG]);
  const v2 = await publish(2, HARDWARE_ID, [TAG, OTHER_TAG]);
  const otherBoard = await publish(2, OTHER_HARDWARE_ID, [TAG]);
  await wavesInit({
    factory: factoryDir,
    wave: WAVE,
    target: v2,
    tag: TAG,
    keys: [key1, key2],
    expiresInDays: days,
    clock,
  });

  const ciDevice: TestBundleDevice = { type: 'ci', tag: TAG, hardwareId: HARDWARE_ID, target: v1 };
  const prodDevice: TestBundleDevice = { ...ciDevice, type: 'prod' };
  const entries: TestBundleEntry[] = [];
  const ci = async (name: string, target: string, tag: string, expiresInDays: number) => {
    progress(`bundle ${name}`);
    await createBundle({
      factory: factoryDir,
      target,
      dst: join(out, name),
      tag,
      expiresInDays,
      clock,
    });
    return join(out, name);
  };
  const prod = async (name: string, signers: string[]) => {
    progress(`bundle ${name}`);
    const dst = join(out, name);
    await createBundle({
      factory: factoryDir,
      target: v2,
      dst,
      wave: WAVE,
      expiresInDays: days,
      clock,
    });
    for (const k of signers) await signBundle(dst, k);
    return dst;
  };

  await ci('good-ci', v2, TAG, days);
  entries.push({
    name: 'good-ci',
    source: 'dir',
    description: `CI bundle of ${v2} for tag ${TAG}, signed with the online CI targets key`,
    target: v2,
    device: ciDevice,
    install: status('InstallNeedsReboot'),
    run: status('Ok'),
  });
  await prod('good-prod-2of3', [key1, key2]);
  entries.push({
    name: 'good-prod-2of3',
    source: 'dir',
    description: `production bundle of ${v2} (wave ${WAVE}, tag ${TAG}) signed by targets keys 1 and 2 of 3 (threshold 2)`,
    target: v2,
    device: prodDevice,
    install: status('InstallNeedsReboot'),
    run: status('Ok'),
  });
  await ci('expired', v2, TAG, 1);
  entries.push({
    name: 'expired',
    source: 'dir',
    description: `CI bundle of ${v2} made on ${TEST_BUNDLES_CLOCK} valid for one day (timestamp, snapshot and manifest expired)`,
    target: v2,
    device: ciDevice,
    install: status('CheckinExpiredMetadata'),
  });
  await ci('wrong-tag', v2, OTHER_TAG, days);
  entries.push({
    name: 'wrong-tag',
    source: 'dir',
    description: `CI bundle of ${v2} for tag ${OTHER_TAG}; the device follows tag ${TAG}`,
    target: v2,
    device: ciDevice,
    install: status('CheckinInvalidBundleMetadata'),
  });
  await prod('wrong-type', [key2, key3]);
  entries.push({
    name: 'wrong-type',
    source: 'dir',
    description: `production bundle of ${v2} signed by targets keys 2 and 3 (valid for a production device); the device is a CI device`,
    target: v2,
    device: ciDevice,
    install: status('CheckinInvalidBundleMetadata'),
  });
  await ci('wrong-hardware-id', otherBoard, TAG, days);
  entries.push({
    name: 'wrong-hardware-id',
    source: 'dir',
    description: `CI bundle of ${otherBoard} (hardware id ${OTHER_HARDWARE_ID}); the device is ${HARDWARE_ID}`,
    target: otherBoard,
    device: ciDevice,
    install: status('CheckinNoMatchingTargets'),
  });
  await prod('under-signed', [key1]);
  entries.push({
    name: 'under-signed',
    source: 'dir',
    description: `production bundle of ${v2} signed by targets key 1 only (threshold 2)`,
    target: v2,
    device: prodDevice,
    install: status('CheckinInvalidBundleMetadata'),
  });
  const unknown = await prod('unknown-signer', [key1, key2]);
  {
    // bundlectl sign refuses a key the root does not list, so the signature is added here.
    const file = join(unknown, 'tuf', 'bundle-targets.json');
    const env = JSON.parse(await readFile(file, 'utf8')) as Envelope<BundleManifestSigned>;
    await writeFile(
      file,
      canonicalBytes(signEnvelope(env.signed, [testBundleKey('unknown-signer')], env.signatures)),
    );
  }
  entries.push({
    name: 'unknown-signer',
    source: 'dir',
    description: `production bundle of ${v2} signed by targets keys 1 and 2, plus a signature by a key the root does not list`,
    target: v2,
    device: prodDevice,
    install: status('CheckinInvalidBundleMetadata'),
  });
  {
    progress('bundle tampered-object');
    const dst = join(out, 'tampered-object');
    await cp(join(out, 'good-ci'), dst, { recursive: true });
    const objects = (await listTestBundleFiles(join(dst, 'ostree_repo', 'objects'))).filter((f) =>
      f.endsWith('.filez'),
    );
    await flipMiddleByte(join(dst, 'ostree_repo', 'objects', objects[0]));
    entries.push({
      name: 'tampered-object',
      source: 'dir',
      description: `good-ci with one bit flipped in the middle of the first OSTree file object (objects/${objects[0]})`,
      target: v2,
      device: ciDevice,
      install: status('VerificationFailed'),
    });
  }
  {
    // A copy of the factory after two root rotations (same root keys): the bundle carries
    // roots 1, 2 and 3; 2.root.json is then removed. The committed factory stays at root 1.
    progress('bundle missing-root');
    const rotated = join(work, 'rotated-factory');
    await cp(factoryDir, rotated, { recursive: true });
    for (let i = 0; i < 2; i++) {
      await rotateRoot({
        factory: rotated,
        rootKeys: [init.offlineKeys.root],
        keepRootKeys: true,
        expiresInDays: days,
        clock,
      });
    }
    const dst = join(out, 'missing-root');
    await createBundle({ factory: rotated, target: v2, dst, tag: TAG, expiresInDays: days, clock });
    await rm(join(dst, 'tuf', '2.root.json'));
    entries.push({
      name: 'missing-root',
      source: 'dir',
      description: `CI bundle of ${v2} after two root rotations whose chain lacks 2.root.json (1.root.json, 3.root.json)`,
      target: v2,
      device: ciDevice,
      install: status('CheckinSecurityError'),
    });
  }
  {
    progress('bundle good-ci.zip, hostile.zip');
    await packBundle({ src: join(out, 'good-ci'), dst: join(out, 'good-ci.zip') });
    entries.push({
      name: 'good-ci.zip',
      source: 'file',
      description: 'good-ci packed into one zip file (bundlectl pack)',
      target: v2,
      device: ciDevice,
      install: status('InstallNeedsReboot'),
      run: status('Ok'),
    });
    const zip = await readFile(join(out, 'good-ci.zip'));
    const from = Buffer.from('apps/blobs/sha256/');
    const to = Buffer.from('../../../../../../');
    let renamed = 0;
    for (let i = zip.indexOf(from); i !== -1; i = zip.indexOf(from, i + to.length)) {
      to.copy(zip, i);
      renamed++;
    }
    if (renamed === 0)
      throw new BundleError('INVALID_ARGUMENT', 'good-ci.zip has no app blob entries');
    await writeFile(join(out, 'hostile.zip'), zip);
    entries.push({
      name: 'hostile.zip',
      source: 'file',
      description: `good-ci.zip with every "apps/blobs/sha256/" in entry names replaced by "../../../../../../" (${renamed} names, local and central headers): entries escaping the bundle`,
      target: v2,
      device: ciDevice,
      install: status('CheckinSecurityError'),
    });
  }

  // The device trust roots: what device-sim ships on a device made from factory/.
  for (const type of ['ci', 'prod'] as const) {
    await mkdir(join(out, 'roots', type), { recursive: true });
    await cp(join(factoryDir, 'tuf', type, '1.root.json'), join(out, 'roots', type, '1.root.json'));
  }
  const manifest: TestBundlesManifest = {
    generator:
      'test-bundles/generate.mjs (generateTestBundles in packages/testkit/src/test-bundles.ts)',
    clock: TEST_BUNDLES_CLOCK,
    factory: 'factory',
    offlineKeys: 'offline-keys',
    roots: { ci: 'roots/ci/1.root.json', prod: 'roots/prod/1.root.json' },
    bundles: entries,
  };
  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  await pruneEmptyDirs(out);
  return manifest;
}
