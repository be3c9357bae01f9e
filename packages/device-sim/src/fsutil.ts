/**
 * The simulator's file writes: `writeFileAtomic` of `@offline-ota/format` (`io/`), the one
 * atomic write of the project (temp file, fsync, rename, fsync the directory).
 */
export { writeFileAtomic } from '@offline-ota/format';
