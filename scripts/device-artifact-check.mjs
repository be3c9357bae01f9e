#!/usr/bin/env node
// The one-file device CLI must carry no host-only code (issue 10 §1, docs/device-integration.md):
// nothing from @offline-ota/bundle (bundlectl, the zip writer, the factory), from the test
// kit, or from the host's npm packages (fast-glob). `yaml` is device code: the container
// engine port reads each app's compose file on the device. esbuild writes the path of every
// module it bundles as a `// path` comment above the module's code; this reads those lines
// and names each one that comes from a host-only place.
//
//   node scripts/device-artifact-check.mjs FILE    exit 1 and the findings when there are any
import console from 'node:console';
import process from 'node:process';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

/** Where host-only modules come from, as esbuild names them (paths relative to the repo). */
export const HOST_ONLY = [
  {
    what: '@offline-ota/bundle (bundlectl, zip writer, factory)',
    re: /(^|\/)packages\/bundle\/|(^|\/)@offline-ota\/bundle\//,
  },
  { what: '@offline-ota/testkit', re: /(^|\/)packages\/testkit\/|(^|\/)@offline-ota\/testkit\// },
  {
    what: '@offline-ota/device-sim',
    re: /(^|\/)packages\/device-sim\/|(^|\/)@offline-ota\/device-sim\//,
  },
  { what: 'fast-glob', re: /node_modules\/(\.pnpm\/fast-glob@[^/]+\/node_modules\/)?fast-glob\// },
  { what: 'a zip writer', re: /zip-writer|node_modules\/(yazl|archiver|jszip|adm-zip)\// },
];

/** The module paths esbuild recorded in a non-minified bundle (its `// path` lines). */
export function bundledModules(text) {
  const mods = new Set();
  for (const m of text.matchAll(/^\/\/ ((?:\.\.\/|[\w@.-]+\/)[^\s]*\.(?:c|m)?js)$/gm))
    mods.add(m[1]);
  return [...mods];
}

/** One line per bundled module that is host-only, naming the module and why. */
export function hostOnlyFindings(text) {
  const findings = [];
  for (const mod of bundledModules(text)) {
    const hit = HOST_ONLY.find((h) => h.re.test(mod));
    if (hit) findings.push(`${mod}: ${hit.what}`);
  }
  return findings;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node scripts/device-artifact-check.mjs FILE');
    process.exit(2);
  }
  const text = await readFile(file, 'utf8');
  const mods = bundledModules(text);
  const findings = hostOnlyFindings(text);
  if (mods.length === 0) {
    console.error(`${file}: no module paths found; is it a non-minified esbuild bundle?`);
    process.exit(1);
  }
  if (findings.length > 0) {
    console.error(`${file} carries host-only code:\n  ${findings.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`${file}: ${mods.length} modules, none host-only`);
}
