/**
 * Device-safe I/O: the one implementation of the file and process primitives that the
 * host (`bundle`), the device (`aklite-offline`) and the simulator (`device-sim`) use.
 * Node built-ins only, so device code pulls in nothing host-only. One semantics each:
 *
 * - **fsync** (`fsyncFile`, `fsyncDir`, `fsyncTree`): a failed fsync is an error, on every
 *   file system; nothing is reported durable that may not be.
 * - **Atomic write** (`writeFileAtomic`): temporary file in the same directory, write,
 *   fsync the file, rename over the target, fsync the directory. Exactly the given mode.
 *   A failure at any step (the directory fsync included) removes the temporary file and
 *   throws; the target holds its old content or its new one.
 * - **Directory swap** (`swapDir`): the staged tree fsynced, the old directory renamed
 *   aside to `.<name>.old-<hex>`, the staged one renamed into place, the parent fsynced,
 *   the old tree removed. Leftovers of a power cut carry that name.
 * - **Capped read** (`readFileCapped`): a regular file of at most `cap` bytes, checked
 *   before reading; `TOO_LARGE` / `NOT_A_FILE` / `IO_FAILED` name the file.
 * - **Exec** (`execCapture`, `execChecked`): no shell, stdin closed, stdout bounded (a
 *   child writing more is killed), the tail of stderr kept; optional timeout that kills the
 *   child or, with `processGroup`, its whole process group. `ExecError` carries the
 *   command, exit code or signal and the stderr tail.
 *
 * Errors are `IoError` and `ExecError` (`./errors.ts`) with closed codes; each package
 * wraps them into its own error code at its boundary.
 */
export * from './errors.js';
export * from './fs.js';
export * from './exec.js';
