/**
 * A device whose ports are in-memory fakes, for unit tests of install, run and update
 * control through the `Ports` seam (milliseconds instead of real ostree and fw_setenv):
 *
 *   ostree          commits and deployments in memory; a deploy creates the deployment's
 *                   directory so the booted deployment resolves as on a real sysroot
 *   bootEnv         a map; `reboot()` plays U-Boot (bootcount, bootlimit, altbootcmd)
 *   engine          a container engine in memory: loaded images, `up`/`down` recorded;
 *                   the services of apps named in `failingApps` exit with code 3
 *   sentinel,
 *   probationMarker tmpfs flags that `reboot()` clears
 *   callback        records each event's MESSAGE and RESULT
 *   clock           settable (`advance`)
 *   checkpoint      records each step; `cutAt` throws PowerCut there (the process dies)
 *
 * Config, state, the trusted metadata and the app store are real files in a temp
 * directory; the media is the committed `test-bundles/`.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTargetEntry, type TargetFileInfo } from '@offline-ota/format';
import type { DeviceOptions } from '../../src/lib/device.js';
import type {
  CheckpointName,
  ContainerEngine,
  Deployment,
  ServiceStatus,
  OstreePort,
  Ports,
  SentinelPort,
} from '../../src/lib/ports.js';
import type { DeviceState, TargetRecord } from '../../src/lib/state.js';

/** dist/test/unit → the repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
export const TEST_BUNDLES = join(REPO, 'test-bundles');
const OS = 'lmp';
const BOOTLIMIT = 3;

/** What a power cut does to the running command: it never returns. */
export class PowerCut extends Error {
  constructor(readonly step: CheckpointName) {
    super(`power cut at ${step}`);
    this.name = 'PowerCut';
  }
}

/** A Target of the committed test factory (`test-bundles/factory/targets/<name>.json`). */
export async function factoryTarget(name: string): Promise<TargetRecord> {
  const entry = JSON.parse(
    await readFile(join(TEST_BUNDLES, 'factory/targets', `${name}.json`), 'utf8'),
  ) as { target: TargetFileInfo };
  return parseTargetEntry(name, entry.target);
}

function flag(): SentinelPort & { set: boolean } {
  const f = {
    set: false,
    exists: () => Promise.resolve(f.set),
    create: () => {
      f.set = true;
      return Promise.resolve();
    },
    remove: () => {
      f.set = false;
      return Promise.resolve();
    },
  };
  return f;
}

export interface FakeDeviceOptions {
  /** The Target the device boots (default sim-x86-lmp-1). */
  target?: string;
  /** `[pacman] probation_seconds` (default 1800). */
  probationSeconds?: number;
  /** Apps whose services exit with code 3 as they start. */
  failingApps?: string[];
  /** More config lines, appended to the `[pacman]` table. */
  pacman?: string[];
}

export class FakeDevice {
  readonly commits = new Set<string>();
  deployments: Deployment[] = [];
  booted!: Deployment;
  readonly env = new Map<string, string>();
  readonly sentinel = flag();
  readonly probationMarker = flag();
  readonly up: string[] = [];
  readonly down: string[] = [];
  readonly events: string[] = [];
  readonly steps: CheckpointName[] = [];
  readonly failingApps = new Set<string>();
  /** Loaded images (config digests) and the containers `up` made, by app. */
  readonly images = new Set<string>();
  readonly containers = new Map<string, ServiceStatus[]>();
  now = new Date('2026-06-01T00:00:00Z');
  cutAt: CheckpointName | undefined;
  private serial = 0;

  private constructor(readonly root: string) {}

  static async create(o: FakeDeviceOptions = {}): Promise<FakeDevice> {
    const dev = new FakeDevice(await mkdtemp(join(tmpdir(), 'aklite-fake-')));
    for (const a of o.failingApps ?? []) dev.failingApps.add(a);
    const t = await factoryTarget(o.target ?? 'sim-x86-lmp-1');
    const at = (p: string) => join(dev.root, p);
    await mkdir(at('etc/sota/conf.d'), { recursive: true });
    await writeFile(
      at('etc/sota/conf.d/10-test.toml'),
      [
        '[provision]',
        'primary_ecu_hardware_id = "sim-x86"',
        'device_type = "ci"',
        '[pacman]',
        'tags = "main"',
        'callback_program = "/bin/true"',
        `probation_seconds = ${o.probationSeconds ?? 1800}`,
        ...(o.pacman ?? []),
        '',
      ].join('\n'),
    );
    await mkdir(at('usr/lib/sota/tuf/ci'), { recursive: true });
    await cp(join(TEST_BUNDLES, 'roots/ci/1.root.json'), at('usr/lib/sota/tuf/ci/1.root.json'));
    await cp(join(TEST_BUNDLES, 'factory/apps'), at('var/sota/reset-apps'), { recursive: true });
    await mkdir(at('var/sota/import'), { recursive: true });
    await writeFile(
      at('var/sota/import/installed_versions'),
      JSON.stringify({ [t.name]: { ...t.info, is_current: true } }),
    );
    await mkdir(at('var/lock'), { recursive: true });
    await mkdir(at('proc'), { recursive: true });
    dev.commits.add(t.commit);
    await dev.deploy(t.commit);
    await dev.bootDeployment(dev.deployments[0]);
    return dev;
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  /** The options of a library call on this device. */
  options(): DeviceOptions {
    return { deviceRoot: this.root, ports: this.ports() };
  }

  ports(): Partial<Ports> {
    const ostree: OstreePort = {
      initRepo: () => Promise.resolve(),
      hasCommit: (_repo, commit) => Promise.resolve(this.commits.has(commit)),
      pullLocal: (repo, _src, commit) => {
        // The sysroot repo keeps what is pulled into it; scratch repos are thrown away.
        if (repo.endsWith('sysroot/ostree/repo')) this.commits.add(commit);
        return Promise.resolve();
      },
      deployments: () => Promise.resolve(this.deployments.map((d) => ({ ...d }))),
      deploy: (_sysroot, _os, commit) => this.deploy(commit),
      undeploy: (_sysroot, index) => {
        this.deployments = this.deployments
          .filter((d) => d.index !== index)
          .map((d, i) => ({ ...d, index: i }));
        return Promise.resolve();
      },
    };
    return {
      ostree,
      bootEnv: {
        get: (name) => Promise.resolve(this.env.get(name)),
        set: (vars) => {
          for (const [k, v] of Object.entries(vars)) this.env.set(k, String(v));
          return Promise.resolve();
        },
      },
      engine: this.engine(),
      sentinel: this.sentinel,
      probationMarker: this.probationMarker,
      callback: {
        run: (_program, env) => {
          this.events.push(env.RESULT === undefined ? env.MESSAGE : `${env.MESSAGE} ${env.RESULT}`);
          return Promise.resolve({ code: 0, signal: null, timedOut: false, output: '' });
        },
      },
      clock: () => new Date(this.now),
      checkpoint: (step) => {
        this.steps.push(step);
        if (step === this.cutAt) throw new PowerCut(step);
      },
    };
  }

  private engine(): ContainerEngine {
    const ok = () => Promise.resolve();
    return {
      name: 'podman',
      describe: 'the fake engine',
      loadImage: (_dir, _ref, image) => {
        this.images.add(image.configHex);
        return ok();
      },
      hasImage: (image) => Promise.resolve(this.images.has(image.configHex)),
      up: (project) => {
        const app = project.name;
        const fails = this.failingApps.has(app);
        this.up.push(app);
        this.containers.set(
          app,
          project.services.map((svc) => ({
            app,
            service: svc.name,
            container: `${app}_${svc.name}_1`,
            image: svc.image,
            state: fails ? 'exited' : 'running',
            exitCode: fails ? 3 : 0,
            restarts: 0,
            health: 'none',
            restartPolicy: svc.restart,
            startedAt: '2000-01-01T00:00:00Z',
          })),
        );
        return ok();
      },
      down: (app) => {
        this.down.push(app);
        this.containers.delete(app);
        return ok();
      },
      ps: (app) =>
        Promise.resolve(
          [...this.containers.values()].flat().filter((c) => app === undefined || c.app === app),
        ),
      logs: (container) =>
        Promise.resolve(`${container} serving\n${container}: cannot start: no configuration`),
      pruneImages: () => Promise.resolve([]),
      stopAll: ok,
      start: ok,
      removeAll: ok,
    };
  }

  /** Moves the device clock on. */
  advance(seconds: number): void {
    this.now = new Date(this.now.getTime() + seconds * 1000);
  }

  private async deploy(commit: string): Promise<void> {
    const serial = this.serial++;
    await mkdir(join(this.root, 'sysroot/ostree/deploy', OS, 'deploy', `${commit}.${serial}`), {
      recursive: true,
    });
    this.deployments = [
      { index: 0, os: OS, commit, serial, pinned: false },
      ...this.deployments.map((d) => ({ ...d, index: d.index + 1 })),
    ];
  }

  private async bootDeployment(d: Deployment): Promise<void> {
    this.booted = d;
    await writeFile(
      join(this.root, 'proc/cmdline'),
      `root=/dev/sda2 ostree=/ostree/deploy/${OS}/deploy/${d.commit}.${d.serial}\n`,
    );
  }

  /**
   * A reboot as U-Boot does it: while `upgrade_available=1` each boot counts, and past
   * the boot limit the previous deployment boots (`altbootcmd`). tmpfs is empty after.
   */
  async reboot(): Promise<void> {
    this.sentinel.set = false;
    this.probationMarker.set = false;
    let d = this.deployments[0];
    if (this.env.get('upgrade_available') === '1') {
      const count = Number(this.env.get('bootcount') ?? '0') + 1;
      this.env.set('bootcount', String(count));
      if (count > BOOTLIMIT && this.deployments.length > 1) {
        this.env.set('rollback', '1');
        d = this.deployments[1];
      }
    }
    await this.bootDeployment(d);
  }

  async state(): Promise<DeviceState> {
    return JSON.parse(
      await readFile(join(this.root, 'var/sota/state.json'), 'utf8'),
    ) as DeviceState;
  }

  stateText(): Promise<string> {
    return readFile(join(this.root, 'var/sota/state.json'), 'utf8');
  }
}
