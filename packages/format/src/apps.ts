import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, messageOf } from './errors.js';
import { parseBoundedJson } from './json.js';
import { CAPS, MEDIA_TYPES, SHA256_HEX_RE } from './layout.js';
import { parseAppUri } from './target.js';

/**
 * Compose apps in a content-addressed store (docs/bundle-format.md §Apps): the facts every
 * side shares. A store is `blobs/sha256/<hex>` (the factory's `apps/`, a bundle's `apps/`,
 * a device's `var/sota/reset-apps/`); an app is the tree its manifest pins, walked once, by
 * walkAppTree, over a small reader port (SmallBlobReader) with three implementations: a
 * store directory (storeReader, also a device's store), a bundle zip (bundle-source.ts),
 * and what bundlectl and the simulator wrap around storeReader for their error codes.
 */

/** One blob an app needs, with the digest and size its parent descriptor pins. */
export interface AppBlob {
  digest: string;
  /** Expected size in bytes, or undefined for the app manifest (pinned by digest only). */
  size: number | undefined;
  kind:
    | 'app-manifest'
    | 'compose-bundle'
    | 'image-list'
    | 'image-manifest'
    | 'config'
    | 'layer'
    | 'other';
}

/** An OCI descriptor's fields the format reads. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
}

/**
 * The reader port of the walk: the bytes of the blob `hex`, refusing more than `cap`, with
 * their sha256 checked. Throws when the blob is missing or does not match its digest.
 */
export type SmallBlobReader = (hex: string, cap: number) => Promise<Buffer>;

/** Where a store keeps its blobs, relative to the store (`/`-separated). */
export const STORE_BLOBS = 'blobs/sha256';

/** The directory of a store's blobs. */
export const blobDir = (storeDir: string): string => join(storeDir, STORE_BLOBS);

export const blobPath = (storeDir: string, hex: string): string => {
  if (!SHA256_HEX_RE.test(hex))
    throw new FormatError('INVALID_METADATA', `not a sha256 digest: ${hex}`);
  return join(storeDir, STORE_BLOBS, hex);
};

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

/** `sha256:<hex>` → `<hex>`, or undefined when it is not one. */
export function digestHex(digest: unknown): string | undefined {
  return typeof digest === 'string' ? DIGEST_RE.exec(digest)?.[1] : undefined;
}

/** An OCI descriptor from untrusted JSON: a sha256 digest and a size (CONTENT_INVALID). */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    digestHex(d.digest) === undefined ||
    !Number.isSafeInteger(d.size) ||
    (d.size as number) < 0
  ) {
    throw new FormatError(
      'CONTENT_INVALID',
      `${where}: invalid descriptor (needs sha256 digest and size)`,
    );
  }
  return {
    digest: d.digest as string,
    size: d.size as number,
    ...(typeof d.mediaType === 'string' ? { mediaType: d.mediaType } : {}),
  };
}

function parseJson(buf: Buffer, where: string): Record<string, unknown> {
  try {
    const v = parseBoundedJson(buf, where, { maxBytes: buf.length, code: 'CONTENT_INVALID' });
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new FormatError('CONTENT_INVALID', `${where}: not valid JSON (${messageOf(err)})`, {
      cause: err,
    });
  }
}

const hexOf = (digest: string): string => digest.slice('sha256:'.length);

/** A descriptor with its digest as bare hex. */
export interface BlobRef {
  hex: string;
  size: number;
}

/** One image of an app, as its image list and image manifest name it. */
export interface AppImage {
  /** The image list's `ref`, when it gives one. */
  ref: string | undefined;
  manifest: BlobRef;
  config: BlobRef;
  layers: BlobRef[];
}

/** An app's whole tree, every JSON blob of it read and digest-checked. */
export interface AppTree {
  manifest: BlobRef;
  /** layers[0] of the app manifest: the gzip tar holding docker-compose.yml. */
  composeBundle: BlobRef;
  /** layers[1]: `{"images":[{"ref","digest"}]}`. */
  imageList: BlobRef;
  images: AppImage[];
  /** Every blob the app needs, in dependency order, without duplicates; sizes all known. */
  blobs: (AppBlob & { size: number })[];
}

/**
 * Walks an app from its manifest (docs/bundle-format.md §Apps): app manifest → compose
 * bundle + image list → image manifests → configs + layers, with the caps of §Size caps.
 * Every JSON blob is read through `read`, which verifies its digest, so the whole tree is
 * bound to the manifest's digest. `label` starts every message (`app <name>`). A tree that
 * breaks the format (an oversized compose bundle or layer included) is FormatError
 * CONTENT_INVALID; what `read` throws passes through unchanged.
 */
export async function walkAppTree(
  manifestHex: string,
  read: SmallBlobReader,
  label: string,
): Promise<AppTree> {
  const blobs = new Map<string, AppBlob & { size: number }>();
  const add = (b: AppBlob & { size: number }) => {
    const prev = blobs.get(b.digest);
    if (prev && prev.size !== b.size) {
      throw new FormatError(
        'CONTENT_INVALID',
        `${label}: blob ${b.digest} is pinned with two sizes`,
      );
    }
    if (!prev) blobs.set(b.digest, b);
  };
  const ref = (d: Descriptor): BlobRef => ({ hex: hexOf(d.digest), size: d.size });

  const manifestBytes = await read(manifestHex, CAPS.appManifest);
  add({ digest: manifestHex, size: manifestBytes.length, kind: 'app-manifest' });
  const manifest = parseJson(manifestBytes, `${label} manifest`);
  if (!Array.isArray(manifest.layers) || manifest.layers.length < 2) {
    throw new FormatError(
      'CONTENT_INVALID',
      `${label} manifest: needs layers[0] (compose bundle) and layers[1] (image list)`,
    );
  }
  if (manifest.config !== undefined) {
    const cfg = parseDescriptor(manifest.config, `${label} manifest config`);
    add({ digest: hexOf(cfg.digest), size: cfg.size, kind: 'other' });
  }
  const bundle = parseDescriptor(manifest.layers[0], `${label} compose bundle`);
  if (bundle.size > CAPS.composeBundle) {
    throw new FormatError(
      'CONTENT_INVALID',
      `${label}: compose bundle of ${bundle.size} bytes exceeds the cap`,
    );
  }
  add({ digest: hexOf(bundle.digest), size: bundle.size, kind: 'compose-bundle' });
  const listDesc = parseDescriptor(manifest.layers[1], `${label} image list`);
  if (listDesc.mediaType !== undefined && listDesc.mediaType !== MEDIA_TYPES.appImages) {
    throw new FormatError('CONTENT_INVALID', `${label}: layers[1] is not an image list`);
  }
  const listBytes = await read(hexOf(listDesc.digest), Math.min(listDesc.size, CAPS.imageList));
  if (listBytes.length !== listDesc.size) {
    throw new FormatError(
      'CONTENT_INVALID',
      `${label}: image list size differs from its descriptor`,
    );
  }
  add({ digest: hexOf(listDesc.digest), size: listDesc.size, kind: 'image-list' });
  const list = parseJson(listBytes, `${label} image list`);
  if (!Array.isArray(list.images))
    throw new FormatError('CONTENT_INVALID', `${label} image list: "images" must be an array`);

  const images: AppImage[] = [];
  for (const [i, img] of (list.images as unknown[]).entries()) {
    const entry = img as { digest?: unknown; ref?: unknown } | null;
    const hex = digestHex(entry?.digest);
    if (hex === undefined) {
      throw new FormatError('CONTENT_INVALID', `${label} image ${i}: invalid digest`);
    }
    const imBytes = await read(hex, CAPS.imageManifest);
    add({ digest: hex, size: imBytes.length, kind: 'image-manifest' });
    const im = parseJson(imBytes, `${label} image ${i} manifest`);
    const config = parseDescriptor(im.config, `${label} image ${i} config`);
    add({ digest: hexOf(config.digest), size: config.size, kind: 'config' });
    if (!Array.isArray(im.layers))
      throw new FormatError('CONTENT_INVALID', `${label} image ${i}: layers must be an array`);
    const layers: BlobRef[] = [];
    for (const [j, l] of (im.layers as unknown[]).entries()) {
      const layer = parseDescriptor(l, `${label} image ${i} layer ${j}`);
      if (layer.size > CAPS.layer)
        throw new FormatError('CONTENT_INVALID', `${label}: layer exceeds the size cap`);
      add({ digest: hexOf(layer.digest), size: layer.size, kind: 'layer' });
      layers.push(ref(layer));
    }
    images.push({
      ref: typeof entry?.ref === 'string' ? entry.ref : undefined,
      manifest: { hex, size: imBytes.length },
      config: ref(config),
      layers,
    });
  }
  return {
    manifest: { hex: manifestHex, size: manifestBytes.length },
    composeBundle: ref(bundle),
    imageList: ref(listDesc),
    images,
    blobs: [...blobs.values()],
  };
}

/**
 * The blobs of the app a URI pins (`<host>/<factory>/<app>@sha256:<hex>`), in dependency
 * order, de-duplicated: walkAppTree from the URI's digest.
 */
export async function planAppBlobs(uri: string, read: SmallBlobReader): Promise<AppBlob[]> {
  const { digest, app } = parseAppUri(uri);
  return (await walkAppTree(digest, read, `app ${app}`)).blobs;
}

/** A SmallBlobReader over a store directory: bounded read, then sha256 check. */
export function storeReader(storeDir: string): SmallBlobReader {
  return async (hex, cap) => {
    const path = blobPath(storeDir, hex);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new FormatError('NO_TARGET_CONTENT', `blob sha256:${hex} is missing from ${storeDir}`, {
        cause: err,
        file: path,
      });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile())
        throw new FormatError('CONTENT_INVALID', `blob sha256:${hex} is not a regular file`, {
          file: path,
        });
      if (st.size > cap)
        throw new FormatError(
          'FILE_TOO_LARGE',
          `blob sha256:${hex} is ${st.size} bytes, over the ${cap}-byte cap`,
          { file: path },
        );
      const buf = Buffer.alloc(st.size);
      const { bytesRead } = await fh.read(buf, 0, st.size, 0);
      const data = buf.subarray(0, bytesRead);
      if (createHash('sha256').update(data).digest('hex') !== hex) {
        throw new FormatError('CONTENT_INVALID', `blob sha256:${hex} does not match its digest`, {
          file: path,
        });
      }
      return data;
    } finally {
      await fh.close();
    }
  };
}

/** Streams a file through sha256, refusing it once it passes `maxBytes`. */
export async function hashFile(
  path: string,
  maxBytes: number,
): Promise<{ hex: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, {
    highWaterMark: 1 << 20,
  }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new FormatError('FILE_TOO_LARGE', `${path} is larger than ${maxBytes} bytes`, {
        file: path,
      });
    hash.update(chunk);
  }
  return { hex: hash.digest('hex'), size };
}

/** Verifies an app's whole tree in a store: every blob present, right digest, right size. */
export async function verifyAppTree(storeDir: string, uri: string): Promise<AppBlob[]> {
  const blobs = await planAppBlobs(uri, storeReader(storeDir));
  for (const b of blobs) {
    const path = blobPath(storeDir, b.digest);
    let got;
    try {
      got = await hashFile(path, b.size ?? CAPS.appManifest);
    } catch (err) {
      if (err instanceof FormatError) throw err;
      throw new FormatError('NO_TARGET_CONTENT', `blob sha256:${b.digest} (${b.kind}) is missing`, {
        cause: err,
        file: path,
      });
    }
    if (got.hex !== b.digest || (b.size !== undefined && got.size !== b.size)) {
      throw new FormatError(
        'CONTENT_INVALID',
        `blob sha256:${b.digest} (${b.kind}) does not match its digest or size`,
        { file: path },
      );
    }
  }
  return blobs;
}
