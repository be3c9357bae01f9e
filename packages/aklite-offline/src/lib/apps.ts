/**
 * Compose apps on the device: blobs copied from the media into the device's app store
 * (`var/sota/reset-apps/blobs/sha256/`) with every digest and size checked on the bytes
 * written, images loaded from the store into the container engine, verified on the way
 * (`loadTargetImages`, at install), compose projects extracted from the store into
 * `compose-apps/<app>/`, and a Target's apps started and watched through the engine port
 * (`startApps`, at run).
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
  EngineError,
  loadAppImages,
  parseAppUri,
  pinnedImage,
  planAppBlobs,
  readComposeProject,
  requiredApps,
  storeReader,
  walkAppTree,
  type AppBlob,
  type AppTree,
  type BundleSource,
  type SmallBlobReader,
  type ComposeProject,
  type ContainerEngine,
  type PinnedImage,
  type ServiceStatus,
  type ZipBundle,
} from '@offline-ota/format';
import type { DeviceConfig } from './config.js';
import { AkliteError, isErrno, messageOf } from './errors.js';
import { forEachLimit, fsyncDir, swapDir } from './fsutil.js';
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
 * Copies one blob into `stagingDir` through `buf`, hashing the bytes as they are written
 * (one read of the media per byte). Not fsynced here: `stageBlobs` syncs every copy
 * together. A digest or size mismatch is VERIFICATION_FAILED (70), a read error
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
  await syncAll(out.map((s) => s.staged));
  await fsyncDir(stagingDir);
  return out;
}

/** fsyncs issued at once by `syncAll`. */
const SYNC_CONCURRENCY = 8;

/**
 * Makes the data of every staged copy durable before anything names it: one fsync per file
 * (a directory's fsync persists its entries, not the data of the files in it), all issued
 * together once the copies are written, so the file system commits them in a few journal
 * transactions instead of one wait per blob between copies.
 */
async function syncAll(paths: readonly string[]): Promise<void> {
  await forEachLimit(paths, SYNC_CONCURRENCY, async (path) => {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
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

/** The compose apps `t` runs on this device (none for a plain `ostree` package manager). */
function appsOf(config: DeviceConfig, t: TargetRecord): [string, string][] {
  if (config.packageManager !== 'ostree+compose_apps') return [];
  return Object.entries(requiredApps(t, config.composeApps)).sort(([a], [b]) => (a < b ? -1 : 1));
}

/** An app's tree from the device store, every JSON blob of it checked (70 when it is not). */
async function appTree(config: DeviceConfig, app: string, uri: string): Promise<AppTree> {
  try {
    return await walkAppTree(parseAppUri(uri).digest, storeReader(config.appStore), `app ${app}`);
  } catch (err) {
    throw new AkliteError(
      'VERIFICATION_FAILED',
      `app ${app} in ${config.appStore} is invalid: ${messageOf(err)}; install a bundle holding it again`,
      { cause: err },
    );
  }
}

/** The engine's error as the device's: content that does not match its digest is 70. */
function engineFailure(err: unknown, doing: string): unknown {
  if (!(err instanceof EngineError)) return err;
  if (err.code === 'IMAGE_INVALID')
    return new AkliteError(
      'VERIFICATION_FAILED',
      `${doing}: ${err.message}; install a bundle holding the app again`,
      { cause: err },
    );
  return new AkliteError('INSTALL_FAILED', `${doing}: ${err.message}`, { cause: err });
}

/** Where images are staged (verified layouts) on their way into the engine. */
const loadScratch = (config: DeviceConfig): string => join(config.storageDir, '.engine-load');

/**
 * Loads the images of `t`'s apps from the app store into the container engine (install,
 * before the reboot): every manifest, config and layer checked against the digests the
 * signed Target pins before the engine sees it (format's `loadAppImages`). Images the
 * engine has are skipped, so an interrupted load is finished by running install again.
 */
export async function loadTargetImages(
  config: DeviceConfig,
  ports: Pick<Ports, 'engine' | 'progress' | 'checkpoint'>,
  t: TargetRecord,
): Promise<void> {
  const apps = appsOf(config, t);
  if (apps.length === 0) return;
  await rm(loadScratch(config), { recursive: true, force: true });
  for (const [name, uri] of apps) {
    const tree = await appTree(config, name, uri);
    try {
      const r = await loadAppImages(
        ports.engine,
        config.appStore,
        name,
        tree.images,
        loadScratch(config),
        (ref) => ports.progress(`Loading image ${ref} into ${ports.engine.describe}`),
      );
      if (r.loaded.length > 0) ports.checkpoint('image-loaded');
    } catch (err) {
      throw engineFailure(err, `loading the images of app ${name} into ${ports.engine.describe}`);
    } finally {
      await rm(loadScratch(config), { recursive: true, force: true });
    }
  }
}

/**
 * The apps of `t` that the engine has lost (reference: apps to sync, check's 17): no
 * container of the app, or an image of it the engine does not hold.
 */
export async function missingApps(
  config: DeviceConfig,
  engine: ContainerEngine,
  t: TargetRecord,
): Promise<string[]> {
  const apps = appsOf(config, t);
  if (apps.length === 0) return [];
  let running: Set<string>;
  try {
    running = new Set((await engine.ps()).map((c) => c.app));
  } catch (err) {
    throw engineFailure(err, `asking ${engine.describe} what runs`);
  }
  const out: string[] = [];
  for (const [name, uri] of apps) {
    if (!running.has(name)) {
      out.push(name);
      continue;
    }
    const tree = await appTree(config, name, uri).catch(() => undefined);
    const images = tree?.images ?? [];
    let loaded = tree !== undefined;
    for (const i of images) if (loaded) loaded = await engine.hasImage(pinnedImage(i, name));
    if (!loaded) out.push(name);
  }
  return out;
}

/** The pinned images of the apps of the given Targets (what a prune keeps). */
async function imagesOf(
  config: DeviceConfig,
  targets: readonly TargetRecord[],
): Promise<PinnedImage[]> {
  const out: PinnedImage[] = [];
  for (const t of targets)
    for (const [name, uri] of appsOf(config, t)) {
      const tree = await appTree(config, name, uri).catch(() => undefined);
      for (const image of tree?.images ?? []) out.push(pinnedImage(image, name));
    }
  return out;
}

/** How long every container must keep running, without a restart, to count as started. */
const SETTLE_MS = 750;
const POLL_MS = 250;
/** Lines of a failed service's log kept in the message and the state. */
const LOG_LINES = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until every service of `projects` runs (and is healthy where it has a
 * healthcheck) and has kept running for SETTLE_MS; a container that exits, restarts or
 * turns unhealthy, or a timeout, is an AppStartError naming the app, the service, its
 * exit code and the end of its log.
 */
async function waitStarted(
  engine: ContainerEngine,
  projects: readonly ComposeProject[],
  timeoutSeconds: number,
  clock: () => Date,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const firstSeen = new Map<string, number>();
  for (;;) {
    const list = await engine.ps();
    let pending: { app: string; service: string; why: string; status?: ServiceStatus } | undefined;
    for (const p of projects)
      for (const svc of p.services) {
        const st = list.find((c) => c.app === p.name && c.service === svc.name);
        const fail = async (why: string, s: ServiceStatus): Promise<never> => {
          const log = await engine.logs(s.container, LOG_LINES).catch(() => '');
          const tail = log === '' ? '' : `; its log ends: ${log.split('\n').join(' | ')}`;
          throw new AppStartError(
            {
              app: p.name,
              service: svc.name,
              exitCode: s.exitCode,
              ...(log === '' ? {} : { log }),
            },
            `app ${p.name}: service ${svc.name} ${why}${tail}`,
          );
        };
        if (st === undefined) {
          pending ??= { app: p.name, service: svc.name, why: 'has no container' };
          continue;
        }
        if (st.state === 'exited' || st.state === 'dead')
          await fail(`exited with code ${st.exitCode}`, st);
        if (st.state === 'restarting' || st.restarts > 0)
          await fail(
            `restarts in a loop (last exit code ${st.exitCode}, ${st.restarts} restart(s))`,
            st,
          );
        if (st.health === 'unhealthy') await fail('is unhealthy', st);
        if (st.state !== 'running') {
          pending ??= { app: p.name, service: svc.name, why: `is ${st.state}`, status: st };
          continue;
        }
        if (st.health === 'starting') {
          pending ??= { app: p.name, service: svc.name, why: 'is not healthy yet', status: st };
          continue;
        }
        const key = `${st.container} ${st.startedAt ?? ''}`;
        const seen = firstSeen.get(key) ?? Date.now();
        firstSeen.set(key, seen);
        const started = st.startedAt === undefined ? NaN : Date.parse(st.startedAt);
        const settled = Date.now() - seen >= SETTLE_MS || clock().getTime() - started >= SETTLE_MS;
        if (!settled)
          pending ??= { app: p.name, service: svc.name, why: 'just started', status: st };
      }
    if (pending === undefined) return;
    if (Date.now() >= deadline) {
      const s = pending.status;
      const log = s === undefined ? '' : await engine.logs(s.container, LOG_LINES).catch(() => '');
      throw new AppStartError(
        {
          app: pending.app,
          service: pending.service,
          ...(s === undefined ? {} : { exitCode: s.exitCode }),
          ...(log === '' ? {} : { log }),
        },
        `app ${pending.app}: service ${pending.service} did not start within [pacman] app_start_timeout ` +
          `(${timeoutSeconds} s): it ${pending.why}` +
          (log === '' ? '' : `; its log ends: ${log.split('\n').join(' | ')}`),
      );
    }
    await sleep(POLL_MS);
  }
}

/**
 * Starts the apps of `t` from the engine (run): each compose project is extracted from
 * the store and read, its images must be the app's pinned images (loaded if the engine
 * lacks them, verified on the way); then every container of the previous apps stops and
 * is removed (apps `t` does not run go away with their directories), the projects are
 * brought up, and the apps count as started when the engine says every service runs
 * (healthy where it has a healthcheck) within `[pacman] app_start_timeout`. Images used
 * by neither `t` nor `keep` (the Target to roll back to) are pruned after. A failure to
 * set up or start an app is an AppStartError naming the app.
 */
export async function startApps(
  config: DeviceConfig,
  ports: Pick<Ports, 'engine' | 'progress' | 'checkpoint' | 'clock'>,
  t: TargetRecord,
  keep: readonly TargetRecord[] = [],
): Promise<void> {
  if (config.packageManager !== 'ostree+compose_apps') return;
  const { engine } = ports;
  const apps = appsOf(config, t);
  await cleanComposeRoot(config.composeAppsRoot);
  const projects: ComposeProject[] = [];
  for (const [name, uri] of apps) {
    try {
      const dir = await extractApp(config.appStore, config.composeAppsRoot, name, uri);
      const project = await readComposeProject(dir, name);
      const tree = await appTree(config, name, uri);
      const pinned = new Set(tree.images.map((i) => i.ref));
      const stray = project.services.find((s) => !pinned.has(s.image));
      if (stray)
        throw new AkliteError(
          'VERIFICATION_FAILED',
          `service ${stray.name} runs image ${stray.image}, which is not one of the app's signed images`,
        );
      await loadAppImages(engine, config.appStore, name, tree.images, loadScratch(config)).finally(
        () => rm(loadScratch(config), { recursive: true, force: true }),
      );
      projects.push(project);
    } catch (err) {
      if (err instanceof AppStartError) throw err;
      throw new AppStartError(
        name,
        `app ${name} cannot be set up from ${config.appStore}: ${messageOf(engineFailure(err, 'loading its images'))}`,
      );
    }
  }
  ports.checkpoint('apps-extracted');
  try {
    const running = new Set((await engine.ps()).map((c) => c.app));
    let dirs: string[] = [];
    try {
      dirs = (await readdir(config.composeAppsRoot)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    for (const app of [...new Set([...running, ...dirs])].sort()) {
      if (running.has(app)) {
        ports.progress(`Stopping app ${app}`);
        await engine.down(app);
      }
      if (!apps.some(([name]) => name === app))
        await rm(join(config.composeAppsRoot, app), { recursive: true, force: true });
    }
  } catch (err) {
    throw new AppStartError(
      '(previous apps)',
      `stopping the previous apps failed: ${messageOf(err)}`,
    );
  }
  ports.checkpoint('apps-stopped');
  for (const p of projects) {
    ports.progress(`Starting app ${p.name}`);
    try {
      await engine.up(p);
    } catch (err) {
      throw new AppStartError(p.name, `app ${p.name} failed to start: ${messageOf(err)}`);
    }
  }
  await waitStarted(engine, projects, config.appStartTimeoutSeconds, ports.clock);
  try {
    const removed = await engine.pruneImages(await imagesOf(config, [t, ...keep]));
    if (removed.length > 0)
      ports.progress(`Removed ${removed.length} image(s) no Target here uses`);
  } catch (err) {
    ports.progress(`Warning: removing unused images failed: ${messageOf(err)}`);
  }
}

/** Restarts the apps of `t` after a rollback; a failure is reported, not thrown. */
export async function restartApps(
  config: DeviceConfig,
  ports: Pick<Ports, 'engine' | 'progress' | 'checkpoint' | 'clock'>,
  t: TargetRecord,
): Promise<void> {
  await startApps(config, ports, t).catch((err: unknown) =>
    ports.progress(`Warning: restarting the apps of ${t.name} failed: ${messageOf(err)}`),
  );
}
