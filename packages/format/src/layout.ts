/**
 * The bundle layout as data (docs/bundle-format.md §Tree and §Size caps). Readers use
 * these names and caps; nothing else on the media is read.
 */
export const BUNDLE_DIRS = { tuf: 'tuf', ostree: 'ostree_repo', apps: 'apps' } as const;

export const TUF_FILES = {
  timestamp: 'timestamp.json',
  snapshot: 'snapshot.json',
  targets: 'targets.json',
  manifest: 'bundle-targets.json',
} as const;

export const rootFileName = (version: number): string => `${version}.root.json`;
export const ROOT_FILE_RE = /^([1-9][0-9]{0,5})\.root\.json$/;

/**
 * The versions of the `N.root.json` files among `names` (a directory listing, or the names
 * of a bundle's `tuf/` files), in ascending order; other names are ignored.
 */
export function rootVersions(names: Iterable<string>): number[] {
  const versions: number[] = [];
  for (const name of names) {
    const m = ROOT_FILE_RE.exec(name);
    if (m !== null) versions.push(Number(m[1]));
  }
  return versions.sort((a, b) => a - b);
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const CAPS = {
  root: 512 * KiB,
  timestamp: 16 * KiB,
  snapshot: 2 * MiB,
  targets: 5 * MiB,
  manifest: 64 * KiB,
  rootChainLength: 256,
  appManifest: 256 * KiB,
  imageManifest: 256 * KiB,
  imageList: 256 * KiB,
  composeBundle: 64 * MiB,
  layer: 16 * GiB,
} as const;

/**
 * The size cap of a file directly under a bundle's `tuf/` (§Size caps), or undefined when the
 * name is not one a reader takes from there. The one table of caps by file name: readers of a
 * bundle directory and of a bundle zip both ask it.
 */
export function tufFileCap(name: string): number | undefined {
  if (ROOT_FILE_RE.test(name)) return CAPS.root;
  switch (name) {
    case TUF_FILES.timestamp:
      return CAPS.timestamp;
    case TUF_FILES.snapshot:
      return CAPS.snapshot;
    case TUF_FILES.targets:
      return CAPS.targets;
    case TUF_FILES.manifest:
      return CAPS.manifest;
    default:
      return undefined;
  }
}

export const BUNDLE_MANIFEST_TYPE = 'bundle-targets';
export const BUNDLE_MANIFEST_FIELD = 'x-offline-bundle';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  composeApp: 'application/vnd.offline-ota.compose-app.v1',
  composeBundle: 'application/vnd.offline-ota.compose-bundle.v1.tar+gzip',
  appImages: 'application/vnd.offline-ota.app-images.v1+json',
} as const;

export type BundleType = 'ci' | 'prod';
export const BUNDLE_TYPES: readonly BundleType[] = ['ci', 'prod'];

/** `<host>/<factory>/<app>@sha256:<hex>` */
export const APP_URI_RE =
  /^([a-z0-9.-]+(?::[0-9]+)?)\/([a-z0-9._-]+)\/([a-z0-9._-]+)@sha256:([0-9a-f]{64})$/;
export const SHA256_HEX_RE = /^[0-9a-f]{64}$/;
