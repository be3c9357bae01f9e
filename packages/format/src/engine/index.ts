/**
 * The container-engine port and its adapters (docs/architecture.md §Container engine):
 * port.ts (the interface), podman.ts and docker.ts (the adapters), compose.ts (the compose
 * model), load.ts (verified image loading), cli.ts (what the adapters share).
 */
export * from './errors.js';
export * from './port.js';
export * from './compose.js';
export * from './podman.js';
export * from './docker.js';
export * from './load.js';
export { parseInspect, shellWords } from './cli.js';
