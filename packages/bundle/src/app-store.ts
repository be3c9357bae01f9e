import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import fg from 'fast-glob';
import { parseDocument, isMap, isScalar } from 'yaml';
import {
  blobPath,
  canonicalBytes,
  CAPS,
  digestHex,
  FormatError,
  MEDIA_TYPES,
  parseDescriptor,
  SHA256_HEX_RE,
  storeReader,
  walkAppTree,
  type Descriptor,
} from '@offline-ota/format';
import { BundleError, errorMessage } from './errors.js';
import { copyFileVerified, exists, readCapped, sha256Hex, writeFileAtomic } from './fsutil.js';
import { buildTarGz } from './tarball.js';

/**
 * The content-addressed app store (format doc §Apps): `blobs/sha256/<hex>` plus
 * `apps/<app>/<hex>/{uri,manifest.json}` for people browsing it. Importing a compose
 * project writes it; what an app's tree holds is read by `@offline-ota/format`'s walker
 * (walkAppTree), the one the device runs.
 */
export const COMPOSE_FILE = 'docker-compose.yml';
export const APP_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const OCI_EMPTY = {
  mediaType: MEDIA_TYPES.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;
const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';

export const appDir = (store: string, app: string, hex: string): string =>
  join(store, 'apps', app, hex);

export function hexOf(digest: string, what: string): string {
  const hex = digestHex(digest);
  if (hex === undefined)
    throw new BundleError('APP_INVALID', `${what}: "${digest}" is not a sha256 digest`);
  return hex;
}

/** Stores bytes as a blob (idempotent: an existing blob of that digest is kept). */
export async function putBlob(
  store: string,
  bytes: Uint8Array,
): Promise<Descriptor & { hex: string }> {
  const hex = sha256Hex(bytes);
  const p = blobPath(store, hex);
  if (!(await exists(p))) await writeFileAtomic(p, bytes);
  return { mediaType: '', digest: `sha256:${hex}`, size: bytes.length, hex };
}

/** Copies a blob file into a store, verifying sha256 and size while copying. */
export async function copyBlob(
  srcPath: string,
  store: string,
  hex: string,
  size?: number,
): Promise<boolean> {
  const dst = blobPath(store, hex);
  if (await exists(dst)) return false;
  await copyFileVerified(srcPath, dst, { sha256: hex, ...(size === undefined ? {} : { size }) });
  return true;
}

/** An OCI descriptor as an image layout must give it: the format's, plus a media type. */
type OciDescriptor = Descriptor & { mediaType: string };

function parseOciDescriptor(v: unknown, what: string): OciDescriptor {
  const bad = (cause?: unknown) =>
    new BundleError('APP_INVALID', `${what}: not an OCI descriptor {mediaType, digest, size}`, {
      ...(cause === undefined ? {} : { cause }),
    });
  let d: Descriptor;
  try {
    d = parseDescriptor(v, what);
  } catch (err) {
    throw bad(err);
  }
  if (d.mediaType === undefined) throw bad();
  return d as OciDescriptor;
}

/** An OCI image manifest's config and layers. */
export interface ImageManifest {
  config: OciDescriptor;
  layers: OciDescriptor[];
}

export function parseImageManifest(bytes: Uint8Array, what: string): ImageManifest {
  let v: { mediaType?: unknown; config?: unknown; layers?: unknown };
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof v;
  } catch (err) {
    throw new BundleError('APP_INVALID', `${what} is not JSON: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (
    v === null ||
    typeof v !== 'object' ||
    v.mediaType !== MEDIA_TYPES.ociManifest ||
    !Array.isArray(v.layers)
  ) {
    throw new BundleError(
      'APP_INVALID',
      `${what} is not an OCI image manifest (${MEDIA_TYPES.ociManifest})`,
    );
  }
  return {
    config: parseOciDescriptor(v.config, `${what} config`),
    layers: v.layers.map((l, i) => parseOciDescriptor(l, `${what} layer ${i}`)),
  };
}

interface ImportedImage {
  name: string;
  ref: string;
  hex: string;
}

/** Copies one OCI image layout (index.json → one image manifest) into the store. */
async function importImageLayout(layoutDir: string, store: string): Promise<string> {
  const indexPath = join(layoutDir, 'index.json');
  if (!(await exists(indexPath))) {
    throw new BundleError(
      'APP_INVALID',
      `${layoutDir} is not an OCI image layout (no index.json)`,
      { file: indexPath },
    );
  }
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(
      (await readCapped(indexPath, CAPS.imageManifest)).toString('utf8'),
    ) as typeof index;
  } catch (err) {
    throw new BundleError('APP_INVALID', `${indexPath}: ${errorMessage(err)}`, {
      cause: err,
      file: indexPath,
    });
  }
  const manifests = Array.isArray(index?.manifests) ? index.manifests : [];
  if (manifests.length !== 1) {
    throw new BundleError(
      'APP_INVALID',
      `${indexPath} must list exactly one image manifest, found ${manifests.length}`,
      {
        file: indexPath,
      },
    );
  }
  const md = parseOciDescriptor(manifests[0], `${indexPath} manifests[0]`);
  if (md.mediaType !== MEDIA_TYPES.ociManifest) {
    throw new BundleError(
      'APP_INVALID',
      `${indexPath}: manifests[0] must be ${MEDIA_TYPES.ociManifest}`,
      {
        file: indexPath,
      },
    );
  }
  const mhex = hexOf(md.digest, indexPath);
  // An OCI image layout keeps its blobs the way our store does.
  const src = (hex: string): string => blobPath(layoutDir, hex);
  const mbytes = await readCapped(src(mhex), CAPS.imageManifest);
  if (sha256Hex(mbytes) !== mhex || mbytes.length !== md.size) {
    throw new BundleError('APP_INVALID', `${src(mhex)} does not match its digest ${md.digest}`, {
      file: src(mhex),
    });
  }
  const manifest = parseImageManifest(mbytes, src(mhex));
  for (const d of [manifest.config, ...manifest.layers]) {
    const hex = hexOf(d.digest, src(mhex));
    await copyBlob(src(hex), store, hex, d.size);
  }
  await putBlob(store, mbytes);
  return mhex;
}

export interface ImportAppOptions {
  /** A compose project: docker-compose.yml plus images/<name>/ OCI layouts. */
  projectDir: string;
  store: string;
  registryHost: string;
  factoryName: string;
}

export interface ImportedApp {
  name: string;
  uri: string;
  hex: string;
}

/**
 * Imports a compose project into the app store: copies each image's blobs (verified),
 * pins every `image:` to `<host>/<factory>/<name>@sha256:<hex>`, stores the compose
 * bundle (deterministic tar.gz), the image list and the app manifest.
 */
export async function importApp(o: ImportAppOptions): Promise<ImportedApp> {
  const name = basename(o.projectDir);
  if (!APP_NAME_RE.test(name)) {
    throw new BundleError(
      'APP_INVALID',
      `app name "${name}" (the project directory name) must be lowercase letters, digits, ".", "_" or "-"`,
    );
  }
  const composePath = join(o.projectDir, COMPOSE_FILE);
  if (!(await exists(composePath))) {
    throw new BundleError(
      'APP_INVALID',
      `${o.projectDir} is not a compose project: ${COMPOSE_FILE} is missing`,
      {
        file: composePath,
      },
    );
  }
  const doc = parseDocument((await readCapped(composePath, CAPS.composeBundle)).toString('utf8'));
  if (doc.errors.length > 0) {
    throw new BundleError('APP_INVALID', `${composePath}: ${doc.errors[0].message}`, {
      file: composePath,
    });
  }
  const services = doc.get('services');
  if (!isMap(services) || services.items.length === 0) {
    throw new BundleError('APP_INVALID', `${composePath} has no services`, { file: composePath });
  }
  const images = new Map<string, ImportedImage>();
  for (const item of services.items) {
    const svcName = isScalar(item.key) ? String(item.key.value) : '?';
    const svc = item.value;
    if (!isMap(svc))
      throw new BundleError('APP_INVALID', `${composePath}: service ${svcName} is not a mapping`);
    const image = svc.get('image');
    if (typeof image !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(image)) {
      throw new BundleError(
        'APP_INVALID',
        `${composePath}: service ${svcName} needs "image: <name>" naming a layout under images/<name>/`,
        { file: composePath },
      );
    }
    let imported = images.get(image);
    if (!imported) {
      const hex = await importImageLayout(join(o.projectDir, 'images', image), o.store);
      imported = {
        name: image,
        hex,
        ref: `${o.registryHost}/${o.factoryName}/${image}@sha256:${hex}`,
      };
      images.set(image, imported);
    }
    svc.set('image', imported.ref);
  }
  const composeText = doc.toString();
  const others = await fg('**/*', {
    cwd: o.projectDir,
    dot: true,
    onlyFiles: true,
    ignore: ['images/**', COMPOSE_FILE],
  });
  const entries = [{ path: COMPOSE_FILE, data: Buffer.from(composeText) }];
  for (const rel of others.sort())
    entries.push({ path: rel, data: await readFile(join(o.projectDir, rel)) });
  const bundle = await putBlob(o.store, buildTarGz(entries));
  const imageList = {
    images: [...images.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((i) => ({ ref: i.ref, digest: `sha256:${i.hex}` })),
  };
  const list = await putBlob(o.store, canonicalBytes(imageList));
  await putBlob(o.store, Buffer.from('{}'));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: MEDIA_TYPES.composeApp,
    config: { ...OCI_EMPTY },
    layers: [
      { mediaType: MEDIA_TYPES.composeBundle, digest: bundle.digest, size: bundle.size },
      { mediaType: MEDIA_TYPES.appImages, digest: list.digest, size: list.size },
    ],
    annotations: { 'compose-app': 'v1' },
  };
  const mbytes = canonicalBytes(manifest);
  const m = await putBlob(o.store, mbytes);
  const uri = `${o.registryHost}/${o.factoryName}/${name}@sha256:${m.hex}`;
  await writeAppIndex(o.store, name, m.hex, uri, mbytes);
  return { name, uri, hex: m.hex };
}

/** Writes `apps/<app>/<hex>/uri` (no newline) and `manifest.json`. */
export async function writeAppIndex(
  store: string,
  app: string,
  hex: string,
  uri: string,
  manifest: Uint8Array,
): Promise<void> {
  if (!SHA256_HEX_RE.test(hex)) throw new BundleError('APP_INVALID', `bad digest ${hex}`);
  await writeFileAtomic(join(appDir(store, app, hex), 'uri'), uri);
  await writeFileAtomic(join(appDir(store, app, hex), 'manifest.json'), manifest);
}

/**
 * The blobs an app needs, walked from its manifest in a store by the device's walker
 * (walkAppTree), every JSON blob digest-checked; what breaks the format is APP_INVALID.
 */
export async function appBlobs(
  store: string,
  manifestHex: string,
  what: string,
): Promise<{ hex: string; size: number }[]> {
  try {
    const tree = await walkAppTree(manifestHex, storeReader(store), what);
    return tree.blobs.map((b) => ({ hex: b.digest, size: b.size }));
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    throw new BundleError('APP_INVALID', `${what}: ${err.message}`, {
      cause: err,
      ...(err.file === undefined ? {} : { file: err.file }),
    });
  }
}

export { OCI_INDEX_TYPE };
