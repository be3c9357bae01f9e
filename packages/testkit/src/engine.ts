/**
 * Container-engine test support: a private docker daemon that a test starts and stops
 * itself (its own data root, socket and pid file, no iptables, no bridge, vfs storage),
 * and the `AppImage` of a sample OCI layout, so that a layout can stand in for an app
 * store in the engine contract suite.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dockerEngine, type AppImage } from '@offline-ota/format';

/** Debian's docker client, which matches Debian's dockerd (a newer client may be first on PATH). */
export const DEBIAN_DOCKER = '/usr/bin/docker';

export interface TestDockerd {
  /** `unix://<dir>/docker.sock` */
  host: string;
  pid: number;
  /** Stops the daemon by its pid (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts `dockerd` with everything under `dir`; resolves once it answers. */
export async function startTestDockerd(dir: string): Promise<TestDockerd> {
  await mkdir(dir, { recursive: true });
  const host = `unix://${join(dir, 'docker.sock')}`;
  const child = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--host',
      host,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver',
      'vfs',
    ],
    { stdio: 'ignore', detached: true },
  );
  const pid = child.pid!;
  child.unref();
  const stop = async () => {
    if (alive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300; i++) {
    const up = await dockerEngine({ bin: DEBIAN_DOCKER, host })
      .ps()
      .then(
        () => true,
        () => false,
      );
    if (up) return { host, pid, stop };
    if (!alive(pid)) break;
    await sleep(100);
  }
  await stop();
  throw new Error(`dockerd did not come up in ${dir}`);
}

/** The AppImage of an OCI layout's one manifest (`index.json` → manifest → config, layers). */
export async function appImageOfLayout(layoutDir: string, ref: string): Promise<AppImage> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; size: number }[];
  };
  const m = index.manifests[0];
  const hex = m.digest.slice('sha256:'.length);
  const manifest = JSON.parse(await readFile(join(layoutDir, 'blobs/sha256', hex), 'utf8')) as {
    config: { digest: string; size: number };
    layers: { digest: string; size: number }[];
  };
  const ref2 = (d: { digest: string; size: number }) => ({
    hex: d.digest.slice('sha256:'.length),
    size: d.size,
  });
  return {
    ref: `${ref}@${m.digest}`,
    manifest: { hex, size: m.size },
    config: ref2(manifest.config),
    layers: manifest.layers.map(ref2),
  };
}
