#!/usr/bin/env node
// `node scripts/bench-device.mjs`: the one-file device CLI against the workspace CLI
// (docs/device-integration.md): what each needs on disk, and how long `aklite-offline
// --version` and `aklite-offline status` take to start, on a simulated device. Needs the
// build (`pnpm build`) and the one file (`pnpm build:device`); runs each command --runs
// times (default 15, after 2 warm-up runs) and reports the median and the fastest run, with
// hyperfine when it is installed, otherwise with a loop of its own.
//
// Writes the "Device CLI" section of docs/benchmarks.md (between its markers; `pnpm bench`
// keeps that section when it rewrites the file) and prints it. `--out -` only prints.
//
//   node scripts/bench-device.mjs [--runs N] [--out FILE]
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'packages/aklite-offline');
const ONE_FILE = join(PKG, 'dist-device/aklite-offline.mjs');
const WORKSPACE = join(PKG, 'bin/run.js');
const DEVICE_SIM = join(ROOT, 'packages/device-sim/bin/run.js');
export const BEGIN = '<!-- device-cli:begin (scripts/bench-device.mjs) -->';
export const END = '<!-- device-cli:end -->';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const runs = Number(opt('--runs', '15'));
const out = opt('--out', join(ROOT, 'docs/benchmarks.md'));

for (const f of [ONE_FILE, WORKSPACE, join(PKG, 'dist/src/index.js')]) {
  if (!existsSync(f)) {
    console.error(
      `bench-device: ${relative(ROOT, f)} is missing; run pnpm build && pnpm build:device`,
    );
    process.exit(1);
  }
}

/** Bytes of the files under `dir`, not following links, leaving out nested node_modules. */
function treeBytes(dir) {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) n += treeBytes(p);
    else if (e.isFile()) n += lstatSync(p).size;
  }
  return n;
}

/**
 * What the workspace CLI needs on disk: aklite-offline's and format's built code and every
 * npm package in the closure of their runtime dependencies (each counted once).
 */
function workspaceBytes() {
  const seen = new Set();
  let bytes = 0;
  let packages = 0;
  const visit = (dir) => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    const pj = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8'));
    const isWorkspace = real.startsWith(join(ROOT, 'packages'));
    bytes += isWorkspace
      ? treeBytes(join(real, 'dist/src')) + treeBytes(join(real, 'bin'))
      : treeBytes(real);
    packages += isWorkspace ? 0 : 1;
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      // pnpm links a package's dependencies into the node_modules beside (or inside) it.
      const candidates = [
        join(real, 'node_modules', dep),
        join(real, '..', dep),
        join(real, '../..', dep),
      ];
      const found = candidates.find((c) => existsSync(join(c, 'package.json')));
      if (found) visit(found);
    }
  };
  if (existsSync(join(PKG, 'bin'))) visit(PKG);
  return { bytes, packages };
}

const fmtKiB = (n) => `${(n / 1024).toLocaleString('en-US', { maximumFractionDigits: 0 })} KiB`;
const fmtMs = (s) => `${Math.round(s * 1000)} ms`;

/** A simulated device to run `status` on (a one-Target test factory, device-sim create). */
async function makeDevice(work) {
  const { createTestFactory } = await import(
    pathToFileURL(join(ROOT, 'packages/testkit/dist/src/index.js')).href
  );
  const f = await createTestFactory({ dir: work, versions: [1] });
  const root = join(work, 'device');
  const r = spawnSync(
    process.execPath,
    [
      DEVICE_SIM,
      'create',
      root,
      '--factory',
      f.factoryDir,
      '--target',
      f.targets[0],
      '--tag',
      f.tag,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`device-sim create failed: ${r.stderr}`);
  return root;
}

const hasHyperfine = spawnSync('hyperfine', ['--version']).status === 0;

/** Median and fastest wall time (seconds) of `argv` over `runs` runs. */
function time(argv) {
  if (hasHyperfine) {
    const json = join(os.tmpdir(), `bench-device-${process.pid}.json`);
    const q = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
    const r = spawnSync(
      'hyperfine',
      ['-N', '--warmup', '2', '--runs', String(runs), '--export-json', json, argv.map(q).join(' ')],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`hyperfine failed: ${r.stderr}`);
    const res = JSON.parse(readFileSync(json, 'utf8')).results[0];
    rmSync(json, { force: true });
    return { median: res.median, min: res.min, tool: 'hyperfine' };
  }
  const times = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
    if (i >= 2) times.push(dt);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)],
    min: times[0],
    tool: 'a loop of spawnSync',
  };
}

const work = mkdtempSync(join(os.tmpdir(), 'bench-device-'));
try {
  const device = await makeDevice(work);
  const oneFile = statSync(ONE_FILE).size;
  const ws = workspaceBytes();
  const rows = [];
  let tool = '';
  for (const [label, cmd] of [
    ['--version', ['--version']],
    ['status', ['status', '--device-root', device]],
  ]) {
    const a = time([process.execPath, WORKSPACE, ...cmd]);
    const b = time([process.execPath, ONE_FILE, ...cmd]);
    tool = a.tool;
    rows.push(
      `| \`aklite-offline ${label}\` | ${fmtMs(a.median)} (fastest ${fmtMs(a.min)}) | ${fmtMs(b.median)} (fastest ${fmtMs(b.min)}) | ${(a.median / b.median).toFixed(2)}× |`,
    );
  }
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  const md = [
    BEGIN,
    '## Device CLI: one file against the workspace',
    '',
    `Produced by \`node scripts/bench-device.mjs\` (${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, commit \`${commit}\`, Node.js ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, load average at start ${load}). Start-up measured with ${tool}, ${runs} runs after 2 warm-up runs; \`status\` reads a simulated device (device-sim).`,
    '',
    '| what | workspace CLI (`bin/run.js`) | one file (`pnpm build:device`) |',
    '|---|--:|--:|',
    `| on disk | ${fmtKiB(ws.bytes)}: aklite-offline and format \`dist/\`, ${ws.packages} npm packages | ${fmtKiB(oneFile)} in 1 file |`,
    '',
    '| command | workspace CLI: median | one file: median | speed-up |',
    '|---|--:|--:|--:|',
    ...rows,
    END,
  ].join('\n');
  if (md.includes(work) || md.includes(ROOT))
    throw new Error('internal: the report names a local path');
  console.log(md);
  if (out !== '-') {
    const cur = existsSync(out) ? readFileSync(out, 'utf8') : '# Benchmarks\n';
    const i = cur.indexOf(BEGIN);
    const j = cur.indexOf(END);
    const next =
      i >= 0 && j > i
        ? cur.slice(0, i) + md + cur.slice(j + END.length)
        : `${cur.trimEnd()}\n\n${md}\n`;
    writeFileSync(out, next);
    console.error(`bench-device: wrote ${relative(ROOT, out)}`);
  }
} finally {
  spawnSync('chattr', ['-R', '-i', join(work, 'device', 'sysroot')], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
