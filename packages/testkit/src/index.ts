/**
 * `@offline-ota/testkit`: test support shared by the packages' tests, kept out of every
 * published package (private; nothing in a package's `src` imports it).
 *
 *   test-factory.ts   createTestFactory: a factory with published Targets, by the production builder
 *   test-bundles.ts   generateTestBundles: the committed `test-bundles/` set, from seeded keys
 *   offline.ts        offlineArgv: run a tool where the network is unreachable
 *   ostree-repo.ts    ostreeRepoWithOneCommit: a one-commit repo made with the real ostree
 *   engine.ts         startTestDockerd, appImageOfLayout: container-engine test support
 *   json-schema.ts    parseWithSchema: a CLI's --json output checked against its committed JSON Schema (ajv)
 *   cli/aklite-stop-at.ts the `aklite-stop-at` bin: the real CLI with a stopping checkpoint port
 */
export * from './test-factory.js';
export * from './test-bundles.js';
export * from './offline.js';
export * from './ostree-repo.js';
export * from './engine.js';
export * from './json-schema.js';
