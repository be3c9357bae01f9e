/**
 * Opening the media named by `--src-dir` / `--src-file`. With `[pacman] security_unpack`
 * set, only single-file bundles are accepted, and each is streamed through that program
 * first (unpack.ts); the plain bundle it writes is what the check-in reads.
 */
import { lstat } from 'node:fs/promises';
import { openBundleSource, ZIP_LIMITS, type BundleSource } from '@offline-ota/format';
import type { Device } from './device.js';
import { AkliteError } from './errors.js';
import { securityUnpack } from './unpack.js';

export async function openMedia(dev: Device, path: string): Promise<BundleSource> {
  const program = dev.config.securityUnpack;
  if (program === undefined) return openBundleSource(path);
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) {
    throw new AkliteError(
      'INVALID_ARGUMENT',
      `${path} is a bundle directory, but this device unpacks every bundle with [pacman] security_unpack = ${program}; ` +
        'give the single-file bundle with --src-file',
    );
  }
  dev.ports.progress(`Unpacking ${path} with ${program}`);
  const unpacked = await securityUnpack({
    program,
    input: path,
    workDir: dev.config.storageDir,
    maxBytes: ZIP_LIMITS.maxTotalSize,
    env: { AKLITE_DEVICE_ROOT: dev.root },
  });
  let source: BundleSource;
  try {
    source = await openBundleSource(unpacked.file);
  } catch (err) {
    await unpacked.cleanup();
    throw err;
  }
  return {
    ...source,
    close: async () => {
      await source.close();
      await unpacked.cleanup();
    },
  };
}
