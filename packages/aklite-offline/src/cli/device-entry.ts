/**
 * The entry point of the one-file device CLI (`pnpm build:device` bundles it with esbuild
 * into `dist-device/aklite-offline.mjs`, which needs only `node`). oclif normally reads
 * package.json and scans `commands/`; a single file has neither, so this passes oclif the
 * package description and points its `explicit` command discovery at the bundle itself,
 * which exports `COMMANDS` (cli/commands.ts).
 *
 * The bundle's top level calls `runDeviceCli` without awaiting it: oclif imports the bundle
 * (the module that is running) to read `COMMANDS`, and an import of a module whose
 * top-level await is still pending would never settle.
 */
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execute, settings, type Interfaces } from '@oclif/core';

export interface DeviceCliMeta {
  /** `import.meta.url` of the bundle. */
  url: string;
  /** The package version (`--version`). */
  version: string;
}

export function runDeviceCli(meta: DeviceCliMeta): Promise<unknown> {
  // No TypeScript on a device: never look for sources to transpile.
  settings.enableAutoTranspile = false;
  const file = fileURLToPath(meta.url);
  const pjson = {
    name: '@offline-ota/aklite-offline',
    version: meta.version,
    type: 'module',
    oclif: {
      bin: 'aklite-offline',
      dirname: 'aklite-offline',
      topicSeparator: ' ',
      commands: { strategy: 'explicit', target: `./${basename(file)}`, identifier: 'COMMANDS' },
    },
  } as unknown as Interfaces.PJSON;
  return execute({ args: process.argv.slice(2), loadOptions: { root: dirname(file), pjson } });
}
