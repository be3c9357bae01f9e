import { writeFile } from 'node:fs/promises';
import { devicePaths } from '@offline-ota/format';
import { DeviceSimError } from './errors.js';
import { run } from './exec.js';

/** The U-Boot variables the simulated boot flow uses, as integers. */
export interface BootEnv {
  bootcount: number;
  bootlimit: number;
  upgrade_available: number;
  bootupgrade_available: number;
  rollback: number;
}

export const BOOT_ENV_VARS: readonly (keyof BootEnv)[] = [
  'bootcount',
  'bootlimit',
  'upgrade_available',
  'bootupgrade_available',
  'rollback',
];

/** The environment a new device starts with (`fw_setenv -f` defaults). */
export const DEFAULT_BOOT_ENV: BootEnv = {
  bootcount: 0,
  bootlimit: 3,
  upgrade_available: 0,
  bootupgrade_available: 0,
  rollback: 0,
};

/** Size of the file-backed environment; must match the size in `fw_env.config`. */
export const UBOOT_ENV_SIZE = 0x4000;

/** Parses `fw_printenv` output (`name=value` lines) into a map. */
export function parsePrintenv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}

/** Picks the boot variables out of a variable map; a missing or non-numeric one is an error. */
export function bootEnvOf(vars: Record<string, string>, file: string): BootEnv {
  const env = { ...DEFAULT_BOOT_ENV };
  for (const name of BOOT_ENV_VARS) {
    const raw = vars[name];
    if (raw === undefined || !/^[0-9]+$/.test(raw)) {
      throw new DeviceSimError(
        'DEVICE_INVALID',
        `U-Boot variable ${name} is ${raw === undefined ? 'not set' : `"${raw}", not a number`} in ${file}; ` +
          `set it with fw_setenv -c ${file} ${name} <n>`,
        { file },
      );
    }
    env[name] = Number(raw);
  }
  return env;
}

/** The bootloader-environment port: the real `fw_printenv`/`fw_setenv` on the device's file. */
export class UBootEnv {
  readonly config: string;
  readonly file: string;

  constructor(root: string) {
    const paths = devicePaths(root);
    this.config = paths.fwEnvConfig;
    this.file = paths.ubootEnvFile;
  }

  /** Writes `fw_env.config` (naming the env file by absolute path) and an all-zero env file. */
  async writeConfig(): Promise<void> {
    await writeFile(
      this.config,
      `# device-sim: file-backed U-Boot environment\n${this.file} 0x0 0x${UBOOT_ENV_SIZE.toString(16)}\n`,
    );
    await writeFile(this.file, new Uint8Array(UBOOT_ENV_SIZE));
  }

  /** `fw_setenv -c CFG -f DEFAULTS`: initialises the environment from a defaults file. */
  async initialise(defaultsFile: string, env: BootEnv = DEFAULT_BOOT_ENV): Promise<void> {
    await writeFile(defaultsFile, BOOT_ENV_VARS.map((n) => `${n}=${env[n]}\n`).join(''));
    await run(
      'fw_setenv',
      ['-c', this.config, '-f', defaultsFile],
      `initialising the U-Boot environment ${this.file}`,
    );
  }

  async printAll(): Promise<Record<string, string>> {
    const { stdout } = await run(
      'fw_printenv',
      ['-c', this.config],
      `reading the U-Boot environment ${this.file}`,
    );
    return parsePrintenv(stdout);
  }

  async read(): Promise<BootEnv> {
    return bootEnvOf(await this.printAll(), this.config);
  }

  /** `fw_setenv -c CFG name value [name value …]` in one write. */
  async set(values: Partial<BootEnv>): Promise<void> {
    const args: string[] = [];
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined) args.push(k, String(v));
    }
    if (args.length === 0) return;
    await run(
      'fw_setenv',
      ['-c', this.config, ...args],
      `writing the U-Boot environment ${this.file}`,
    );
  }
}
