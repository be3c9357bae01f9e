/**
 * The device's check of a bundle, shared by `aklite-offline` and by `bundlectl
 * verify`/`create`: the steps below, in order. Each step is a function in
 * checkin-steps.ts or tuf-client.ts whose comment names the TUF client-workflow step
 * (TUF §5.x) or the docs/bundle-format.md section it implements; each refusal is a
 * FormatError whose code `exitStatusFor` (check-status.ts) maps to the exit status.
 *
 *   1. readBundleMetadata      §TUF metadata: every tuf/ file read once, capped
 *   2. checkManifestShape      §The bundle manifest: parses; claimed type is the device's
 *   3. loadTrustedRoot         TUF §5.2: stored root (trust-store.ts), else the shipped one
 *   4. walkRootChain           TUF §5.3: N.root.json from the trusted root + 1
 *   5. checkManifest           §The bundle manifest: targets keys to threshold, expiry, tag
 *   6. updateTufRoles          TUF §5.4–5.6: timestamp, snapshot, targets (tuf-client.ts)
 *   7. refreshWithTufJs        TUF §5.3–5.6 again by tuf-js on a working copy
 *   8. checkStoredSet          the set to be put in force, read back and checked whole
 *   9. selectMatchingTargets   §Targets: manifest ∩ trusted Targets, hardware id, tags
 *  10. checkContent            §OSTree repository, §Apps: the content is on the media
 *                              (a delta Target's: its commit object; §Delta bundles)
 *
 * A stick whose metadata is older than the device's (TUF_ROLLBACK at 6) is refused with
 * words that name the role and both versions (exit 3, issue 11 §3): nothing of it is used,
 * the device's trusted metadata stays. `commit()` puts the working copy in force with the
 * trust store's atomic swap.
 */
import type { BundleSource } from './bundle-source.js';
import { openBundleSource } from './bundle-source.js';
import {
  checkContent,
  checkManifest,
  checkManifestShape,
  checkStoredSet,
  loadTrustedRoot,
  readBundleMetadata,
  refreshWithTufJs,
  selectMatchingTargets,
  walkRootChain,
  type ContentRecord,
} from './checkin-steps.js';
import { BUNDLE_MANIFEST_FIELD, type BundleType } from './layout.js';
import type { BundleManifestSigned } from './manifest.js';
import type { Envelope } from './metadata.js';
import type { TargetEntry } from './target.js';
import { readTrustedCopies, updateTufRoles, type TufUpdateRecord } from './tuf-client.js';
import {
  commitWorkCopy,
  type TrustCommit,
  discardWorkCopy,
  openWorkCopy,
  type TrustCheckpoint,
} from './trust-store.js';

export interface CheckBundleOptions {
  /** A bundle directory or a single-file bundle (zip), read in place. */
  bundleDir: string;
  /** An already opened source for `bundleDir` (the caller keeps and closes it). */
  source?: BundleSource;
  /** Trusted metadata: `<trustDir>/<type>/root.json` etc. (trust-store.ts layout). */
  trustDir: string;
  /** Roots shipped with the image (`<dir>/<type>/<N>.root.json`), used when trustDir has none. */
  shippedRootsDir?: string;
  /** The device's type; undefined for a device that takes the type of its first bundle. */
  deviceType: BundleType | undefined;
  hardwareId: string;
  /** Device tags; empty accepts any tag. */
  tags: readonly string[];
  now: Date;
  /** Whether the device runs compose apps (`[pacman] type`). */
  appsEnabled: boolean;
  /** `[pacman] compose_apps`; undefined means all of a Target's apps. */
  composeApps?: readonly string[] | undefined;
  /** Host only (`bundlectl create` of a production bundle): accept a manifest below threshold. */
  allowUnsignedManifest?: boolean;
  /** Called between the operations of the trust-store swap in `commit()` (power-cut tests). */
  checkpoint?: TrustCheckpoint;
}

/** What the check-in verified, for logs and `--json` output. */
export interface Verified {
  /** Root versions: the device's trusted one and the newest after the chain walk. */
  root: { trusted: number; newest: number };
  /** The bundle manifest: key ids counted toward the newest root's targets threshold. */
  manifest: { keyids: string[]; threshold: number; expires: string };
  /** Timestamp, snapshot and targets in force (versions, key ids counted, sha256). */
  tuf: TufUpdateRecord;
  /** Per available Target: the OSTree commit and app blob digests found on the media. */
  content: ContentRecord[];
}

export interface CheckBundleResult {
  type: BundleType;
  tag: string;
  manifest: Envelope<BundleManifestSigned>;
  /** Newest root version after the chain walk. */
  rootVersion: number;
  /** Every trusted Target listed by the manifest and fitting the device (before the content check). */
  matching: TargetEntry[];
  /** Matching Targets whose content is on the media, by ascending version. */
  available: TargetEntry[];
  /** Per matching Target without content: why. */
  unavailable: { name: string; reason: string }[];
  /** What was verified. */
  verified: Verified;
  /**
   * Put the refreshed copy in force (trust-store.ts: one rename of a symlink). With
   * `keepPrevious`, the previous version stays until `finish()`, and `revert()` puts it back.
   */
  commit(opts?: { keepPrevious?: boolean }): Promise<TrustCommit>;
  /** Remove the working copy without changing the trusted metadata. */
  discard(): Promise<void>;
}

export async function checkBundle(opts: CheckBundleOptions): Promise<CheckBundleResult> {
  const source = opts.source ?? (await openBundleSource(opts.bundleDir));
  try {
    return await checkBundleFrom(source, opts);
  } finally {
    if (opts.source === undefined) await source.close();
  }
}

async function checkBundleFrom(
  source: BundleSource,
  opts: CheckBundleOptions,
): Promise<CheckBundleResult> {
  const meta = await readBundleMetadata(source);
  const manifest = checkManifestShape(meta, opts.deviceType);
  const info = manifest.signed[BUNDLE_MANIFEST_FIELD];
  const type = info.type;
  const trusted = await loadTrustedRoot(opts.trustDir, opts.shippedRootsDir, type);
  const chain = walkRootChain(meta, trusted);
  const newestRoot = chain.at(-1) ?? trusted;
  const signedManifest = checkManifest(manifest, newestRoot.signed, opts);

  const workDir = await openWorkCopy(opts.trustDir, type, trusted);
  const discard = () => discardWorkCopy(workDir);
  try {
    const tuf = updateTufRoles(
      meta.files,
      await readTrustedCopies(workDir),
      newestRoot.signed,
      opts.now,
    ).record;
    await refreshWithTufJs(meta, opts.bundleDir, workDir, chain.length);
    const set = await checkStoredSet(workDir, opts.now, meta.rootVersions.at(-1) ?? 0);
    const matching = selectMatchingTargets(set.targets, info.targets, opts);
    const content = await checkContent(matching, opts, source, opts.bundleDir, manifest.signed);
    return {
      type,
      tag: info.tag,
      manifest,
      rootVersion: newestRoot.signed.version,
      matching,
      available: content.available,
      unavailable: content.unavailable,
      verified: {
        root: { trusted: trusted.signed.version, newest: newestRoot.signed.version },
        manifest: {
          keyids: signedManifest.validKeyids,
          threshold: signedManifest.threshold,
          expires: manifest.signed.expires,
        },
        tuf,
        content: content.records,
      },
      commit: (o) => commitWorkCopy(opts.trustDir, type, workDir, opts.checkpoint, o),
      discard,
    };
  } catch (err) {
    await discard();
    throw err;
  }
}
