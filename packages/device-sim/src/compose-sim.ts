import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { CAPS, devicePaths } from '@offline-ota/format';
import { checkBlob, describeProblem, readJsonBlob } from './app-store.js';
import { DeviceSimError, isErrno, messageOf } from './errors.js';
import { writeFileAtomic } from './fsutil.js';

/**
 * A compose-compatible stand-in for `docker compose` (README.md §compose-sim). It checks
 * that every service image is complete in the device's app store, can be told to fail
 * (`x-compose-sim: {fail-start: true}`), and records started apps in
 * `<root>/var/lib/compose-sim/running.json`, which survives reboots like containers with
 * a restart policy do.
 */

export const COMPOSE_SIM_VERSION = '2.29.0-compose-sim';
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yml',
  'docker-compose.yaml',
];

export const composeSimStateFile = (root: string): string =>
  join(root, 'var/lib/compose-sim/running.json');

export interface ComposeService {
  name: string;
  /** `<ref>@sha256:<hex>` as written in the compose file. */
  image: string;
}

export interface ComposeProject {
  app: string;
  root: string;
  projectDir: string;
  file: string;
  services: ComposeService[];
  failStart: boolean;
}

export interface AppRecord {
  state: 'running' | 'failed';
  projectDir: string;
  services: ComposeService[];
  updatedAt: string;
  /** Why the last `up` failed, for `state: "failed"`. */
  error?: string;
}

export interface ComposeSimState {
  version: 1;
  apps: Record<string, AppRecord>;
}

/**
 * The device root and app name of a project directory, which is always
 * `<root>/var/sota/compose-apps/<app>`.
 */
export function projectLocation(projectDir: string): { root: string; app: string } {
  const dir = resolve(projectDir);
  const app = basename(dir);
  const root = resolve(dir, '../../../..');
  if (resolve(devicePaths(root).composeAppsRoot, app) !== dir) {
    throw new DeviceSimError(
      'INVALID_ARGUMENT',
      `project directory ${dir} is not <device root>/var/sota/compose-apps/<app>; ` +
        'compose-sim finds the device (and its app store) from that location',
    );
  }
  return { root, app };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const PINNED_IMAGE_RE = /^(.+)@sha256:([0-9a-f]{64})$/;

/** Reads and checks the project's compose file. */
export async function readComposeProject(
  projectDir: string,
  composeFile?: string,
): Promise<ComposeProject> {
  const { root, app } = projectLocation(projectDir);
  const dir = resolve(projectDir);
  let file: string | undefined;
  let text: string | undefined;
  for (const candidate of composeFile !== undefined
    ? [resolve(dir, composeFile)]
    : COMPOSE_FILE_NAMES.map((n) => join(dir, n))) {
    try {
      text = await readFile(candidate, 'utf8');
      file = candidate;
      break;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  if (file === undefined || text === undefined) {
    throw new DeviceSimError(
      'COMPOSE_INVALID',
      `no configuration file provided: not found (looked for ${COMPOSE_FILE_NAMES.join(', ')} in ${dir})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new DeviceSimError('COMPOSE_INVALID', `${file} is not valid YAML: ${messageOf(err)}`, {
      cause: err,
      file,
    });
  }
  if (!isObject(doc) || !isObject(doc.services) || Object.keys(doc.services).length === 0) {
    throw new DeviceSimError(
      'COMPOSE_INVALID',
      `${file} has no "services"; a compose app needs at least one service`,
      {
        file,
      },
    );
  }
  const services: ComposeService[] = [];
  for (const [name, svc] of Object.entries(doc.services)) {
    const image = isObject(svc) ? svc.image : undefined;
    if (typeof image !== 'string' || !PINNED_IMAGE_RE.test(image)) {
      throw new DeviceSimError(
        'COMPOSE_INVALID',
        `${file}: service ${name} has image ${JSON.stringify(image)}, which is not pinned as <ref>@sha256:<hex>; ` +
          'pin every image by digest',
        { file },
      );
    }
    services.push({ name, image });
  }
  const marker = doc['x-compose-sim'];
  const failStart = isObject(marker) && marker['fail-start'] === true;
  return { app, root, projectDir: dir, file, services, failStart };
}

/**
 * Checks that an image (`<ref>@sha256:<hex>`) is complete in the store: its manifest,
 * config and every layer present with the right sha256 and size.
 */
export async function checkImageComplete(store: string, image: string): Promise<void> {
  const hex = PINNED_IMAGE_RE.exec(image)![2];
  const incomplete = (detail: string): DeviceSimError =>
    new DeviceSimError(
      'APP_INCOMPLETE',
      `image ${image} is not complete in the app store ${store}: ${detail}`,
    );
  const problem = await checkBlob(store, hex);
  if (problem) throw incomplete(describeProblem(problem, hex));
  const manifest = await readJsonBlob(store, hex, CAPS.imageManifest, `image ${image}`);
  const descriptors =
    isObject(manifest) && Array.isArray(manifest.layers)
      ? [manifest.config, ...(manifest.layers as unknown[])]
      : [];
  if (descriptors.length === 0 || !descriptors.every(isObject)) {
    throw incomplete(`image manifest sha256:${hex} has no "config" and "layers"`);
  }
  for (const d of descriptors) {
    const dhex =
      typeof d.digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(d.digest)?.[1] : undefined;
    if (dhex === undefined || !Number.isSafeInteger(d.size)) {
      throw incomplete(
        `image manifest sha256:${hex} has a descriptor without a sha256 digest and size`,
      );
    }
    const p = await checkBlob(store, dhex, d.size as number);
    if (p) throw incomplete(describeProblem(p, dhex));
  }
}

export async function readComposeSimState(root: string): Promise<ComposeSimState> {
  const file = composeSimStateFile(root);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { version: 1, apps: {} };
    throw err;
  }
  try {
    const state = JSON.parse(text) as unknown;
    if (isObject(state) && state.version === 1 && isObject(state.apps))
      return state as unknown as ComposeSimState;
  } catch {
    // reported below
  }
  throw new DeviceSimError(
    'DEVICE_INVALID',
    `${file} is not a compose-sim state file; delete it and start the apps again`,
    {
      file,
    },
  );
}

/**
 * Read-modify-write of the state file under a lock directory (`running.json.lock`), so
 * that several `up`/`down` processes started at once do not lose each other's records.
 */
async function updateState(root: string, change: (s: ComposeSimState) => void): Promise<void> {
  const file = composeSimStateFile(root);
  const lock = `${file}.lock`;
  await mkdir(dirname(file), { recursive: true });
  for (let waited = 0; ; waited += 20) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      if (waited >= 10_000) {
        throw new DeviceSimError(
          'DEVICE_INVALID',
          `${lock} has been held for 10 s; if no compose-sim is running, remove it`,
          { file: lock },
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    const state = await readComposeSimState(root);
    change(state);
    await writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
  } finally {
    await rmdir(lock);
  }
}

/** Names of the apps compose-sim has running on the device, sorted. */
export async function runningApps(root: string): Promise<string[]> {
  const state = await readComposeSimState(root);
  return Object.keys(state.apps)
    .filter((a) => state.apps[a].state === 'running')
    .sort();
}

/**
 * `docker compose up -d`: checks every image, honours the fail-start marker, records the
 * app as running. Throws `APP_INCOMPLETE`, `APP_START_FAILED` or `COMPOSE_INVALID`; a
 * failure is recorded as `state: "failed"`.
 */
export async function composeUp(
  projectDir: string,
  opts: { composeFile?: string; now?: Date } = {},
): Promise<ComposeProject> {
  const project = await readComposeProject(projectDir, opts.composeFile);
  const store = devicePaths(project.root).appStore;
  const updatedAt = (opts.now ?? new Date()).toISOString();
  const record = (state: AppRecord['state'], error?: string) =>
    updateState(project.root, (s) => {
      s.apps[project.app] = {
        state,
        projectDir: project.projectDir,
        services: project.services,
        updatedAt,
        ...(error !== undefined ? { error } : {}),
      };
    });
  try {
    for (const svc of project.services) await checkImageComplete(store, svc.image);
    if (project.failStart) {
      throw new DeviceSimError(
        'APP_START_FAILED',
        `app ${project.app} failed to start (x-compose-sim.fail-start)`,
        {
          file: project.file,
        },
      );
    }
  } catch (err) {
    await record('failed', messageOf(err));
    throw err;
  }
  await record('running');
  return project;
}

/** `docker compose down`: forgets the app. */
export async function composeDown(projectDir: string): Promise<void> {
  const { root, app } = projectLocation(projectDir);
  await updateState(root, (s) => {
    delete s.apps[app];
  });
}

export interface ComposeSimResult {
  exitCode: 0 | 1;
  stdout: string;
  stderr: string;
}

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Global options (before the command); accepted and, except the first two, ignored. */
const GLOBAL_OPTIONS = {
  'project-directory': { type: 'string' },
  file: { type: 'string', short: 'f' },
  'project-name': { type: 'string', short: 'p' },
  ansi: { type: 'string' },
  progress: { type: 'string' },
  'env-file': { type: 'string' },
  profile: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/** The options each command accepts (after the command). */
const COMMAND_OPTIONS = {
  up: {
    detach: { type: 'boolean', short: 'd' },
    'remove-orphans': { type: 'boolean' },
    'no-build': { type: 'boolean' },
    'quiet-pull': { type: 'boolean' },
    'no-color': { type: 'boolean' },
    wait: { type: 'boolean' },
    'no-recreate': { type: 'boolean' },
    'force-recreate': { type: 'boolean' },
  },
  down: {
    'remove-orphans': { type: 'boolean' },
    volumes: { type: 'boolean', short: 'v' },
  },
  ps: {
    all: { type: 'boolean', short: 'a' },
    quiet: { type: 'boolean', short: 'q' },
    format: { type: 'string' },
  },
  version: {
    short: { type: 'boolean' },
    format: { type: 'string' },
  },
} as const satisfies Record<string, ParseArgsOptionsConfig>;

type Command = keyof typeof COMMAND_OPTIONS;
const isCommand = (s: string | undefined): s is Command =>
  s !== undefined && Object.hasOwn(COMMAND_OPTIONS, s);

/**
 * Splits `[global options] <command> [command options]` with `node:util` `parseArgs`:
 * the command is the first positional argument; each side is then parsed strictly.
 */
function parseComposeArgs(argv: readonly string[]):
  | {
      global: { [K in keyof typeof GLOBAL_OPTIONS]?: string };
      command: Command;
      flags: { [K: string]: string | boolean | undefined };
    }
  | { error: string } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: GLOBAL_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const at = tokens.find((t) => t.kind === 'positional')?.index ?? argv.length;
  const sub = argv[at] as string | undefined;
  try {
    const global = parseArgs({ args: argv.slice(0, at), options: GLOBAL_OPTIONS }).values;
    if (!isCommand(sub)) {
      return {
        error: `compose-sim: unknown command ${JSON.stringify(sub ?? '')}; supported: up -d, down, ps --format json, version`,
      };
    }
    const flags = parseArgs({
      args: argv.slice(at + 1),
      options: COMMAND_OPTIONS[sub],
    }).values as { [K: string]: string | boolean | undefined };
    return { global, command: sub, flags };
  } catch (e) {
    return { error: `compose-sim: ${messageOf(e)}` };
  }
}

/**
 * The whole stand-in as a function of its arguments: what `bin/compose-sim.js` prints
 * and its exit status. `argv` excludes the node and script paths.
 */
export async function runComposeSim(
  argv: readonly string[],
  cwd: string,
): Promise<ComposeSimResult> {
  const out: string[] = [];
  const err: string[] = [];
  const result = (exitCode: 0 | 1): ComposeSimResult => ({
    exitCode,
    stdout: out.map((l) => l + '\n').join(''),
    stderr: err.map((l) => l + '\n').join(''),
  });
  const parsed = parseComposeArgs(argv);
  if ('error' in parsed) {
    err.push(parsed.error);
    return result(1);
  }
  const { global, command: sub, flags } = parsed;
  const format = flags.format;
  if (format !== undefined && format !== 'json' && format !== 'table') {
    err.push(`compose-sim: unknown format ${JSON.stringify(format)} for ${sub}`);
    return result(1);
  }
  if (sub === 'version') {
    if (flags.short === true) out.push(COMPOSE_SIM_VERSION);
    else if (format === 'json') out.push(JSON.stringify({ version: `v${COMPOSE_SIM_VERSION}` }));
    else out.push(`Docker Compose version v${COMPOSE_SIM_VERSION}`);
    return result(0);
  }
  const projectDir = resolve(cwd, global['project-directory'] ?? '.');
  const composeFile = global.file;
  try {
    if (sub === 'up') {
      if (flags.detach !== true) {
        err.push('compose-sim only runs detached: use up -d');
        return result(1);
      }
      const project = await composeUp(projectDir, composeFile !== undefined ? { composeFile } : {});
      for (const svc of project.services)
        err.push(` Container ${project.app}-${svc.name}-1  Started`);
      return result(0);
    }
    if (sub === 'down') {
      const { app } = projectLocation(projectDir);
      await composeDown(projectDir);
      err.push(` Network ${app}_default  Removed`);
      return result(0);
    }
    // ps
    const { root, app } = projectLocation(projectDir);
    const rec = (await readComposeSimState(root)).apps[app];
    const shown =
      rec !== undefined && (rec.state === 'running' || flags.all === true) ? rec : undefined;
    const rows = (shown?.services ?? []).map((svc) => ({
      Name: `${app}-${svc.name}-1`,
      Project: app,
      Service: svc.name,
      Image: svc.image,
      State: shown!.state === 'running' ? 'running' : 'exited',
      Status: shown!.state === 'running' ? 'Up' : 'Exited (1)',
      Health: '',
      ExitCode: shown!.state === 'running' ? 0 : 1,
    }));
    if (flags.quiet === true) {
      out.push(...rows.map((r) => r.Name));
    } else if (format === 'json') {
      out.push(...rows.map((r) => JSON.stringify(r)));
    } else {
      out.push(
        'NAME\tIMAGE\tSERVICE\tSTATUS',
        ...rows.map((r) => `${r.Name}\t${r.Image}\t${r.Service}\t${r.Status}`),
      );
    }
    return result(0);
  } catch (e) {
    err.push(e instanceof DeviceSimError ? e.message : `compose-sim: ${messageOf(e)}`);
    return result(1);
  }
}
