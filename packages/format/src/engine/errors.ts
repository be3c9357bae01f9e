import { OfflineOtaError } from '../errors.js';

/**
 * Errors of the container-engine port (`engine/`), with closed codes; aklite-offline and
 * device-sim wrap them into their own codes at their boundary.
 */
export type EngineErrorCode =
  /** The engine's tool cannot be run, or its daemon does not answer. */
  | 'ENGINE_UNAVAILABLE'
  /** An engine command failed (load, create, start, stop, remove, inspect). */
  | 'ENGINE_FAILED'
  /** A compose project the port cannot run as written (unpinned image, unsupported key). */
  | 'COMPOSE_INVALID'
  /** Image content that does not match the digest pinned for it. */
  | 'IMAGE_INVALID';

export class EngineError extends OfflineOtaError<EngineErrorCode> {}
