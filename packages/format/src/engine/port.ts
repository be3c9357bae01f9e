/**
 * The container-engine port (docs/architecture.md §Container engine): everything the
 * device and the simulator ask of docker or podman. Two adapters implement it,
 * `podmanEngine` (podman.ts) and `dockerEngine` (docker.ts); the shared contract suite
 * (format's test/engine-contract) runs against both. Nothing else in the project runs
 * docker, podman or skopeo.
 */
import type { ComposeProject } from './compose.js';

export type EngineName = 'docker' | 'podman';

/** An image as a compose file pins it, with the content its manifest names. */
export interface PinnedImage {
  /** `<name>@sha256:<manifest hex>`. */
  ref: string;
  manifestHex: string;
  /** The image config's digest: the engine's image ID. */
  configHex: string;
}

/** What a service's container is doing, as the engine reports it. */
export type ContainerState =
  'created' | 'running' | 'restarting' | 'paused' | 'exited' | 'removing' | 'dead' | 'unknown';

export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';

export interface ServiceStatus {
  /** The compose project (app). */
  app: string;
  service: string;
  container: string;
  /** The image reference the container was created from. */
  image: string;
  state: ContainerState;
  /** The last exit code (0 while it never exited). */
  exitCode: number;
  /** How many times the engine restarted it under its restart policy. */
  restarts: number;
  health: Health;
  /** `HostConfig.RestartPolicy.Name` (`no`, `always`, `unless-stopped`, `on-failure`). */
  restartPolicy: string;
  /** When it last started (ISO time), or undefined when it never did. */
  startedAt: string | undefined;
}

export interface ContainerEngine {
  readonly name: EngineName;
  /** A one-line description for messages (`podman (root /var/…)`, `docker at unix://…`). */
  readonly describe: string;
  /**
   * Loads the image held in the OCI layout `layoutDir` (its index.json names one manifest,
   * tagged `refName`) so that `image.ref` resolves locally. The caller has checked every
   * blob of the layout against the pinned digests.
   */
  loadImage(layoutDir: string, refName: string, image: PinnedImage): Promise<void>;
  /** True when `image.ref` resolves to its pinned manifest in the engine. */
  hasImage(image: PinnedImage): Promise<boolean>;
  /**
   * Creates and starts the project's containers (compose `up -d`), never pulling. The
   * images must be loaded. Containers of the project that run already are recreated.
   */
  up(project: ComposeProject): Promise<void>;
  /** Stops and removes every container of the app (compose `down`); none is fine. */
  down(app: string): Promise<void>;
  /** The containers of every compose project (or of `app`), sorted by app and service. */
  ps(app?: string): Promise<ServiceStatus[]>;
  /** The last `lines` lines of a container's output (stdout and stderr). */
  logs(container: string, lines: number): Promise<string>;
  /** Removes every image whose pinned manifest is not in `keep`; returns the refs removed. */
  pruneImages(keep: readonly PinnedImage[]): Promise<string[]>;
  /** Stops every project container (what a shutdown does to them). */
  stopAll(): Promise<void>;
  /** Starts the given containers (what a boot does to those with a restart policy). */
  start(containers: readonly string[]): Promise<void>;
  /** Removes every container and image of this engine store (the simulator's teardown). */
  removeAll(): Promise<void>;
}

/** The labels compose sets on each container: the project and service it belongs to. */
export const LABEL_PROJECT = 'com.docker.compose.project';
export const LABEL_SERVICE = 'com.docker.compose.service';

/** Container name of a project's service, as docker-compose 1.x and podman-compose name it. */
export const containerName = (app: string, service: string): string => `${app}_${service}_1`;
