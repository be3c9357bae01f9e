#!/usr/bin/env node
// Regenerates the committed test bundles (see README.md in this directory).
//
//   node test-bundles/generate.mjs            rewrite test-bundles/ (all but README.md and generate.mjs)
//   node test-bundles/generate.mjs OUT_DIR    write the set into OUT_DIR (empty or missing)
//
// Needs the build (`pnpm exec tsc -b`), ostree, faketime and Debian's busybox-static (the
// sample app's image runs /bin/busybox, so the bytes follow that package): it runs with the
// system clock at 2026-01-01 (tuf-js reads the system clock), so this script re-runs
// itself under `faketime` when it is not already.
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const KEEP = new Set(['README.md', 'generate.mjs']);
const MARK = 'OFFLINE_OTA_TEST_BUNDLES_FAKETIME';
const say = (line) => process.stderr.write(`${line}\n`);

const lib = await import(
  pathToFileURL(join(HERE, '../packages/testkit/dist/src/test-bundles.js')).href
).catch((err) => {
  say(`ERROR: cannot load the generator (build first: pnpm exec tsc -b): ${err}`);
  process.exit(1);
});

if (process.env[MARK] !== '1') {
  const r = spawnSync(
    'faketime',
    [
      lib.TEST_BUNDLES_FAKETIME,
      process.execPath,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    // TZ: faketime reads the time as local time.
    { stdio: 'inherit', env: { ...process.env, TZ: 'UTC', [MARK]: '1' } },
  );
  if (r.error) {
    say(`ERROR: cannot run faketime (apt-get install faketime): ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

const target = process.argv[2] === undefined ? HERE : resolve(process.argv[2]);
const inPlace = target === HERE;
const out = inPlace ? await mkdtemp(join(tmpdir(), 'test-bundles-out-')) : target;
try {
  const manifest = await lib.generateTestBundles({
    outDir: out,
    onProgress: say,
  });
  if (inPlace) {
    for (const name of await readdir(HERE))
      if (!KEEP.has(name)) await rm(join(HERE, name), { recursive: true, force: true });
    for (const name of await readdir(out))
      await cp(join(out, name), join(HERE, name), { recursive: true });
  }
  say(`wrote ${manifest.bundles.length} bundles to ${target}`);
} catch (err) {
  say(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  if (inPlace) await rm(out, { recursive: true, force: true });
}
