/**
 * OSTree, once: the repository and sysroot facts that the host, the device and the
 * simulator all rely on, and the one port (`OstreePort`) through which they drive the
 * real `ostree` command.
 *
 * Facts (OSTree's own layout):
 * - an object lives at `objects/<first 2 hex>/<other 62 hex>.<type>` of its repository
 *   (`ostreeObjectPath`); a commit is the object of type `commit` (`commitObjectPath`);
 * - a pull writes `state/<checksum>.commitpartial` before fetching a commit's objects and
 *   removes it once the commit is complete (`commitPartialPath`). A repository **has a
 *   commit** only when the commit object is there and that marker is not
 *   (`hasCompleteCommit`, `repoHasCommit`). A partial commit is missing objects: it must be
 *   pulled again, never deployed or shipped;
 * - a deployment is the directory `/ostree/deploy/<os>/deploy/<commit>.<serial>` of the
 *   sysroot (`deploymentPath`, `parseDeploymentPath`).
 *
 * `ostreeCli` is the production adapter: it runs `ostree` through `execCapture`
 * (`io/exec.ts`) and hands every failure, with the operation it was, to a mapper, so each
 * package keeps its own error codes and messages.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from './errors.js';
import { ExecError } from './io/errors.js';
import { execChecked, type ExecResult } from './io/exec.js';
import { ioFailure } from './io/fs.js';

// ---------------------------------------------------------------------------------------
// Facts

/** An OSTree checksum: sha256, 64 lowercase hex digits. */
export const OSTREE_CHECKSUM_RE = /^[0-9a-f]{64}$/;

export type OstreeObjectType = 'commit' | 'commitmeta' | 'dirtree' | 'dirmeta' | 'file' | 'filez';

/** `objects/<xx>/<yyyy…>.<type>`, relative to the repository. */
export const ostreeObjectPath = (checksum: string, type: OstreeObjectType): string =>
  `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type}`;

/** The commit object, relative to the repository. */
export const commitObjectPath = (commit: string): string => ostreeObjectPath(commit, 'commit');

/** The marker of a commit whose objects are not all there yet, relative to the repository. */
export const commitPartialPath = (commit: string): string => `state/${commit}.commitpartial`;

/**
 * Whether a repository holds the complete commit, given a way to ask whether a
 * repository-relative path exists (a directory, a zip, …): the commit object is there and
 * no `.commitpartial` marker is.
 */
export async function hasCompleteCommit(
  exists: (rel: string) => Promise<boolean>,
  commit: string,
): Promise<boolean> {
  if (!(await exists(commitObjectPath(commit)))) return false;
  return !(await exists(commitPartialPath(commit)));
}

/** `hasCompleteCommit` for a repository directory (the commit object must be a regular file). */
export function repoHasCommit(repo: string, commit: string): Promise<boolean> {
  return hasCompleteCommit(async (rel) => {
    try {
      const st = await lstat(join(repo, rel));
      return rel === commitPartialPath(commit) || st.isFile();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
      throw ioFailure(`cannot read ${join(repo, rel)}`, err, join(repo, rel));
    }
  }, commit);
}

/** `/ostree/deploy/<os>/deploy/<commit>.<serial>`: a deployment, relative to the sysroot. */
export const deploymentPath = (os: string, commit: string, serial: number): string =>
  `/ostree/deploy/${os}/deploy/${commit}.${serial}`;

const DEPLOYMENT_TAIL_RE = /\/ostree\/deploy\/([^/]+)\/deploy\/([0-9a-f]{64})\.([0-9]+)$/;

export interface DeploymentId {
  os: string;
  commit: string;
  serial: number;
}

/** Splits `/ostree/deploy/<os>/deploy/<commit>.<serial>` into its parts, or returns null. */
export function parseDeploymentPath(path: string): DeploymentId | null {
  const m = DEPLOYMENT_TAIL_RE.exec(path);
  if (m?.index !== 0) return null;
  return { os: m[1], commit: m[2], serial: Number(m[3]) };
}

/** The deployment an absolute path ends in (`…/ostree/deploy/<os>/deploy/<commit>.<serial>`), or null. */
export function deploymentAtEndOf(path: string): DeploymentId | null {
  const m = DEPLOYMENT_TAIL_RE.exec(path);
  if (m === null) return null;
  return { os: m[1], commit: m[2], serial: Number(m[3]) };
}

// ---------------------------------------------------------------------------------------
// The port

export interface Deployment {
  /** Position in boot order; 0 is the default. */
  index: number;
  os: string;
  commit: string;
  serial: number;
  /** `ostree admin pin`: never removed by OSTree's cleanup (the golden system). */
  pinned: boolean;
}

export type OstreeRepoMode = 'bare' | 'bare-user' | 'archive';

/** What the host, the device and the simulator ask of OSTree. */
export interface OstreePort {
  /** `ostree init`; with `parent`, the repo's `core.parent` (objects found there count as present). */
  initRepo(repo: string, mode: OstreeRepoMode, parent?: string): Promise<void>;
  /** True when the repo holds the complete commit (`hasCompleteCommit`). */
  hasCommit(repo: string, commit: string): Promise<boolean>;
  /** `ostree --repo=<repo> pull-local [--untrusted] <src> <commit>`. */
  pullLocal(repo: string, src: string, commit: string, untrusted: boolean): Promise<void>;
  /** `ostree admin status`: the deployments in boot order. */
  deployments(sysroot: string): Promise<Deployment[]>;
  deploy(sysroot: string, os: string, commit: string): Promise<void>;
  undeploy(sysroot: string, index: number): Promise<void>;
}

/**
 * The port's methods as a plain object of functions, so that it can be spread and partly
 * replaced (`{ ...ostreeTool, deploy: fake }`), which a class instance cannot.
 */
export function plainOstreePort(port: OstreePort): OstreePort {
  return {
    initRepo: (repo, mode, parent) => port.initRepo(repo, mode, parent),
    hasCommit: (repo, commit) => port.hasCommit(repo, commit),
    pullLocal: (repo, src, commit, untrusted) => port.pullLocal(repo, src, commit, untrusted),
    deployments: (sysroot) => port.deployments(sysroot),
    deploy: (sysroot, os, commit) => port.deploy(sysroot, os, commit),
    undeploy: (sysroot, index) => port.undeploy(sysroot, index),
  };
}

/** One `ostree` invocation of the port, for error messages. */
export type OstreeOp =
  | { op: 'init'; repo: string; mode: OstreeRepoMode }
  | { op: 'ls'; repo: string; commit: string }
  | { op: 'pull-local'; repo: string; src: string; commit: string; untrusted: boolean }
  | { op: 'status'; sysroot: string }
  | { op: 'deploy'; sysroot: string; os: string; commit: string }
  | { op: 'undeploy'; sysroot: string; index: number }
  | { op: 'other'; args: readonly string[]; what: string };

export interface OstreeCliOptions {
  /** The executable; default `ostree`. */
  bin?: string;
  /** The environment of `ostree`; default this process's. */
  env?: NodeJS.ProcessEnv;
  /**
   * Turns a failed run (an `ExecError`: not found, non-zero exit, …) into the caller's
   * error. Default: the `ExecError` itself.
   */
  failure?: (op: OstreeOp, err: ExecError) => Error;
}

/** Parses `ostree admin status` output into deployments in boot order. */
export function parseAdminStatus(stdout: string): Deployment[] {
  const out: Deployment[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^[* ] (\S+) ([0-9a-f]{64})\.([0-9]+)/.exec(line);
    if (m)
      out.push({ index: out.length, os: m[1], commit: m[2], serial: Number(m[3]), pinned: false });
    else if (/^\s+Pinned: yes/.test(line) && out.length > 0) out[out.length - 1].pinned = true;
  }
  return out;
}

/** The production adapter: the real `ostree` command. */
export class OstreeCli implements OstreePort {
  private readonly bin: string;

  constructor(private readonly options: OstreeCliOptions = {}) {
    this.bin = options.bin ?? 'ostree';
  }

  /**
   * Runs `ostree <args>`; a failure (not found, non-zero exit) goes through the
   * `failure` mapper with `op`.
   */
  async run(
    args: readonly string[],
    op: OstreeOp = { op: 'other', args, what: `ostree ${args[0] ?? ''}` },
  ): Promise<ExecResult> {
    // A deploy freezes and thaws the sysroot's file system (FIFREEZE/FITHAW): it runs in
    // its own process group, so a signal to the caller's group (Ctrl-C, a kill of the
    // group) cannot stop it between the two and leave the file system frozen.
    const ownGroup = op.op === 'deploy' || op.op === 'undeploy';
    try {
      return await execChecked(this.bin, args, {
        ...(this.options.env ? { env: this.options.env } : {}),
        ...(ownGroup ? { processGroup: true } : {}),
      });
    } catch (err) {
      throw this.fail(op, err);
    }
  }

  private fail(op: OstreeOp, err: unknown): Error {
    if (!(err instanceof ExecError)) return err instanceof Error ? err : new Error(String(err));
    return this.options.failure?.(op, err) ?? err;
  }

  async initRepo(repo: string, mode: OstreeRepoMode, parent?: string): Promise<void> {
    await this.run(['init', `--repo=${repo}`, `--mode=${mode}`], { op: 'init', repo, mode });
    if (parent !== undefined)
      await this.run(['config', `--repo=${repo}`, 'set', 'core.parent', parent], {
        op: 'init',
        repo,
        mode,
      });
  }

  hasCommit(repo: string, commit: string): Promise<boolean> {
    return repoHasCommit(repo, commit);
  }

  async pullLocal(repo: string, src: string, commit: string, untrusted: boolean): Promise<void> {
    await this.run(
      [`--repo=${repo}`, 'pull-local', ...(untrusted ? ['--untrusted'] : []), src, commit],
      { op: 'pull-local', repo, src, commit, untrusted },
    );
  }

  async deployments(sysroot: string): Promise<Deployment[]> {
    const r = await this.run(['admin', `--sysroot=${sysroot}`, 'status'], {
      op: 'status',
      sysroot,
    });
    return parseAdminStatus(r.stdout);
  }

  async deploy(sysroot: string, os: string, commit: string): Promise<void> {
    await this.run(['admin', `--sysroot=${sysroot}`, 'deploy', `--os=${os}`, commit], {
      op: 'deploy',
      sysroot,
      os,
      commit,
    });
  }

  async undeploy(sysroot: string, index: number): Promise<void> {
    await this.run(['admin', `--sysroot=${sysroot}`, 'undeploy', String(index)], {
      op: 'undeploy',
      sysroot,
      index,
    });
  }
}
