/**
 * What both adapters share: running the engine's tools (no shell, bounded output, a
 * timeout), mapping their failures to EngineError, reading `inspect` output (docker and
 * podman print the same shape) into ServiceStatus, and compose-style command splitting.
 */
import { tailLines } from '../io/exec.js';
import { ExecError } from '../io/errors.js';
import { execCapture, type ExecResult } from '../io/exec.js';
import { messageOf } from '../errors.js';
import { EngineError } from './errors.js';
import {
  LABEL_PROJECT,
  LABEL_SERVICE,
  type ContainerState,
  type Health,
  type ServiceStatus,
} from './port.js';

/** Longest an engine command may run before it is killed (loading a large image included). */
export const ENGINE_TIMEOUT_MS = 10 * 60_000;

export interface Runner {
  /** Runs a tool; a non-zero exit is returned, not thrown. */
  run(cmd: string, args: readonly string[], opts?: { cwd?: string }): Promise<ExecResult>;
  /** Runs a tool; a non-zero exit is ENGINE_FAILED naming `what`. */
  ok(
    cmd: string,
    args: readonly string[],
    what: string,
    opts?: { cwd?: string },
  ): Promise<ExecResult>;
}

/** A runner whose children get `env` on top of this process's environment. */
export function runner(env: Record<string, string>): Runner {
  const childEnv = { ...process.env, ...env };
  const run = async (cmd: string, args: readonly string[], opts: { cwd?: string } = {}) => {
    try {
      return await execCapture(cmd, args, {
        env: childEnv,
        timeoutMs: ENGINE_TIMEOUT_MS,
        processGroup: true,
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      });
    } catch (err) {
      if (err instanceof ExecError && (err.code === 'NOT_FOUND' || err.code === 'SPAWN_FAILED'))
        throw new EngineError(
          'ENGINE_UNAVAILABLE',
          `${err.message}; install the container engine (see docs/container-engines.md)`,
          { cause: err },
        );
      throw new EngineError('ENGINE_FAILED', messageOf(err), { cause: err });
    }
  };
  return {
    run,
    async ok(cmd, args, what, opts) {
      const r = await run(cmd, args, opts);
      if (r.code !== 0) {
        const said = tailLines(r.stderr, 3) || tailLines(r.stdout, 3) || '(no output)';
        const down = /Cannot connect to the Docker daemon|Is the docker daemon running/i.test(said);
        throw new EngineError(
          down ? 'ENGINE_UNAVAILABLE' : 'ENGINE_FAILED',
          `${what} failed (${[cmd, ...args.slice(0, 4)].join(' ')}… exited ${r.code ?? r.signal}): ${said}`,
        );
      }
      return r;
    },
  };
}

const STATES: readonly ContainerState[] = [
  'created',
  'running',
  'restarting',
  'paused',
  'exited',
  'removing',
  'dead',
];

function stateOf(s: unknown): ContainerState {
  const v = typeof s === 'string' ? s.toLowerCase() : '';
  if (v === 'stopped' || v === 'stopping') return 'exited';
  if (v === 'configured' || v === 'initialized') return 'created';
  return (STATES as readonly string[]).includes(v) ? (v as ContainerState) : 'unknown';
}

function healthOf(s: unknown): Health {
  return s === 'starting' || s === 'healthy' || s === 'unhealthy' ? s : 'none';
}

type Json = Record<string, unknown>;
const strOf = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};

/** `docker inspect` / `podman inspect` JSON (an array of containers) → statuses. */
export function parseInspect(text: string): ServiceStatus[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    throw new EngineError(
      'ENGINE_FAILED',
      `the engine's inspect output is not JSON: ${messageOf(err)}`,
    );
  }
  if (!Array.isArray(list)) return [];
  const out: ServiceStatus[] = [];
  for (const c of list) {
    const o = obj(c);
    const config = obj(o.Config);
    const labels = obj(config.Labels);
    const app = labels[LABEL_PROJECT];
    const service = labels[LABEL_SERVICE];
    if (typeof app !== 'string' || typeof service !== 'string') continue;
    const state = obj(o.State);
    // podman 4.3 says State.Healthcheck, docker and later podman State.Health.
    const health = obj(state.Health ?? state.Healthcheck);
    const hasCheck = config.Healthcheck !== undefined && config.Healthcheck !== null;
    const startedAt = typeof state.StartedAt === 'string' ? state.StartedAt : undefined;
    out.push({
      app,
      service,
      container: strOf(o.Name).replace(/^\//, ''),
      image: typeof config.Image === 'string' ? config.Image : strOf(o.ImageName),
      state: state.Restarting === true ? 'restarting' : stateOf(state.Status),
      exitCode: typeof state.ExitCode === 'number' ? state.ExitCode : 0,
      restarts: typeof o.RestartCount === 'number' ? o.RestartCount : 0,
      health: hasCheck ? healthOf(health.Status) : 'none',
      restartPolicy: strOf(obj(obj(o.HostConfig).RestartPolicy).Name) || 'no',
      startedAt: startedAt === undefined || startedAt.startsWith('0001-') ? undefined : startedAt,
    });
  }
  return out.sort((a, b) =>
    a.app === b.app ? (a.service < b.service ? -1 : 1) : a.app < b.app ? -1 : 1,
  );
}

/**
 * Splits a compose `command:` string as compose does (POSIX shell words: quotes and
 * backslashes, no expansion).
 */
export function shellWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let any = false;
  let q: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (q === "'") {
      if (ch === "'") q = undefined;
      else cur += ch;
    } else if (q === '"') {
      if (ch === '"') q = undefined;
      else if (ch === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      q = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      any = true;
    } else if (/\s/.test(ch)) {
      if (any || cur !== '') out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (q !== undefined) throw new EngineError('COMPOSE_INVALID', `unterminated quote in "${s}"`);
  if (any || cur !== '') out.push(cur);
  return out;
}
