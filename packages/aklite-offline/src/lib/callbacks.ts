/**
 * Callbacks (reference §3.10, seeds/002): `[pacman] callback_program` runs at each step of
 * an update with the event in `MESSAGE` and the Targets and result in the environment.
 * It runs without a shell and without arguments. A callback that is missing, fails or
 * hangs is logged and never changes the outcome of the update: a hanging one is killed
 * (its whole process group) after `[pacman] callback_timeout_seconds`.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { Device } from './device.js';
import { messageOf } from './errors.js';
import { lastLine } from './exec.js';
import type { DeviceState } from './state.js';

export const CALLBACK_MESSAGES = [
  'check-for-update-pre',
  'check-for-update-post',
  'download-pre',
  'download-post',
  'install-pre',
  'install-post',
  'install-final-pre',
] as const;

export type CallbackMessage = (typeof CALLBACK_MESSAGES)[number];

export interface CallbackContext {
  /** `INSTALL_TARGET_NAME`: the Target being installed (when there is one). */
  installTarget?: string;
  /** `RESULT`: `OK`, `NEEDS_COMPLETION` or `FAILED: <reason>` (post events only). */
  result?: string;
}

/** The variables a callback reads; anything inherited under these names is replaced. */
const CONTRACT = [
  'MESSAGE',
  'CURRENT_TARGET',
  'CURRENT_TARGET_NAME',
  'INSTALL_TARGET_NAME',
  'RESULT',
] as const;

/** `FAILED: <reason>` on one line. */
export const failed = (reason: string): string => `FAILED: ${reason.replace(/\s+/g, ' ').trim()}`;

/** The environment of one callback run (reference §3.10). */
export function callbackEnv(
  dev: Device,
  state: DeviceState,
  message: CallbackMessage,
  ctx: CallbackContext,
  inherited: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(inherited))
    if (v !== undefined && !(CONTRACT as readonly string[]).includes(k)) env[k] = v;
  env.MESSAGE = message;
  env.CURRENT_TARGET = join(dev.config.storageDir, 'current-target');
  const cur = state.current;
  if (cur && !cur.unknown) env.CURRENT_TARGET_NAME = cur.name;
  if (ctx.installTarget !== undefined) env.INSTALL_TARGET_NAME = ctx.installTarget;
  if (ctx.result !== undefined) env.RESULT = ctx.result;
  return env;
}

/**
 * Runs the callback program for one event, if one is configured. Never throws: every
 * problem is reported through `progress` and the update goes on.
 */
export async function fireCallback(
  dev: Device,
  state: DeviceState,
  message: CallbackMessage,
  ctx: CallbackContext = {},
): Promise<void> {
  const program = dev.config.callbackProgram;
  if (program === undefined) return;
  const { ports } = dev;
  try {
    await access(program, constants.X_OK);
  } catch {
    ports.progress(
      `Warning: [pacman] callback_program ${program} does not exist or is not executable; ` +
        `skipped the ${message} callback (fix the path or its mode)`,
    );
    return;
  }
  const seconds = dev.config.callbackTimeoutSeconds;
  const r = await ports.callback.run(
    program,
    callbackEnv(dev, state, message, ctx),
    seconds * 1000,
  );
  if (r.timedOut) {
    ports.progress(
      `Warning: callback ${program} (${message}) still ran after ${seconds} s ` +
        '([pacman] callback_timeout_seconds) and was killed with its process group; the update goes on',
    );
  } else if (r.code !== 0) {
    const how = r.code === null ? `was ended by ${r.signal ?? 'an error'}` : `exited ${r.code}`;
    const tail = r.output.trim() === '' ? '' : `: ${lastLine(r.output)}`;
    ports.progress(`Warning: callback ${program} (${message}) ${how}${tail}; the update goes on`);
  }
}

type Step = 'check-for-update' | 'download' | 'install';

/**
 * The callbacks of one `install`: each step's `-pre` event, then its `-post` event with
 * `OK` (or `NEEDS_COMPLETION`), or `FAILED: <reason>` when the step throws (`fail`).
 * `install` makes one and passes it down to each step.
 */
export class UpdateCallbacks {
  private open: Step | undefined;
  private target: string | undefined;

  constructor(
    private readonly dev: Device,
    private readonly state: DeviceState,
  ) {}

  async pre(step: Step, target?: string): Promise<void> {
    if (target !== undefined) this.target = target;
    this.open = step;
    await fireCallback(this.dev, this.state, `${step}-pre`, this.ctx());
  }

  async post(result: string, target?: string): Promise<void> {
    if (target !== undefined) this.target = target;
    const step = this.open;
    if (step === undefined) return;
    this.open = undefined;
    await fireCallback(this.dev, this.state, `${step}-post`, { ...this.ctx(), result });
  }

  /** Reports the step in progress as failed (nothing when no step is open). */
  async fail(err: unknown): Promise<void> {
    await this.post(failed(messageOf(err)));
  }

  private ctx(): CallbackContext {
    return this.target === undefined ? {} : { installTarget: this.target };
  }
}
