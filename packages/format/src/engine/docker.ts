/**
 * The docker adapter of the engine port: the docker CLI for images and containers, the
 * configured compose command (`docker compose`, or `docker-compose` 1.x) for `up`.
 *
 * Docker keeps no manifest digest for an image that was loaded rather than pulled, so a
 * compose file's `<name>@sha256:<manifest>` cannot resolve in it by itself. The adapter
 * therefore tags each loaded image `<name>:m-<manifest hex>` (skopeo's docker-daemon
 * transport) and runs `up` with a second compose file, next to the app's, that sets each
 * service's image to the image ID (the pinned config digest) found behind that tag. The
 * app's own compose file stays as signed; nothing is ever pulled.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PINNED_IMAGE_RE, type ComposeProject } from './compose.js';
import { runner, parseInspect } from './cli.js';
import { EngineError } from './errors.js';
import { LABEL_PROJECT, type ContainerEngine, type PinnedImage } from './port.js';

export interface DockerOptions {
  /** The docker client; default `docker`. Its API must be the daemon's or older. */
  bin?: string;
  /** The compose command, e.g. `['docker', 'compose']` or `['docker-compose']`. */
  composeCommand?: readonly string[];
  /** The skopeo program; default `skopeo`. */
  skopeoBin?: string;
  /** The daemon (`unix:///run/docker.sock` style); default: the client's own default. */
  host?: string;
  stopTimeoutSeconds?: number;
}

/** The second compose file the adapter writes into a project for `up`. */
export const DOCKER_IMAGES_FILE = '.engine-images.yml';

const tagOf = (image: PinnedImage): string => {
  const m = PINNED_IMAGE_RE.exec(image.ref);
  if (!m) throw new EngineError('COMPOSE_INVALID', `image ${image.ref} is not pinned by digest`);
  return `${m[1]}:m-${image.manifestHex}`;
};

export function dockerEngine(o: DockerOptions = {}): ContainerEngine {
  const bin = o.bin ?? 'docker';
  const compose = o.composeCommand ?? ['docker', 'compose'];
  const skopeo = o.skopeoBin ?? 'skopeo';
  const stopT = String(o.stopTimeoutSeconds ?? 10);
  const r = runner(o.host === undefined ? {} : { DOCKER_HOST: o.host });
  const global = o.host === undefined ? [] : ['--host', o.host];
  const docker = (args: readonly string[], what: string) => r.ok(bin, [...global, ...args], what);

  const ids = async (app?: string): Promise<string[]> => {
    const res = await docker(
      [
        'ps',
        '-a',
        '--no-trunc',
        '--filter',
        `label=${LABEL_PROJECT}${app === undefined ? '' : `=${app}`}`,
        '--format',
        '{{.ID}}',
      ],
      'listing containers',
    );
    return res.stdout.split('\n').filter((l) => l.trim() !== '');
  };
  const inspect = async (list: readonly string[]) => {
    if (list.length === 0) return [];
    const res = await r.run(bin, [...global, 'inspect', '--type', 'container', ...list]);
    if (res.code !== 0 && res.stdout.trim() === '')
      throw new EngineError('ENGINE_FAILED', `docker inspect failed: ${res.stderr.trim()}`);
    return parseInspect(res.stdout || '[]');
  };
  const imageId = async (ref: string): Promise<string | undefined> => {
    const res = await r.run(bin, [...global, 'image', 'inspect', '--format', '{{.Id}}', ref]);
    return res.code === 0 ? res.stdout.trim().replace(/^sha256:/, '') : undefined;
  };

  const engine: ContainerEngine = {
    name: 'docker',
    describe: o.host === undefined ? 'docker' : `docker at ${o.host}`,
    async loadImage(layoutDir, refName, image) {
      await r.ok(
        skopeo,
        [
          'copy',
          '--quiet',
          ...(o.host === undefined ? [] : ['--dest-daemon-host', o.host]),
          `oci:${layoutDir}:${refName}`,
          `docker-daemon:${tagOf(image)}`,
        ],
        `loading image ${image.ref}`,
      );
      if (!(await engine.hasImage(image)))
        throw new EngineError(
          'ENGINE_FAILED',
          `docker does not hold ${tagOf(image)} as image sha256:${image.configHex} after loading it`,
        );
    },
    async hasImage(image) {
      return (await imageId(tagOf(image))) === image.configHex;
    },
    async up(project: ComposeProject) {
      const lines = ['services:'];
      for (const s of project.services) {
        const m = PINNED_IMAGE_RE.exec(s.image)!;
        const id = await imageId(`${m[1]}:m-${m[2]}`);
        if (id === undefined)
          throw new EngineError(
            'ENGINE_FAILED',
            `app ${project.name} service ${s.name}: image ${s.image} is not loaded into docker`,
          );
        lines.push(
          `  ${JSON.stringify(s.name)}:`,
          `    image: "sha256:${id}"`,
          '    pull_policy: never',
        );
      }
      const override = join(project.dir, DOCKER_IMAGES_FILE);
      await writeFile(override, lines.join('\n') + '\n');
      const [cmd, ...pre] = compose;
      await r.ok(
        cmd,
        [
          ...pre,
          '--project-name',
          project.name,
          '--file',
          project.file,
          '--file',
          override,
          'up',
          '--detach',
          '--no-build',
          '--remove-orphans',
        ],
        `starting app ${project.name} (${compose.join(' ')} up)`,
        { cwd: project.dir },
      );
    },
    async down(app) {
      const list = await ids(app);
      if (list.length > 0) {
        await r.run(bin, [...global, 'stop', '--time', stopT, ...list]);
        await docker(['rm', '--force', ...list], `removing the containers of app ${app}`);
      }
      // compose's default network, if the project made one.
      await r.run(bin, [...global, 'network', 'rm', `${app}_default`]);
    },
    async ps(app) {
      return inspect(await ids(app));
    },
    async logs(container, lines) {
      const res = await docker(
        ['logs', '--tail', String(lines), container],
        `reading the log of ${container}`,
      );
      return (res.stdout + res.stderr).trimEnd();
    },
    async pruneImages(keep) {
      const keepIds = new Set(keep.map((k) => k.configHex));
      const res = await docker(
        ['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'],
        'listing images',
      );
      const removed: string[] = [];
      for (const line of res.stdout.split('\n')) {
        const [id, tag] = line.trim().split(' ');
        // Only images this adapter loaded (tagged m-<manifest>).
        if (id === undefined || tag === undefined || !/:m-[0-9a-f]{64}$/.test(tag)) continue;
        if (keepIds.has(id.replace(/^sha256:/, ''))) continue;
        const rm = await r.run(bin, [...global, 'rmi', tag]);
        if (rm.code === 0) removed.push(tag);
      }
      return removed;
    },
    async stopAll() {
      const list = await ids();
      if (list.length > 0) await r.run(bin, [...global, 'stop', '--time', stopT, ...list]);
    },
    async start(containers) {
      if (containers.length > 0) await docker(['start', ...containers], 'starting containers');
    },
    async removeAll() {
      const list = await ids();
      if (list.length > 0) await docker(['rm', '--force', ...list], 'removing containers');
      await engine.pruneImages([]);
    },
  };
  return engine;
}
