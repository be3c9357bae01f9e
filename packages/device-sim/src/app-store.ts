import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  blobPath,
  FormatError,
  hashFile,
  storeReader,
  walkAppTree,
  type SmallBlobReader,
} from '@offline-ota/format';
import { DeviceSimError, isErrno, messageOf } from './errors.js';

/**
 * A content-addressed app store (`<store>/blobs/sha256/<hex>`, docs/bundle-format.md
 * §Apps): the factory's `apps/` and the device's `var/sota/reset-apps/` share the layout.
 * An app's tree is walked by `@offline-ota/format`'s walkAppTree, the device's walker, over
 * format's store reader; this module only puts the simulator's error codes on it.
 */
export const appUriFile = (store: string, app: string, hex: string): string =>
  join(store, 'apps', app, hex, 'uri');

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
  return (await hashFile(file, Number.MAX_SAFE_INTEGER)).hex === hex ? null : 'digest';
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

/**
 * The reader port over a store directory (format's storeReader) with the simulator's codes:
 * a blob that is missing or corrupted is APP_INCOMPLETE, one over its cap FACTORY_INVALID.
 */
function simStoreReader(store: string, what: string): SmallBlobReader {
  const read = storeReader(store);
  return async (hex, cap) => {
    try {
      return await read(hex, cap);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      const problem =
        err.code === 'NO_TARGET_CONTENT' ? describeProblem('missing', hex) : err.message;
      throw new DeviceSimError(
        err.code === 'NO_TARGET_CONTENT' || err.code === 'CONTENT_INVALID'
          ? 'APP_INCOMPLETE'
          : 'FACTORY_INVALID',
        `${what}: ${problem} (${err.file ?? store})`,
        { cause: err, file: err.file ?? store },
      );
    }
  };
}

/** Reads a small JSON blob, checking its digest first. */
export async function readJsonBlob(
  store: string,
  hex: string,
  cap: number,
  what: string,
): Promise<unknown> {
  const bytes = await simStoreReader(store, what)(hex, cap);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    const file = blobPath(store, hex);
    throw new DeviceSimError('FACTORY_INVALID', `${what} ${file} is not JSON: ${messageOf(err)}`, {
      cause: err,
      file,
    });
  }
}

/** The parts of a compose app (docs/bundle-format.md §Apps). */
export interface AppContent {
  manifestHex: string;
  /** layers[0]: gzip tar with docker-compose.yml. */
  composeBundle: { hex: string; size: number };
  /** Each image: its manifest, config and layer digests (hex). */
  images: Array<{ ref: string; manifestHex: string; configHex: string; layers: string[] }>;
  /** Every blob the app needs, manifest first, without duplicates. */
  blobs: Array<{ hex: string; size: number }>;
}

/**
 * Walks an app from its manifest with the device's walker (walkAppTree): a blob missing or
 * corrupted is APP_INCOMPLETE, a tree that breaks the format FACTORY_INVALID.
 */
export async function appContent(
  store: string,
  app: string,
  manifestHex: string,
): Promise<AppContent> {
  let tree;
  try {
    tree = await walkAppTree(manifestHex, simStoreReader(store, `app ${app}`), `app ${app}`);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    throw new DeviceSimError('FACTORY_INVALID', `${err.message} (store ${store})`, {
      cause: err,
      ...(err.file === undefined ? {} : { file: err.file }),
    });
  }
  return {
    manifestHex,
    composeBundle: tree.composeBundle,
    images: tree.images.map((im) => ({
      ref: im.ref ?? `sha256:${im.manifest.hex}`,
      manifestHex: im.manifest.hex,
      configHex: im.config.hex,
      layers: im.layers.map((l) => l.hex),
    })),
    blobs: tree.blobs.map((b) => ({ hex: b.digest, size: b.size })),
  };
}
