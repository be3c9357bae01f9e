/**
 * Loading an app's images into the engine, verified on the way (docs/architecture.md
 * §Container engine): each image's manifest, config and layers are copied from the app
 * store into a private OCI layout, every byte hashed, and the engine is given the layout
 * only when every blob matched the digest and size pinned for it. An image the engine
 * already holds (by its pinned manifest and config) is skipped, so loading again after an
 * interruption finishes the job.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { blobPath, type AppImage, type BlobRef } from '../apps.js';
import { messageOf } from '../errors.js';
import { MEDIA_TYPES } from '../layout.js';
import { PINNED_IMAGE_RE } from './compose.js';
import { EngineError } from './errors.js';
import type { ContainerEngine, PinnedImage } from './port.js';

/** The name the staged layout's index gives its one manifest. */
const REF_NAME = 'image';

/** The pinned identity of an image of an app tree; its ref must pin its manifest. */
export function pinnedImage(image: AppImage, app: string): PinnedImage {
  const m = image.ref === undefined ? null : PINNED_IMAGE_RE.exec(image.ref);
  if (!m || m[2] !== image.manifest.hex)
    throw new EngineError(
      'IMAGE_INVALID',
      `app ${app}: image list entry ${JSON.stringify(image.ref)} does not pin manifest sha256:${image.manifest.hex}`,
    );
  return { ref: image.ref!, manifestHex: image.manifest.hex, configHex: image.config.hex };
}

/** Copies a store blob to `dst`, hashing it; anything but the pinned digest and size is IMAGE_INVALID. */
async function copyVerified(src: string, dst: string, b: BlobRef, what: string): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > b.size) {
        done(
          new EngineError(
            'IMAGE_INVALID',
            `${what} sha256:${b.hex} is larger than its pinned ${b.size} bytes`,
          ),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      createReadStream(src),
      count,
      createWriteStream(dst, { flags: 'wx', mode: 0o600 }),
    );
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw new EngineError(
      'IMAGE_INVALID',
      `${what} sha256:${b.hex} cannot be read from ${src}: ${messageOf(err)}`,
      {
        cause: err,
        file: src,
      },
    );
  }
  if (size !== b.size || hash.digest('hex') !== b.hex)
    throw new EngineError(
      'IMAGE_INVALID',
      `${what} ${src} does not match its pinned digest sha256:${b.hex} and size ${b.size} (got ${size} bytes); ` +
        'the app store is corrupted or tampered with',
      { file: src },
    );
}

/**
 * Writes image `image` of the store `storeDir` as an OCI layout in `dir` (created), every
 * blob checked. Returns the layout's reference name.
 */
export async function stageImageLayout(
  storeDir: string,
  image: AppImage,
  dir: string,
): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const parts: [BlobRef, string][] = [
    [image.manifest, 'image manifest'],
    [image.config, 'image config'],
    ...image.layers.map((l, i): [BlobRef, string] => [l, `image layer ${i}`]),
  ];
  const seen = new Set<string>();
  for (const [b, what] of parts) {
    if (seen.has(b.hex)) continue;
    seen.add(b.hex);
    await copyVerified(blobPath(storeDir, b.hex), join(blobs, b.hex), b, what);
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: `sha256:${image.manifest.hex}`,
          size: image.manifest.size,
          annotations: { 'org.opencontainers.image.ref.name': REF_NAME },
        },
      ],
    }),
  );
  return REF_NAME;
}

export interface LoadImagesResult {
  loaded: PinnedImage[];
  present: PinnedImage[];
}

/**
 * Loads the images of an app into `engine` from the store, each through a verified
 * layout under `scratchDir` (removed afterwards, also on failure). Images the engine has
 * are skipped.
 */
export async function loadAppImages(
  engine: ContainerEngine,
  storeDir: string,
  app: string,
  images: readonly AppImage[],
  scratchDir: string,
  onImage: (ref: string) => void = () => undefined,
): Promise<LoadImagesResult> {
  const out: LoadImagesResult = { loaded: [], present: [] };
  for (const image of images) {
    const pinned = pinnedImage(image, app);
    if (await engine.hasImage(pinned)) {
      out.present.push(pinned);
      continue;
    }
    onImage(pinned.ref);
    await mkdir(scratchDir, { recursive: true });
    const dir = await mkdtemp(join(scratchDir, 'layout-'));
    try {
      const refName = await stageImageLayout(storeDir, image, dir);
      await engine.loadImage(dir, refName, pinned);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    out.loaded.push(pinned);
  }
  return out;
}
