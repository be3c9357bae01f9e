export * from './errors.js';
export * from './canonical.js';
export * from './time.js';
export * from './keys.js';
export * from './metadata.js';
export * from './status.js';
export * from './layout.js';
