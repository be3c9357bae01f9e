import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalBytes, MEDIA_TYPES } from '@offline-ota/format';
import { COMPOSE_FILE } from './app-store.js';
import { BundleError, errorMessage } from './errors.js';
import { sha256Hex } from './fsutil.js';
import { buildTar, gzipDeterministic, type TarEntry } from './tarball.js';

/**
 * Sample content generators for `bundlectl sample`, the demo and the tests' fixtures. They
 * build real inputs (a bootable-looking rootfs tree, compose projects with OCI image
 * layouts) that the production publisher consumes unchanged. Whole test factories are
 * built by the private testkit package, never by this one.
 */

export const SAMPLE_KERNEL_VERSION = '6.1.0-sim';

export interface SampleRootfsOptions {
  version: number | string;
  osName?: string;
  /** Extra files, path relative to the rootfs root → content. */
  extraFiles?: Record<string, string | Uint8Array>;
}

async function put(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
}

/**
 * Writes a rootfs tree OSTree can deploy: `usr/lib/modules/<kver>/vmlinuz`,
 * `usr/etc/os-release` (ID, PRETTY_NAME, VERSION_ID), `usr/bin/hello` and
 * `usr/etc/app.conf`. Returns `dir`.
 */
export async function makeSampleRootfs(dir: string, o: SampleRootfsOptions): Promise<string> {
  const osName = o.osName ?? 'lmp';
  const version = String(o.version);
  await put(
    join(dir, 'usr/lib/modules', SAMPLE_KERNEL_VERSION, 'vmlinuz'),
    `sim kernel ${SAMPLE_KERNEL_VERSION}\n`,
  );
  await put(
    join(dir, 'usr/etc/os-release'),
    [
      `ID=${osName}`,
      'NAME="Linux-microPlatform (simulated)"',
      `PRETTY_NAME="Linux-microPlatform (simulated) ${version}"`,
      `VERSION_ID=${version}`,
      `IMAGE_VERSION=${version}`,
      '',
    ].join('\n'),
  );
  await put(
    join(dir, 'usr/bin/hello'),
    `#!/bin/sh\necho "hello from rootfs version ${version}"\n`,
    0o755,
  );
  await put(join(dir, 'usr/etc/app.conf'), `# sample configuration\nversion=${version}\n`);
  for (const [rel, content] of Object.entries(o.extraFiles ?? {})) {
    if (rel.startsWith('/') || rel.split('/').includes('..')) {
      throw new BundleError('INVALID_ARGUMENT', `extra rootfs file path must be relative: ${rel}`);
    }
    await put(join(dir, rel), content);
  }
  return dir;
}

/** Where Debian's busybox-static installs its static busybox. */
export const DEFAULT_BUSYBOX = '/bin/busybox';

/**
 * A runnable service (the image then holds a static busybox as `bin/busybox` and runs it):
 * it prints `<image> serving version <serves>` and keeps running until it is stopped, or,
 * with `exitCode`, prints an error and exits with that code (the failure tests' variant).
 */
export interface SampleService {
  serves: string;
  exitCode?: number;
  /** A statically linked busybox; default /bin/busybox (Debian's busybox-static). */
  busybox?: string;
}

export interface SampleImage {
  name: string;
  /** Files of the image's single layer: path → content. */
  files?: Record<string, string | Uint8Array>;
  /** Makes the image runnable (see SampleService); without it the image holds files only. */
  service?: SampleService;
}

export interface SampleAppOptions {
  name: string;
  images: SampleImage[];
}

export interface SampleApp {
  /** The compose project directory (`<dir>/<name>`); its basename is the app name. */
  projectDir: string;
  name: string;
  /** Image name → image manifest digest (`sha256:<hex>`). */
  images: Record<string, string>;
}

async function putBlobFile(
  layoutDir: string,
  bytes: Uint8Array,
): Promise<{ digest: string; size: number }> {
  const hex = sha256Hex(bytes);
  await put(join(layoutDir, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** A busybox that runs in an image with nothing else: it must exist and be statically linked. */
async function readStaticBusybox(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BundleError(
      'INVALID_ARGUMENT',
      `cannot read busybox at ${path} (${errorMessage(err)}); install Debian's busybox-static (apt-get install busybox-static) or pass another static busybox`,
      { cause: err },
    );
  }
  // An ELF executable with a PT_INTERP program header needs a dynamic loader the image lacks.
  const isElf = bytes.length > 64 && bytes.readUInt32BE(0) === 0x7f454c46 && bytes[4] === 2;
  let dynamic = false;
  if (isElf) {
    const phoff = Number(bytes.readBigUInt64LE(0x20));
    const phentsize = bytes.readUInt16LE(0x36);
    const phnum = bytes.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++)
      if (bytes.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) dynamic = true;
  }
  if (!isElf || dynamic)
    throw new BundleError(
      'INVALID_ARGUMENT',
      `${path} is not a statically linked 64-bit executable; install Debian's busybox-static (apt-get install busybox-static)`,
    );
  return bytes;
}

/** The shell script a sample service runs (busybox sh). */
export function sampleServiceScript(image: string, s: SampleService): string {
  const banner = `echo "${image} serving version ${s.serves.replace(/[^A-Za-z0-9 ._:-]/g, '_')}"`;
  if (s.exitCode !== undefined)
    return `${banner}; echo "${image}: cannot start: no configuration" >&2; exit ${s.exitCode}`;
  return `trap 'exit 0' TERM INT; ${banner}; while :; do sleep 1 & wait $!; done`;
}

/** Builds an OCI image layout from scratch: one gzip tar layer, a config and a manifest. */
async function makeImageLayout(layoutDir: string, image: SampleImage): Promise<string> {
  const entries: TarEntry[] = Object.entries(image.files ?? {}).map(([path, content]) => ({
    path: path.replace(/^\/+/, ''),
    data: typeof content === 'string' ? Buffer.from(content) : content,
  }));
  let cmd = ['/bin/sh'];
  if (image.service !== undefined) {
    if (
      image.service.exitCode !== undefined &&
      (!Number.isInteger(image.service.exitCode) ||
        image.service.exitCode < 1 ||
        image.service.exitCode > 255)
    )
      throw new BundleError('INVALID_ARGUMENT', 'a sample service exit code must be 1 to 255');
    entries.push({
      path: 'bin/busybox',
      data: await readStaticBusybox(image.service.busybox ?? DEFAULT_BUSYBOX),
      mode: 0o755,
    });
    cmd = ['/bin/busybox', 'sh', '-c', sampleServiceScript(image.name, image.service)];
  }
  const tar = buildTar(entries);
  const layer = await putBlobFile(layoutDir, gzipDeterministic(tar));
  const config = await putBlobFile(
    layoutDir,
    canonicalBytes({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: cmd, Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256Hex(tar)}`] },
    }),
  );
  const manifest = await putBlobFile(
    layoutDir,
    canonicalBytes({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, ...config },
      layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, ...layer }],
    }),
  );
  await put(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await put(
    join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, ...manifest }],
    }),
  );
  return manifest.digest;
}

/**
 * Writes a compose project `<dir>/<name>/`: `docker-compose.yml` with one service per
 * image (`image: <image name>`, no network, never pulled, restarted by the engine) and
 * `images/<image name>/` OCI image layouts.
 */
export async function makeSampleApp(dir: string, o: SampleAppOptions): Promise<SampleApp> {
  if (o.images.length === 0)
    throw new BundleError('INVALID_ARGUMENT', 'a sample app needs at least one image');
  const projectDir = join(dir, o.name);
  const images: Record<string, string> = {};
  const lines = ['services:'];
  for (const image of o.images) {
    images[image.name] = await makeImageLayout(join(projectDir, 'images', image.name), image);
    lines.push(
      `  ${image.name}:`,
      `    image: ${image.name}`,
      '    network_mode: none',
      '    pull_policy: never',
      // A failing sample exits once; a service comes back after a reboot (or a crash).
      `    restart: ${image.service?.exitCode !== undefined ? '"no"' : 'always'}`,
    );
  }
  await put(join(projectDir, COMPOSE_FILE), lines.join('\n') + '\n');
  return { projectDir, name: o.name, images };
}
