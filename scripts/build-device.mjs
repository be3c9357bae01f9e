#!/usr/bin/env node
// `pnpm build:device`: the device CLI as one file that needs only `node` (docs/device-integration.md).
//
// Bundles aklite-offline's built JavaScript (run `tsc -b` first: `pnpm build`) with esbuild
// into packages/aklite-offline/dist-device/aklite-offline.mjs: one ES module with every
// dependency inside (oclif, tuf-js, valibot, smol-toml, tar), no node_modules beside it.
// Its commands come from the explicit command map (src/cli/commands.ts), which the bundle
// exports for oclif to read. Then it checks the artifact: it must carry no host-only code
// (the check lists the markers it looks for; `--no-check` skips it).
//
//   node scripts/build-device.mjs [--out FILE] [--no-check]
import console from 'node:console';
import process from 'node:process';
import { chmod, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { hostOnlyFindings } from './device-artifact-check.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'packages/aklite-offline');

const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const out = resolve(outIdx >= 0 ? args[outIdx + 1] : join(PKG, 'dist-device/aklite-offline.mjs'));
const check = !args.includes('--no-check');

const pkg = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8'));
const entry = join(PKG, 'dist/src/cli/device-entry.js');
await stat(entry).catch(() => {
  console.error(
    `build-device: ${relative(ROOT, entry)} is missing; run \`pnpm build\` (tsc -b) first`,
  );
  process.exit(1);
});

await build({
  stdin: {
    contents: [
      "import { runDeviceCli } from './dist/src/cli/device-entry.js';",
      "export { COMMANDS } from './dist/src/cli/commands.js';",
      `void runDeviceCli({ url: import.meta.url, version: ${JSON.stringify(pkg.version)} });`,
    ].join('\n'),
    resolveDir: PKG,
    sourcefile: 'aklite-offline-device.mjs',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.17',
  outfile: out,
  minify: false,
  legalComments: 'eof',
  // oclif requires typescript only to read a tsconfig.json during development; the device
  // entry turns that off, and without this the compiler (10 MB) would be bundled.
  external: ['typescript'],
  logLevel: 'warning',
  // oclif is CommonJS and calls require(); an ES module has no require of its own.
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// aklite-offline ${pkg.version}: the device CLI as one file (pnpm build:device). License: Apache-2.0; bundled licenses at the end.`,
      "import { createRequire as __aklCreateRequire } from 'node:module';",
      'const require = __aklCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});
await chmod(out, 0o755);

const size = (await stat(out)).size;
console.log(`build-device: wrote ${relative(ROOT, out)} (${(size / 1024).toFixed(0)} KiB)`);
if (check) {
  const findings = hostOnlyFindings(await readFile(out, 'utf8'));
  if (findings.length > 0) {
    console.error(`build-device: ${relative(ROOT, out)} carries host-only code:`);
    for (const f of findings) console.error(`  ${f}`);
    process.exit(1);
  }
  console.log('build-device: no host-only code in the artifact');
}
