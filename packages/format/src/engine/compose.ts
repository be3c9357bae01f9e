/**
 * Compose projects as the engine port runs them: the compose file of an app read into a
 * typed model (`ComposeProject`), every image pinned by digest. The podman adapter turns
 * the model into `podman create` arguments itself (podman.ts); the docker adapter hands
 * the file to the configured compose command and uses the model for the images only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errnoOf, messageOf } from '../errors.js';
import { EngineError } from './errors.js';

/** The compose file names looked for in a project directory, in this order. */
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yml',
  'docker-compose.yaml',
] as const;

/** Largest compose file read. */
const MAX_COMPOSE_BYTES = 1024 * 1024;

/** `<name>@sha256:<hex>`: an image pinned by its manifest digest. */
export const PINNED_IMAGE_RE = /^([a-z0-9][a-z0-9._/:-]*)@sha256:([0-9a-f]{64})$/;

export interface Healthcheck {
  /** The test as an argv (`CMD`) or a shell line (`CMD-SHELL`). */
  test: { cmd: string[] } | { shell: string };
  interval?: string;
  timeout?: string;
  retries?: number;
  startPeriod?: string;
}

export interface ComposeService {
  name: string;
  /** `<name>@sha256:<hex>` as written in the compose file. */
  image: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment: Record<string, string>;
  /** `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
  restart: string;
  healthcheck?: Healthcheck;
  /** `none` unless the file says otherwise; the podman adapter runs only `none` and `host`. */
  networkMode?: string;
  workingDir?: string;
  user?: string;
  stopSignal?: string;
  labels: Record<string, string>;
  /** Keys of the service that the podman adapter does not translate. */
  unsupported: string[];
}

export interface ComposeProject {
  /** The project (app) name. */
  name: string;
  dir: string;
  file: string;
  services: ComposeService[];
}

const SUPPORTED_KEYS = new Set([
  'image',
  'command',
  'entrypoint',
  'environment',
  'restart',
  'healthcheck',
  'network_mode',
  'working_dir',
  'user',
  'stop_signal',
  'labels',
  'pull_policy',
  'container_name',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function stringList(v: unknown, what: string): string[] | string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number'))
    return v.map(String);
  throw new Error(`${what} must be a string or a list of strings`);
}

function keyValues(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (Array.isArray(v)) {
    const out: Record<string, string> = {};
    for (const item of v) {
      if (typeof item !== 'string') throw new Error(`${what} entries must be strings`);
      const i = item.indexOf('=');
      if (i <= 0) throw new Error(`${what} entry "${item}" is not KEY=VALUE`);
      out[item.slice(0, i)] = item.slice(i + 1);
    }
    return out;
  }
  if (isObject(v)) {
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null) out[k] = '';
      else if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
        out[k] = String(x);
      else throw new Error(`${what}.${k} must be a scalar`);
    }
    return out;
  }
  throw new Error(`${what} must be a mapping or a list of KEY=VALUE`);
}

function healthcheckOf(v: unknown): Healthcheck | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new Error('healthcheck must be a mapping');
  if (v.disable === true) return undefined;
  const t = v.test;
  let test: Healthcheck['test'];
  if (typeof t === 'string') test = { shell: t };
  else if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')) {
    const [kind, ...rest] = t;
    if (kind === 'NONE') return undefined;
    if (kind === 'CMD' && rest.length > 0) test = { cmd: rest };
    else if (kind === 'CMD-SHELL' && rest.length === 1) test = { shell: rest[0] };
    else
      throw new Error('healthcheck.test must be ["CMD", ...], ["CMD-SHELL", "<line>"] or a string');
  } else throw new Error('healthcheck.test must be a string or a list');
  const duration = (k: string): string | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    if (typeof x !== 'string' || !/^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/.test(x))
      throw new Error(`healthcheck.${k} must be a duration such as 5s`);
    return x;
  };
  const hc: Healthcheck = { test };
  const interval = duration('interval');
  const timeout = duration('timeout');
  const startPeriod = duration('start_period');
  if (interval !== undefined) hc.interval = interval;
  if (timeout !== undefined) hc.timeout = timeout;
  if (startPeriod !== undefined) hc.startPeriod = startPeriod;
  if (v.retries !== undefined) {
    if (!Number.isSafeInteger(v.retries) || (v.retries as number) < 0)
      throw new Error('healthcheck.retries must be a whole number');
    hc.retries = v.retries as number;
  }
  return hc;
}

/** Parses the text of a compose file; `file` and `name` are for messages and the model. */
export function parseComposeProject(
  text: string,
  o: { name: string; dir: string; file: string },
): ComposeProject {
  const bad = (why: string, cause?: unknown): EngineError =>
    new EngineError('COMPOSE_INVALID', `compose file ${o.file} of app ${o.name}: ${why}`, {
      file: o.file,
      ...(cause === undefined ? {} : { cause }),
    });
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw bad(`not valid YAML (${messageOf(err)})`, err);
  }
  if (!isObject(doc) || !isObject(doc.services) || Object.keys(doc.services).length === 0)
    throw bad('it has no "services"; a compose app needs at least one service');
  const services: ComposeService[] = [];
  for (const [name, raw] of Object.entries(doc.services)) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw bad(`service name "${name}" is invalid`);
    if (!isObject(raw)) throw bad(`service ${name} is not a mapping`);
    const image = raw.image;
    if (typeof image !== 'string' || !PINNED_IMAGE_RE.test(image))
      throw bad(
        `service ${name} has image ${JSON.stringify(image)}, which is not pinned as <name>@sha256:<hex>; pin every image by digest`,
      );
    if (raw.pull_policy !== undefined && raw.pull_policy !== 'never')
      throw bad(
        `service ${name} has pull_policy ${JSON.stringify(raw.pull_policy)}; an offline device never pulls: use "never" or leave it out`,
      );
    try {
      const restart = raw.restart ?? 'no';
      if (
        typeof restart !== 'string' ||
        !/^(no|always|unless-stopped|on-failure(:[0-9]+)?)$/.test(restart)
      )
        throw new Error(
          `restart ${JSON.stringify(restart)} is not no, always, unless-stopped or on-failure`,
        );
      const str = (k: string): string | undefined => {
        const x = raw[k];
        if (x === undefined) return undefined;
        if (typeof x !== 'string') throw new Error(`${k} must be a string`);
        return x;
      };
      const svc: ComposeService = {
        name,
        image,
        environment: keyValues(raw.environment, 'environment'),
        restart,
        labels: keyValues(raw.labels, 'labels'),
        unsupported: Object.keys(raw)
          .filter((k) => !SUPPORTED_KEYS.has(k))
          .sort(),
      };
      const command = stringList(raw.command, 'command');
      const entrypoint = stringList(raw.entrypoint, 'entrypoint');
      const healthcheck = healthcheckOf(raw.healthcheck);
      const networkMode = str('network_mode');
      const workingDir = str('working_dir');
      const user = str('user');
      const stopSignal = str('stop_signal');
      if (command !== undefined) svc.command = command;
      if (entrypoint !== undefined) svc.entrypoint = entrypoint;
      if (healthcheck !== undefined) svc.healthcheck = healthcheck;
      if (networkMode !== undefined) svc.networkMode = networkMode;
      if (workingDir !== undefined) svc.workingDir = workingDir;
      if (user !== undefined) svc.user = user;
      if (stopSignal !== undefined) svc.stopSignal = stopSignal;
      services.push(svc);
    } catch (err) {
      throw bad(`service ${name}: ${messageOf(err)}`, err);
    }
  }
  return { name: o.name, dir: o.dir, file: o.file, services };
}

/** Finds and parses the compose file of the project in `dir` (app `name`). */
export async function readComposeProject(dir: string, name: string): Promise<ComposeProject> {
  for (const n of COMPOSE_FILE_NAMES) {
    const file = join(dir, n);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue;
      throw new EngineError('COMPOSE_INVALID', `cannot read ${file}: ${messageOf(err)}`, {
        cause: err,
        file,
      });
    }
    if (buf.length > MAX_COMPOSE_BYTES)
      throw new EngineError('COMPOSE_INVALID', `${file} is over ${MAX_COMPOSE_BYTES} bytes`, {
        file,
      });
    return parseComposeProject(buf.toString('utf8'), { name, dir, file });
  }
  throw new EngineError(
    'COMPOSE_INVALID',
    `app ${name} has no compose file in ${dir} (looked for ${COMPOSE_FILE_NAMES.join(', ')})`,
  );
}
