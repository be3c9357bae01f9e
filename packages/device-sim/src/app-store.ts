import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CAPS, SHA256_HEX_RE } from '@offline-ota/format';
import { DeviceSimError, isErrno, messageOf } from './errors.js';

/**
 * A content-addressed app store (`<store>/blobs/sha256/<hex>`, docs/bundle-format.md
 * §Apps): the factory's `apps/` and the device's `var/sota/reset-apps/` share the layout.
 */
export const blobPath = (store: string, hex: string): string => join(store, 'blobs/sha256', hex);
export const appUriFile = (store: string, app: string, hex: string): string =>
  join(store, 'apps', app, hex, 'uri');

/** An OCI descriptor's fields this package reads. */
export interface Descriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

/** `sha256:<hex>` → `<hex>`, or null when it is not one. */
export function digestHex(digest: unknown): string | null {
  if (typeof digest !== 'string' || !digest.startsWith('sha256:')) return null;
  const hex = digest.slice('sha256:'.length);
  return SHA256_HEX_RE.test(hex) ? hex : null;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Why a blob is not usable, or null when it is present with the right size and digest. */
export type BlobProblem = 'missing' | 'size' | 'digest';

export async function checkBlob(
  store: string,
  hex: string,
  size?: number,
): Promise<BlobProblem | null> {
  const file = blobPath(store, hex);
  try {
    const st = await stat(file);
    if (!st.isFile()) return 'missing';
    if (size !== undefined && st.size !== size) return 'size';
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'missing';
    throw err;
  }
  return (await sha256File(file)) === hex ? null : 'digest';
}

export function describeProblem(problem: BlobProblem, hex: string): string {
  switch (problem) {
    case 'missing':
      return `missing blob sha256:${hex}`;
    case 'size':
      return `blob sha256:${hex} has the wrong size (truncated or corrupted)`;
    case 'digest':
      return `blob sha256:${hex} does not match its digest (corrupted)`;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseDescriptor(v: unknown, what: string): Descriptor & { hex: string } {
  const hex = isObject(v) ? digestHex(v.digest) : null;
  if (!isObject(v) || hex === null || !Number.isSafeInteger(v.size) || (v.size as number) < 0) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `${what} is not a descriptor with "digest": "sha256:<hex>" and "size"`,
    );
  }
  return {
    digest: v.digest as string,
    size: v.size as number,
    hex,
    ...(typeof v.mediaType === 'string' ? { mediaType: v.mediaType } : {}),
  };
}

/** Reads a small JSON blob, checking its digest first. */
export async function readJsonBlob(
  store: string,
  hex: string,
  cap: number,
  what: string,
): Promise<unknown> {
  const file = blobPath(store, hex);
  let bytes: Buffer;
  try {
    const st = await stat(file);
    if (st.size > cap) {
      throw new DeviceSimError(
        'FACTORY_INVALID',
        `${what} ${file} is ${st.size} bytes, more than the cap of ${cap}`,
        {
          file,
        },
      );
    }
    bytes = await readFile(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new DeviceSimError('APP_INCOMPLETE', `${what}: missing blob sha256:${hex} (${file})`, {
        cause: err,
        file,
      });
    }
    throw err;
  }
  if (createHash('sha256').update(bytes).digest('hex') !== hex) {
    throw new DeviceSimError(
      'APP_INCOMPLETE',
      `${what}: blob sha256:${hex} does not match its digest (corrupted)`,
      {
        file,
      },
    );
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new DeviceSimError('FACTORY_INVALID', `${what} ${file} is not JSON: ${messageOf(err)}`, {
      cause: err,
      file,
    });
  }
}

/** The blobs of one image: its manifest, config and layers. */
export async function imageBlobs(
  store: string,
  manifestHex: string,
  what: string,
): Promise<Array<{ hex: string; size?: number }>> {
  const manifest = await readJsonBlob(
    store,
    manifestHex,
    CAPS.imageManifest,
    `image manifest of ${what}`,
  );
  if (!isObject(manifest) || !Array.isArray(manifest.layers)) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `image manifest sha256:${manifestHex} of ${what} has no "layers" array`,
    );
  }
  const config = parseDescriptor(
    manifest.config,
    `"config" of image manifest sha256:${manifestHex}`,
  );
  const layers = manifest.layers.map((l, i) =>
    parseDescriptor(l, `layer ${i} of image manifest sha256:${manifestHex}`),
  );
  return [
    { hex: manifestHex },
    { hex: config.hex, size: config.size },
    ...layers.map((l) => ({ hex: l.hex, size: l.size })),
  ];
}

/** The parts of a compose app (docs/bundle-format.md §Apps). */
export interface AppContent {
  manifestHex: string;
  /** layers[0]: gzip tar with docker-compose.yml. */
  composeBundle: Descriptor & { hex: string };
  /** Each image: its manifest, config and layer digests (hex). */
  images: Array<{ ref: string; manifestHex: string; configHex: string; layers: string[] }>;
  /** Every blob the app needs, manifest first, without duplicates. */
  blobs: Array<{ hex: string; size?: number }>;
}

/**
 * Walks an app from its manifest: layers[0] the compose bundle, layers[1] the image list
 * `{"images":[{"ref","digest"}]}`, then each image manifest → config + layers.
 */
export async function appContent(
  store: string,
  app: string,
  manifestHex: string,
): Promise<AppContent> {
  const manifest = await readJsonBlob(
    store,
    manifestHex,
    CAPS.appManifest,
    `app manifest of ${app}`,
  );
  if (!isObject(manifest) || !Array.isArray(manifest.layers) || manifest.layers.length < 2) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `app manifest sha256:${manifestHex} of ${app} needs layers[0] (compose bundle) and layers[1] (image list)`,
    );
  }
  const composeBundle = parseDescriptor(manifest.layers[0], `layers[0] of app manifest of ${app}`);
  const imageListDesc = parseDescriptor(manifest.layers[1], `layers[1] of app manifest of ${app}`);
  const imageList = await readJsonBlob(
    store,
    imageListDesc.hex,
    CAPS.imageList,
    `image list of ${app}`,
  );
  if (!isObject(imageList) || !Array.isArray(imageList.images)) {
    throw new DeviceSimError(
      'FACTORY_INVALID',
      `image list sha256:${imageListDesc.hex} of ${app} has no "images" array`,
    );
  }
  const images: AppContent['images'] = [];
  const blobs: Array<{ hex: string; size?: number }> = [
    { hex: manifestHex },
    { hex: composeBundle.hex, size: composeBundle.size },
    { hex: imageListDesc.hex, size: imageListDesc.size },
  ];
  for (const [i, image] of imageList.images.entries()) {
    const hex = isObject(image) ? digestHex(image.digest) : null;
    if (hex === null) {
      throw new DeviceSimError(
        'FACTORY_INVALID',
        `image ${i} of the image list of ${app} has no "digest": "sha256:<hex>"`,
      );
    }
    const ref = isObject(image) && typeof image.ref === 'string' ? image.ref : `sha256:${hex}`;
    const [manifestBlob, configBlob, ...layerBlobs] = await imageBlobs(
      store,
      hex,
      `${app} image ${ref}`,
    );
    images.push({
      ref,
      manifestHex: manifestBlob.hex,
      configHex: configBlob.hex,
      layers: layerBlobs.map((b) => b.hex),
    });
    blobs.push(manifestBlob, configBlob, ...layerBlobs);
  }
  const seen = new Set<string>();
  return {
    manifestHex,
    composeBundle,
    images,
    blobs: blobs.filter((b) => (seen.has(b.hex) ? false : (seen.add(b.hex), true))),
  };
}
