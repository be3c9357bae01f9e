export * from './errors.js';
export * from './device.js';
export * from './engine.js';
export { UBootEnv, DEFAULT_BOOT_ENV, BOOT_ENV_VARS, type BootEnv } from './uboot-env.js';
export { Sysroot, type Deployment, parseDeploymentPath, deploymentPath } from './ostree.js';
export { cmdlineFor } from './cmdline.js';
