/**
 * The podman adapter of the engine port. Images go into containers-storage with
 * `skopeo copy oci:<layout>:<name> containers-storage:[<driver>@<root>+<runroot>]<ref>`,
 * where the image keeps the manifest digest the compose file pins. Compose projects are
 * run by this adapter itself, one `podman create` per service with compose's labels: the
 * podman-compose packaged with Debian 12 (1.0.3) always attaches a project network (and
 * writes its configuration under /etc), ignores `network_mode: none` and does not report a
 * failed start, so it cannot run an offline project reliably (docs/container-engines.md).
 *
 * Health: podman runs healthchecks from systemd timers, which a device without systemd
 * (or the simulator) lacks; `ps` therefore runs `podman healthcheck run` for each running
 * container that has a healthcheck, which is exactly what the timer would do.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { errnoOf } from '../errors.js';
import type { ComposeProject, ComposeService } from './compose.js';
import { runner, parseInspect, shellWords } from './cli.js';
import { EngineError } from './errors.js';
import {
  containerName,
  LABEL_PROJECT,
  LABEL_SERVICE,
  type ContainerEngine,
  type ServiceStatus,
} from './port.js';

export interface PodmanStore {
  /** `--root`: where images and containers live. */
  root: string;
  /** `--runroot`: run-time state (a tmpfs on a real device). */
  runRoot: string;
  /** `--storage-driver`; default vfs (works on every file system, no kernel overlay). */
  driver?: string;
}

export interface PodmanOptions {
  /** The podman program; default `podman`. */
  bin?: string;
  /** The skopeo program; default `skopeo`. */
  skopeoBin?: string;
  /** A store of its own (the simulator's per-device store); default: the system's. */
  store?: PodmanStore;
  /** A containers.conf named by CONTAINERS_CONF for every call (runtime, ulimits). */
  containersConf?: string;
  /** Seconds a container gets to stop before it is killed; default 10. */
  stopTimeoutSeconds?: number;
}

/** Podman refuses a run root longer than this (its sockets live there). */
const MAX_RUN_ROOT = 50;

/**
 * A run root podman accepts: the path itself, or, when it is longer than podman allows
 * (a simulated device deep in a temporary directory), a short symlink to it in /tmp named
 * by the path's digest. `release` removes that symlink.
 */
function shortRunRoot(runRoot: string): {
  path: string;
  ensure: () => void;
  release: () => Promise<void>;
} {
  if (runRoot.length <= MAX_RUN_ROOT)
    return { path: runRoot, ensure: () => undefined, release: () => Promise.resolve() };
  const link = `/tmp/.podman-run-${createHash('sha256').update(runRoot).digest('hex').slice(0, 16)}`;
  const ensure = () => {
    mkdirSync(runRoot, { recursive: true });
    try {
      if (readlinkSync(link) === runRoot) return;
    } catch {
      // not a link to it (yet)
    }
    // A link to elsewhere, or a directory that a late podman cleanup made after the link
    // was released: it is this store's name, so it goes.
    rmSync(link, { recursive: true, force: true });
    try {
      symlinkSync(runRoot, link);
    } catch (err) {
      // Another call made it at the same moment.
      if (!(errnoOf(err) === 'EEXIST' && readlinkSync(link) === runRoot)) throw err;
    }
  };
  return { path: link, ensure, release: () => rm(link, { force: true }) };
}

export function podmanEngine(o: PodmanOptions = {}): ContainerEngine {
  const bin = o.bin ?? 'podman';
  const skopeo = o.skopeoBin ?? 'skopeo';
  const stopT = String(o.stopTimeoutSeconds ?? 10);
  const env: Record<string, string> = {};
  if (o.containersConf !== undefined) env.CONTAINERS_CONF = o.containersConf;
  const raw = runner(env);
  // The run root (or its short link) is made again before each call: a reboot empties /run.
  const r: typeof raw = {
    run: (cmd, args, opts) => {
      run?.ensure();
      return raw.run(cmd, args, opts);
    },
    ok: (cmd, args, what, opts) => {
      run?.ensure();
      return raw.ok(cmd, args, what, opts);
    },
  };
  const store = o.store;
  const driver = store?.driver ?? 'vfs';
  const run = store === undefined ? undefined : shortRunRoot(store.runRoot);
  const global =
    store === undefined || run === undefined
      ? []
      : [
          '--root',
          store.root,
          '--runroot',
          run.path,
          '--storage-driver',
          driver,
          '--tmpdir',
          `${store.runRoot}/libpod`,
          '--network-config-dir',
          `${store.root}/networks`,
        ];
  const podman = (args: readonly string[], what: string) => r.ok(bin, [...global, ...args], what);
  const describe = store === undefined ? 'podman' : `podman (store ${store.root})`;

  const ids = async (filter?: string): Promise<string[]> => {
    const res = await podman(
      [
        'ps',
        '-a',
        '--filter',
        `label=${LABEL_PROJECT}${filter === undefined ? '' : `=${filter}`}`,
        '--format',
        '{{.ID}}',
      ],
      'listing containers',
    );
    return res.stdout.split('\n').filter((l) => l.trim() !== '');
  };

  const inspect = async (list: readonly string[]): Promise<ServiceStatus[]> => {
    if (list.length === 0) return [];
    const res = await r.run(bin, [...global, 'inspect', '--type', 'container', ...list]);
    // A container removed between ps and inspect makes inspect exit non-zero but still
    // print the others.
    if (res.code !== 0 && res.stdout.trim() === '')
      throw new EngineError('ENGINE_FAILED', `podman inspect failed: ${res.stderr.trim()}`);
    return parseInspect(res.stdout || '[]');
  };

  const createArgs = (app: string, s: ComposeService): string[] => {
    if (s.unsupported.length > 0)
      throw new EngineError(
        'COMPOSE_INVALID',
        `app ${app} service ${s.name} uses ${s.unsupported.join(', ')}, which the podman adapter does not run; ` +
          'see docs/container-engines.md for the keys it supports',
      );
    const net = s.networkMode ?? 'none';
    if (net !== 'none' && net !== 'host')
      throw new EngineError(
        'COMPOSE_INVALID',
        `app ${app} service ${s.name} has network_mode "${net}"; the podman adapter runs "none" or "host"`,
      );
    const a = [
      'create',
      '--replace',
      '--name',
      containerName(app, s.name),
      '--label',
      `${LABEL_PROJECT}=${app}`,
      '--label',
      `${LABEL_SERVICE}=${s.name}`,
      '--pull',
      'never',
      '--network',
      net,
      '--restart',
      s.restart,
    ];
    for (const [k, v] of Object.entries(s.labels)) a.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(s.environment)) a.push('--env', `${k}=${v}`);
    if (s.workingDir !== undefined) a.push('--workdir', s.workingDir);
    if (s.user !== undefined) a.push('--user', s.user);
    if (s.stopSignal !== undefined) a.push('--stop-signal', s.stopSignal);
    if (s.entrypoint !== undefined)
      a.push(
        '--entrypoint',
        JSON.stringify(typeof s.entrypoint === 'string' ? shellWords(s.entrypoint) : s.entrypoint),
      );
    const hc = s.healthcheck;
    if (hc !== undefined) {
      a.push(
        '--health-cmd',
        'cmd' in hc.test ? JSON.stringify(hc.test.cmd) : hc.test.shell,
        '--health-interval',
        hc.interval ?? '30s',
      );
      if (hc.timeout !== undefined) a.push('--health-timeout', hc.timeout);
      if (hc.retries !== undefined) a.push('--health-retries', String(hc.retries));
      if (hc.startPeriod !== undefined) a.push('--health-start-period', hc.startPeriod);
    }
    a.push(s.image);
    if (s.command !== undefined)
      a.push(...(typeof s.command === 'string' ? shellWords(s.command) : s.command));
    return a;
  };

  const engine: ContainerEngine = {
    name: 'podman',
    describe,
    async loadImage(layoutDir, refName, image) {
      const dest =
        store === undefined
          ? `containers-storage:${image.ref}`
          : `containers-storage:[${driver}@${store.root}+${run?.path ?? store.runRoot}]${image.ref}`;
      await r.ok(
        skopeo,
        ['copy', '--quiet', `oci:${layoutDir}:${refName}`, dest],
        `loading image ${image.ref}`,
      );
      if (!(await engine.hasImage(image)))
        throw new EngineError(
          'ENGINE_FAILED',
          `podman does not resolve ${image.ref} to image sha256:${image.configHex} after loading it`,
        );
    },
    async hasImage(image) {
      const res = await r.run(bin, [
        ...global,
        'image',
        'inspect',
        '--format',
        '{{.Id}}',
        image.ref,
      ]);
      return res.code === 0 && res.stdout.trim() === image.configHex;
    },
    async up(project: ComposeProject) {
      const args = project.services.map((s) => createArgs(project.name, s));
      // `create --replace` removes a container of the same name first (compose's recreate).
      for (const a of args) await podman(a, `creating a container of app ${project.name}`);
      await podman(
        ['start', ...project.services.map((s) => containerName(project.name, s.name))],
        `starting app ${project.name}`,
      );
    },
    async down(app) {
      const list = await ids(app);
      if (list.length === 0) return;
      await podman(
        ['rm', '--force', '--time', stopT, ...list],
        `removing the containers of app ${app}`,
      );
    },
    async ps(app) {
      const list = await ids(app);
      const before = await inspect(list);
      const checks = before.filter((s) => s.state === 'running' && s.health !== 'none');
      if (checks.length === 0) return before;
      for (const s of checks) await r.run(bin, [...global, 'healthcheck', 'run', s.container]);
      return inspect(list);
    },
    async logs(container, lines) {
      const res = await podman(
        ['logs', '--tail', String(lines), container],
        `reading the log of ${container}`,
      );
      return (res.stdout + res.stderr).trimEnd();
    },
    async pruneImages(keep) {
      const keepIds = new Set(keep.map((k) => k.configHex));
      const res = await podman(['images', '--no-trunc', '--format', '{{.ID}}'], 'listing images');
      const removed: string[] = [];
      const all = [...new Set(res.stdout.split('\n').map((l) => l.trim().replace(/^sha256:/, '')))];
      for (const id of all) {
        if (id === '' || keepIds.has(id)) continue;
        const rm = await r.run(bin, [...global, 'rmi', id]);
        if (rm.code === 0) removed.push(`sha256:${id}`);
      }
      return removed;
    },
    async stopAll() {
      const list = await ids();
      if (list.length > 0) await r.run(bin, [...global, 'stop', '-t', stopT, ...list]);
    },
    async start(containers) {
      if (containers.length > 0) await podman(['start', ...containers], 'starting containers');
    },
    async removeAll() {
      await podman(['rm', '-f', '--all'], 'removing every container');
      await podman(['rmi', '-f', '--all'], 'removing every image');
      await run?.release();
    },
  };
  return engine;
}
