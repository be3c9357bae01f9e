/**
 * The simulated device's OSTree sysroot. Commands go through the shared port of
 * `@offline-ota/format` (`OstreeCli`, failures as `TOOL_FAILED`); the deployment paths are
 * its facts (`deploymentPath`, `parseDeploymentPath`). What only the simulator does lives
 * here: creating the sysroot, and reading the boot entries as U-Boot does.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { OstreeCli, parseDeploymentPath, type OstreeOp } from '@offline-ota/format';
import { DeviceSimError, isErrno, messageOf } from './errors.js';
import { toolFailed } from './exec.js';

export { deploymentPath, parseDeploymentPath } from '@offline-ota/format';

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

/** What each operation was, as the simulator's messages say it. */
function described(op: OstreeOp): string {
  switch (op.op) {
    case 'init':
      return `creating the OSTree repo ${op.repo}`;
    case 'ls':
      return `listing the objects of commit ${op.commit} in ${op.repo}`;
    case 'pull-local':
      return `pulling commit ${op.commit} from ${op.src}`;
    case 'status':
      return `reading the deployments of ${op.sysroot}`;
    case 'deploy':
      return `deploying commit ${op.commit}`;
    case 'undeploy':
      return `removing deployment ${op.index}`;
    case 'other':
      return op.what;
  }
}

const ostree = new OstreeCli({ failure: (op, err) => toolFailed(err, described(op)) });

/** The simulated device's sysroot, driven with the real `ostree` command. */
export class Sysroot {
  constructor(readonly path: string) {}

  get repo(): string {
    return join(this.path, 'ostree/repo');
  }

  private async admin(args: string[], what: string): Promise<void> {
    const all = ['admin', ...args];
    await ostree.run(all, { op: 'other', args: all, what });
  }

  async initFs(): Promise<void> {
    await this.admin(['init-fs', this.path], `creating the OSTree sysroot ${this.path}`);
  }

  async osInit(os: string): Promise<void> {
    await this.admin(
      [`--sysroot=${this.path}`, 'os-init', os],
      `initialising OS ${os} in ${this.path}`,
    );
  }

  async pullLocal(sourceRepo: string, commit: string): Promise<void> {
    await ostree.pullLocal(this.repo, sourceRepo, commit, false);
  }

  /** `ostree admin pin <index>`: OSTree's cleanup never removes a pinned deployment. */
  async pin(index: number): Promise<void> {
    await this.admin(
      [`--sysroot=${this.path}`, 'pin', String(index)],
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
    await ostree.deploy(this.path, os, commit);
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
