import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, messageOf } from './errors.js';
import { CAPS, MEDIA_TYPES, SHA256_HEX_RE } from './layout.js';
import { parseAppUri } from './target.js';

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

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
}

/** Reads a small blob by digest, verifying its sha256; returns its bytes. */
export type SmallBlobReader = (hex: string, cap: number) => Promise<Buffer>;

export const blobPath = (storeDir: string, hex: string): string => {
  if (!SHA256_HEX_RE.test(hex))
    throw new FormatError('INVALID_METADATA', `not a sha256 digest: ${hex}`);
  return join(storeDir, 'blobs', 'sha256', hex);
};

function parseDescriptor(v: unknown, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    typeof d.digest !== 'string' ||
    !/^sha256:[0-9a-f]{64}$/.test(d.digest) ||
    !Number.isSafeInteger(d.size) ||
    (d.size as number) < 0
  ) {
    throw new FormatError(
      'CONTENT_INVALID',
      `${where}: invalid descriptor (needs sha256 digest and size)`,
    );
  }
  return {
    digest: d.digest,
    size: d.size as number,
    ...(typeof d.mediaType === 'string' ? { mediaType: d.mediaType } : {}),
  };
}

function parseJson(buf: Buffer, where: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new FormatError('CONTENT_INVALID', `${where}: not valid JSON (${messageOf(err)})`);
  }
}

const hexOf = (digest: string): string => digest.slice('sha256:'.length);

/**
 * Walks an app from its pinned URI down to every blob (docs/bundle-format.md §Apps):
 * app manifest → compose bundle + image list → image manifests → configs + layers.
 * Every JSON blob is read through `read`, which verifies its digest, so the whole tree
 * is bound to the signed URI. Returns the blobs in dependency order, de-duplicated.
 */
export async function planAppBlobs(uri: string, read: SmallBlobReader): Promise<AppBlob[]> {
  const { digest, app } = parseAppUri(uri);
  const blobs = new Map<string, AppBlob>();
  const add = (b: AppBlob) => {
    const prev = blobs.get(b.digest);
    if (prev && prev.size !== undefined && b.size !== undefined && prev.size !== b.size) {
      throw new FormatError(
        'CONTENT_INVALID',
        `app ${app}: blob ${b.digest} is pinned with two sizes`,
      );
    }
    if (!prev) blobs.set(b.digest, b);
  };

  const manifestBytes = await read(digest, CAPS.appManifest);
  add({ digest, size: manifestBytes.length, kind: 'app-manifest' });
  const manifest = parseJson(manifestBytes, `app ${app} manifest`);
  if (!Array.isArray(manifest.layers) || manifest.layers.length < 2) {
    throw new FormatError(
      'CONTENT_INVALID',
      `app ${app} manifest: needs layers[0] (compose bundle) and layers[1] (image list)`,
    );
  }
  if (manifest.config !== undefined) {
    const cfg = parseDescriptor(manifest.config, `app ${app} manifest config`);
    add({ digest: hexOf(cfg.digest), size: cfg.size, kind: 'other' });
  }
  const bundle = parseDescriptor(manifest.layers[0], `app ${app} compose bundle`);
  if (bundle.size > CAPS.composeBundle) {
    throw new FormatError(
      'CONTENT_INVALID',
      `app ${app}: compose bundle of ${bundle.size} bytes exceeds the cap`,
    );
  }
  add({ digest: hexOf(bundle.digest), size: bundle.size, kind: 'compose-bundle' });
  const listDesc = parseDescriptor(manifest.layers[1], `app ${app} image list`);
  if (listDesc.mediaType !== undefined && listDesc.mediaType !== MEDIA_TYPES.appImages) {
    throw new FormatError('CONTENT_INVALID', `app ${app}: layers[1] is not an image list`);
  }
  const listBytes = await read(hexOf(listDesc.digest), Math.min(listDesc.size, CAPS.imageList));
  if (listBytes.length !== listDesc.size) {
    throw new FormatError(
      'CONTENT_INVALID',
      `app ${app}: image list size differs from its descriptor`,
    );
  }
  add({ digest: hexOf(listDesc.digest), size: listDesc.size, kind: 'image-list' });
  const list = parseJson(listBytes, `app ${app} image list`);
  if (!Array.isArray(list.images))
    throw new FormatError('CONTENT_INVALID', `app ${app} image list: "images" must be an array`);

  for (const [i, img] of (list.images as unknown[]).entries()) {
    const d = (img as { digest?: unknown } | null)?.digest;
    if (typeof d !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d)) {
      throw new FormatError('CONTENT_INVALID', `app ${app} image ${i}: invalid digest`);
    }
    const imBytes = await read(hexOf(d), CAPS.imageManifest);
    add({ digest: hexOf(d), size: imBytes.length, kind: 'image-manifest' });
    const im = parseJson(imBytes, `app ${app} image ${i} manifest`);
    const config = parseDescriptor(im.config, `app ${app} image ${i} config`);
    add({ digest: hexOf(config.digest), size: config.size, kind: 'config' });
    if (!Array.isArray(im.layers))
      throw new FormatError('CONTENT_INVALID', `app ${app} image ${i}: layers must be an array`);
    for (const [j, l] of (im.layers as unknown[]).entries()) {
      const layer = parseDescriptor(l, `app ${app} image ${i} layer ${j}`);
      if (layer.size > CAPS.layer)
        throw new FormatError('CONTENT_INVALID', `app ${app}: layer exceeds the size cap`);
      add({ digest: hexOf(layer.digest), size: layer.size, kind: 'layer' });
    }
  }
  return [...blobs.values()];
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
