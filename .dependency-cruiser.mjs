// The package boundaries, checked by `pnpm run boundaries` in the test command (scripts/test.sh)
// (docs/architecture.md, "Boundaries that a tool enforces"). dependency-cruiser reads the
// TypeScript sources of every package (not dist/) and fails on any rule below.

/** An npm package as installed by pnpm (through its symlink or under node_modules/.pnpm/). */
const npm = (names) => `node_modules/(${names.join('|')})/`;

/**
 * What device code (aklite-offline, and format which the device imports) may import from
 * npm. Everything else is host-only (fast-glob, yaml, archivers, @offline-ota/bundle, ...).
 * Adding a package here is a decision about what runs on the device: see
 * docs/architecture.md before you do.
 */
const DEVICE_NPM = [
  '@noble/ed25519',
  '@tufjs/canonical-json',
  '@tufjs/models',
  'tuf-js',
  'smol-toml',
  'tar',
  'yaml',
  'valibot',
  '@oclif/core',
];

/** The modules of a CLI that may use oclif: its commands and its command support. */
const COMMAND_MODULES = '^packages/[^/]+/src/(commands/|cli/|base\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-import-cycle',
      severity: 'error',
      comment: 'A module must not reach itself through its imports (docs/architecture.md).',
      from: { path: '^packages/[^/]+/(src|test)/' },
      to: { circular: true },
    },
    {
      name: 'device-imports-host-code',
      severity: 'error',
      comment:
        'Device code (aklite-offline, format) imports only node built-ins, its own package, ' +
        '@offline-ota/format and the device dependencies listed in .dependency-cruiser.mjs.',
      from: { path: '^packages/(aklite-offline|format)/src/' },
      to: {
        dependencyTypesNot: ['core'],
        pathNot: [
          '^packages/$1/src/',
          '^packages/format/(src|dist/src)/',
          'node_modules/@offline-ota/format/',
          npm(DEVICE_NPM),
        ],
      },
    },
    {
      name: 'library-imports-oclif',
      severity: 'error',
      comment:
        'Library code never imports @oclif/core: a command parses flags, calls one library ' +
        'function and formats its result (STYLE.md, "Library first, thin commands").',
      from: { path: '^packages/[^/]+/src/', pathNot: COMMAND_MODULES },
      to: { path: npm(['@oclif/core']) },
    },
    {
      name: 'production-imports-tests',
      severity: 'error',
      comment: 'Published code never imports test code.',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: '^packages/[^/]+/test/' },
    },
  ],
  options: {
    // Other packages are seen through their built entry points, and not followed.
    doNotFollow: { path: ['node_modules', '^packages/[^/]+/dist(-test)?/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      mainFields: ['module', 'main'],
      extensions: ['.ts', '.js', '.mjs', '.cjs'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
