/**
 * Compose apps on the device: blobs copied from the media into the device's app store
 * (`var/sota/reset-apps/blobs/sha256/`) with every digest and size checked on the bytes
 * written, compose projects extracted from the store into `compose-apps/<app>/`, and a
 * Target's apps started through the compose port (`startApps`).
 */
import { createHash } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  type FileHandle,
} from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import {
  appBlobPath,
  blobPath,
  BUNDLE_DIRS,
  CAPS,
  errnoInChain,
  FormatError,
  MEDIA_GONE_ERRNOS,
  planAppBlobs,
  requiredApps,
  storeReader,
  type AppBlob,
  type BundleSource,
  type SmallBlobReader,
  type ZipBundle,
} from '@offline-ota/format';
import type { DeviceConfig } from './config.js';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { fsyncDir, swapDir } from './fsutil.js';
import { AppStartError, type Ports } from './ports.js';
import type { TargetRecord } from './state.js';

export interface StagedBlob {
  blob: AppBlob;
  /** Path of the verified copy in the staging directory. */
  staged: string;
}

/**
 * The blobs of the given apps that the device store lacks (present ones are size-checked).
 * The apps' JSON blobs are read through `reader` (default: the media's).
 */
export async function missingBlobs(
  media: BundleSource,
  deviceStore: string,
  uris: readonly string[],
  reader: SmallBlobReader = media.blobReader(),
): Promise<AppBlob[]> {
  const out = new Map<string, AppBlob>();
  for (const uri of uris) {
    let blobs: AppBlob[];
    try {
      blobs = await planAppBlobs(uri, reader);
    } catch (err) {
      throw new AkliteError(
        'VERIFICATION_FAILED',
        `app ${uri} on the media is invalid: ${messageOf(err)}; do not use this media`,
        {
          cause: err,
        },
      );
    }
    for (const b of blobs) {
      const st = await lstat(blobPath(deviceStore, b.digest)).catch(() => undefined);
      if (st?.isFile() && (b.size === undefined || st.size === b.size)) continue;
      out.set(b.digest, b);
    }
  }
  return [...out.values()];
}

/** Bytes read at once when copying a blob (one buffer, reused for every blob). */
const COPY_CHUNK = 256 * 1024;

/** Counts the bytes copied into staging, for the `copy-apps` progress. */
export type CopyProgress = (bytes: number) => void;

/**
 * Copies one blob into `stagingDir` through `buf`, hashing the bytes as they are written;
 * the copy is fsynced. A digest or size mismatch is VERIFICATION_FAILED (70), a read error
 * DOWNLOAD_FAILED (50).
 */
async function stageBlob(
  mediaStore: string,
  stagingDir: string,
  b: AppBlob,
  buf: Buffer,
  onBytes: CopyProgress,
): Promise<string> {
  const src = blobPath(mediaStore, b.digest);
  const dst = join(stagingDir, b.digest);
  const cap = b.size ?? CAPS.appManifest;
  const hash = createHash('sha256');
  let size = 0;
  const out = await open(dst, 'wx', 0o644);
  try {
    let input: FileHandle | undefined;
    try {
      input = await open(src, 'r');
      for (;;) {
        // One byte more than the cap shows a blob that is too large.
        const want = Math.min(buf.length, cap + 1 - size);
        const { bytesRead } = await input.read(buf, 0, want, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        if (size > cap) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await out.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
        onBytes(bytesRead);
      }
    } catch (err) {
      throw new AkliteError(
        'DOWNLOAD_FAILED',
        `cannot read app blob ${src} from the media: ${messageOf(err)}; check the media and try again`,
        {
          cause: err,
          file: src,
        },
      );
    } finally {
      await input?.close();
    }
    await out.sync();
  } finally {
    await out.close();
  }
  const hex = hash.digest('hex');
  if (size > cap || hex !== b.digest || (b.size !== undefined && size !== b.size)) {
    throw new AkliteError(
      'VERIFICATION_FAILED',
      `app blob ${src} (${b.kind}) does not match its signed digest sha256:${b.digest}` +
        (b.size !== undefined ? ` and size ${b.size}` : '') +
        '; the media is corrupted or tampered with: do not use it',
      { file: src },
    );
  }
  return dst;
}

/**
 * Maps a failure to read content out of a single-file bundle: content that is not what the
 * archive or the signed metadata says (a local header that disagrees with the directory
 * included) is VERIFICATION_FAILED (70), anything else (the media going away, a file that
 * shrank while read) DOWNLOAD_FAILED (50).
 */
export function zipReadError(err: unknown, what: string, zipPath: string): AkliteError {
  const invalid =
    err instanceof FormatError &&
    ['CONTENT_INVALID', 'FILE_TOO_LARGE', 'PATH_ESCAPE', 'INVALID_METADATA'].includes(err.code);
  const gone =
    (err instanceof FormatError && err.code === 'MEDIA_UNREADABLE') ||
    MEDIA_GONE_ERRNOS.has(errnoInChain(err) ?? '');
  return new AkliteError(
    invalid ? 'VERIFICATION_FAILED' : 'DOWNLOAD_FAILED',
    `cannot use ${what} from ${zipPath}: ${messageOf(err)}; ` +
      (invalid
        ? 'the media is corrupted or tampered with: do not use it'
        : gone && !messageOf(err).includes('media went away')
          ? 'the media went away: reconnect it, check it and try again'
          : 'check the media and try again'),
    { cause: err, file: zipPath },
  );
}

/** Streams one blob out of a single-file bundle into `stagingDir`, checked on the way. */
async function stageZipBlob(
  zip: ZipBundle,
  stagingDir: string,
  b: AppBlob,
  onBytes: CopyProgress,
): Promise<string> {
  const dst = join(stagingDir, b.digest);
  let reported = 0;
  try {
    await zip.copyEntryTo(appBlobPath(b.digest), dst, {
      stagingRoot: stagingDir,
      expectSha256: b.digest,
      ...(b.size !== undefined ? { expectSize: b.size } : {}),
      onProgress: (p) => {
        onBytes(p.done - reported);
        reported = p.done;
      },
    });
  } catch (err) {
    throw zipReadError(err, `app blob sha256:${b.digest} (${b.kind})`, zip.path);
  }
  return dst;
}

/**
 * Copies the blobs into `stagingDir`, checked on the way, reporting the bytes copied so far
 * (of the blobs' signed sizes) through `onProgress`.
 */
export async function stageBlobs(
  media: BundleSource,
  stagingDir: string,
  blobs: readonly AppBlob[],
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<StagedBlob[]> {
  await mkdir(stagingDir, { recursive: true });
  const out: StagedBlob[] = [];
  const mediaStore = join(media.path, BUNDLE_DIRS.apps);
  const total = blobs.reduce((n, b) => n + (b.size ?? 0), 0);
  let done = 0;
  const onBytes: CopyProgress = (n) => {
    done += n;
    onProgress(done, Math.max(total, done));
  };
  const zip = media.zip;
  const buf = Buffer.allocUnsafe(zip === undefined ? COPY_CHUNK : 0);
  for (const b of blobs)
    out.push({
      blob: b,
      staged:
        zip !== undefined
          ? await stageZipBlob(zip, stagingDir, b, onBytes)
          : await stageBlob(mediaStore, stagingDir, b, buf, onBytes),
    });
  await fsyncDir(stagingDir);
  return out;
}

/** Moves verified blobs into the store by rename (same filesystem) and fsyncs the directory. */
export async function commitBlobs(
  deviceStore: string,
  staged: readonly StagedBlob[],
): Promise<void> {
  const dir = join(deviceStore, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  for (const s of staged) await rename(s.staged, blobPath(deviceStore, s.blob.digest));
  await fsyncDir(dir);
}

/** The digest of an app's compose bundle (layers[0] of its manifest), read from the device store. */
async function composeBundleOf(deviceStore: string, uri: string): Promise<AppBlob> {
  const blobs = await planAppBlobs(uri, storeReader(deviceStore));
  const bundle = blobs.find((b) => b.kind === 'compose-bundle');
  if (!bundle) throw new AkliteError('VERIFICATION_FAILED', `app ${uri} has no compose bundle`);
  return bundle;
}

function escapes(path: string): boolean {
  if (isAbsolute(path)) return true;
  const n = normalize(path);
  return n === '..' || n.startsWith('..' + sep);
}

/**
 * Extracts an app's compose bundle (a gzip tar) from the store into `<composeRoot>/<app>`:
 * into a temporary directory first, refusing any entry that would escape it (absolute
 * paths, `..`, links pointing outside, devices), then swapped in by rename.
 */
export async function extractApp(
  deviceStore: string,
  composeRoot: string,
  app: string,
  uri: string,
): Promise<string> {
  let bundle: AppBlob;
  let bytes: Buffer;
  try {
    bundle = await composeBundleOf(deviceStore, uri);
    bytes = await storeReader(deviceStore)(bundle.digest, bundle.size ?? CAPS.composeBundle);
  } catch (err) {
    if (err instanceof AkliteError) throw err;
    throw new AkliteError(
      'VERIFICATION_FAILED',
      `app ${app}: its content in ${deviceStore} is invalid: ${messageOf(err)}`,
      { cause: err },
    );
  }
  if (bundle.size !== undefined && bytes.length !== bundle.size) {
    throw new AkliteError(
      'VERIFICATION_FAILED',
      `app ${app}: compose bundle sha256:${bundle.digest} has the wrong size`,
    );
  }
  await mkdir(composeRoot, { recursive: true });
  const tmp = await mkdtemp(join(composeRoot, `.${app}.new-`));
  const bad: string[] = [];
  try {
    await pipeline(
      Readable.from([bytes]),
      tar.x({
        cwd: tmp,
        strict: true,
        preservePaths: false,
        filter: (path, entry) => {
          const e = entry as tar.ReadEntry;
          const type = e.type;
          const ok =
            !escapes(path) &&
            (type === 'File' ||
              type === 'OldFile' ||
              type === 'Directory' ||
              type === 'ContiguousFile' ||
              (type === 'SymbolicLink' &&
                e.linkpath !== undefined &&
                !isAbsolute(e.linkpath) &&
                !escapes(join(path, '..', e.linkpath))));
          if (!ok) bad.push(path);
          return ok;
        },
      }),
    );
    if (bad.length > 0) {
      throw new AkliteError(
        'VERIFICATION_FAILED',
        `app ${app}: compose bundle sha256:${bundle.digest} holds entries escaping the app directory: ${bad.join(', ')}`,
      );
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof AkliteError) throw err;
    throw new AkliteError(
      'VERIFICATION_FAILED',
      `app ${app}: compose bundle sha256:${bundle.digest} is not a valid gzip tar: ${messageOf(err)}`,
      {
        cause: err,
      },
    );
  }
  const dest = join(composeRoot, app);
  await swapDir(tmp, dest);
  return dest;
}

/** Leftovers of interrupted extractions (`.<app>.new-*`, `.<app>.old-*`). */
export async function cleanComposeRoot(composeRoot: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(composeRoot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const n of names) {
    if (/^\..+\.(new|old)-[0-9A-Za-z]+$/.test(n))
      await rm(join(composeRoot, n), { recursive: true, force: true });
  }
}

/**
 * Extracts each app's compose project of `t` from the store and starts it (`up -d`); apps
 * of earlier Targets that this one does not run are stopped and removed. A project that
 * cannot be set up or started is an AppStartError naming the app.
 */
export async function startApps(
  config: DeviceConfig,
  ports: Pick<Ports, 'compose' | 'progress' | 'checkpoint'>,
  t: TargetRecord,
): Promise<void> {
  if (config.packageManager !== 'ostree+compose_apps') return;
  const apps = requiredApps(t, config.composeApps);
  await cleanComposeRoot(config.composeAppsRoot);
  let existing: string[] = [];
  try {
    existing = (await readdir(config.composeAppsRoot)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  for (const name of existing.filter((n) => !(n in apps))) {
    const dir = join(config.composeAppsRoot, name);
    await ports.compose
      .down(dir)
      .catch((e: unknown) =>
        ports.progress(`Warning: stopping app ${name} failed: ${messageOf(e)}`),
      );
    await rm(dir, { recursive: true, force: true });
  }
  const dirs: [string, string][] = [];
  for (const [name, uri] of Object.entries(apps).sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      dirs.push([name, await extractApp(config.appStore, config.composeAppsRoot, name, uri)]);
    } catch (err) {
      throw new AppStartError(
        name,
        `app ${name} cannot be set up from ${config.appStore}: ${messageOf(err)}`,
      );
    }
  }
  ports.checkpoint('apps-extracted');
  for (const [name, dir] of dirs) {
    ports.progress(`Starting app ${name}`);
    await ports.compose.up(dir);
  }
}

/** Restarts the apps of `t` after a rollback; a failure is reported, not thrown. */
export async function restartApps(
  config: DeviceConfig,
  ports: Pick<Ports, 'compose' | 'progress' | 'checkpoint'>,
  t: TargetRecord,
): Promise<void> {
  await startApps(config, ports, t).catch((err: unknown) =>
    ports.progress(`Warning: restarting the apps of ${t.name} failed: ${messageOf(err)}`),
  );
}
