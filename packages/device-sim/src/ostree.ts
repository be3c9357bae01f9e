import { readdir, readFile, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DeviceSimError, isErrno, messageOf } from './errors.js';
import { run } from './exec.js';

/** One deployment in boot order. */
export interface Deployment {
  /** Boot order: 0 is U-Boot's default entry, 1 the rollback (`altbootcmd`) entry. */
  index: number;
  os: string;
  commit: string;
  serial: number;
  /** `/ostree/deploy/<os>/deploy/<commit>.<serial>`, as on the device's kernel cmdline. */
  deployment: string;
}

const DEPLOY_PATH_RE = /^\/ostree\/deploy\/([^/]+)\/deploy\/([0-9a-f]{64})\.([0-9]+)$/;

/** Splits `/ostree/deploy/<os>/deploy/<commit>.<serial>` into its parts, or returns null. */
export function parseDeploymentPath(
  path: string,
): { os: string; commit: string; serial: number } | null {
  const m = DEPLOY_PATH_RE.exec(path);
  if (!m) return null;
  return { os: m[1], commit: m[2], serial: Number(m[3]) };
}

export const deploymentPath = (os: string, commit: string, serial: number): string =>
  `/ostree/deploy/${os}/deploy/${commit}.${serial}`;

/** One Boot Loader Specification entry as OSTree writes it (`version`, `options … ostree=…`). */
export interface LoaderEntry {
  file: string;
  version: number;
  /** The `ostree=` kernel argument, e.g. `/ostree/boot.1/lmp/<bootcsum>/0`. */
  ostreeArg: string;
}

/** Parses a loader entry file's text; returns null when it is not an OSTree entry. */
export function parseLoaderEntry(file: string, text: string): LoaderEntry | null {
  let version: number | undefined;
  let ostreeArg: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'version' && /^[0-9]+$/.test(m[2])) version = Number(m[2]);
    if (m[1] === 'options') {
      for (const arg of m[2].split(/\s+/)) {
        if (arg.startsWith('ostree=')) ostreeArg = arg.slice('ostree='.length);
      }
    }
  }
  if (version === undefined || ostreeArg === undefined) return null;
  return { file, version, ostreeArg };
}

/**
 * Resolves an `ostree=` path (a `/ostree/boot.N/…` symlink or a `/ostree/deploy/…` dir)
 * under the sysroot with realpath, as the initramfs does on a real device.
 */
export async function resolveOstreeArg(sysroot: string, arg: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(sysroot, arg));
  } catch (err) {
    throw new DeviceSimError(
      'DEVICE_INVALID',
      `ostree=${arg} does not resolve under the sysroot ${sysroot}: ${messageOf(err)}; ` +
        'the deployment is gone (recreate the device with device-sim create)',
      { cause: err },
    );
  }
  const rel = relative(await realpath(sysroot), real);
  if (rel.startsWith('..')) {
    throw new DeviceSimError(
      'DEVICE_INVALID',
      `ostree=${arg} resolves outside the sysroot ${sysroot}`,
    );
  }
  return '/' + rel.split(sep).join('/');
}

/** The OSTree port: the real `ostree` command on the device's sysroot. */
export class Sysroot {
  constructor(readonly path: string) {}

  get repo(): string {
    return join(this.path, 'ostree/repo');
  }

  async initFs(): Promise<void> {
    await run(
      'ostree',
      ['admin', 'init-fs', this.path],
      `creating the OSTree sysroot ${this.path}`,
    );
  }

  async osInit(os: string): Promise<void> {
    await run(
      'ostree',
      ['admin', `--sysroot=${this.path}`, 'os-init', os],
      `initialising OS ${os} in ${this.path}`,
    );
  }

  async pullLocal(sourceRepo: string, commit: string): Promise<void> {
    await run(
      'ostree',
      [`--repo=${this.repo}`, 'pull-local', sourceRepo, commit],
      `pulling commit ${commit} from ${sourceRepo}`,
    );
  }

  /** `ostree admin pin <index>`: OSTree's cleanup never removes a pinned deployment. */
  async pin(index: number): Promise<void> {
    await run(
      'ostree',
      ['admin', `--sysroot=${this.path}`, 'pin', String(index)],
      `pinning deployment ${index}`,
    );
  }

  /** True when the deployment's origin file carries OSTree's pin (`[libostree-transient] pinned=true`). */
  async isPinned(deployment: string): Promise<boolean> {
    try {
      const text = await readFile(join(this.path, `${deployment}.origin`), 'utf8');
      return /^\s*pinned\s*=\s*true\s*$/m.test(text);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async deploy(os: string, commit: string): Promise<void> {
    await run(
      'ostree',
      ['admin', `--sysroot=${this.path}`, 'deploy', `--os=${os}`, commit],
      `deploying commit ${commit}`,
    );
  }

  /**
   * Deployments in boot order, read from the bootloader configuration OSTree writes:
   * `<sysroot>/boot/loader` → `loader.N/entries/*.conf`, sorted by `version` descending
   * (OSTree numbers entries so that the default deployment has the highest version),
   * each `ostree=` argument resolved with realpath to its deploy directory. This is what
   * U-Boot reads, so it is what the simulated U-Boot boots.
   */
  async deployments(): Promise<Deployment[]> {
    const entriesDir = join(this.path, 'boot/loader/entries');
    let names: string[];
    try {
      names = await readdir(entriesDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        throw new DeviceSimError(
          'DEVICE_INVALID',
          `${entriesDir} does not exist: the sysroot ${this.path} has no deployment; ` +
            'create the device with device-sim create',
          { cause: err, file: entriesDir },
        );
      }
      throw err;
    }
    const entries: LoaderEntry[] = [];
    for (const name of names.filter((n) => n.endsWith('.conf')).sort()) {
      const file = join(entriesDir, name);
      const entry = parseLoaderEntry(file, await readFile(file, 'utf8'));
      if (entry) entries.push(entry);
    }
    entries.sort((a, b) => b.version - a.version);
    const out: Deployment[] = [];
    for (const [index, entry] of entries.entries()) {
      const resolved = await resolveOstreeArg(this.path, entry.ostreeArg);
      const parts = parseDeploymentPath(resolved);
      if (!parts) {
        throw new DeviceSimError(
          'DEVICE_INVALID',
          `${entry.file}: ostree=${entry.ostreeArg} resolves to ${resolved}, not /ostree/deploy/<os>/deploy/<commit>.<serial>`,
          { file: entry.file },
        );
      }
      out.push({ index, ...parts, deployment: resolved });
    }
    if (out.length === 0) {
      throw new DeviceSimError(
        'DEVICE_INVALID',
        `${entriesDir} has no OSTree boot entry; recreate the device`,
        {
          file: entriesDir,
        },
      );
    }
    return out;
  }
}
