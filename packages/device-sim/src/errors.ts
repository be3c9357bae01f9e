/**
 * Errors of the simulated device. Every failure carries a closed string code; the CLI
 * maps any of them to exit status 1 (device-sim is a test tool, not a field tool). The
 * class is the shared `OfflineOtaError` of `@offline-ota/format` with these codes.
 */
import { OfflineOtaError } from '@offline-ota/format';

export type DeviceSimErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FACTORY_INVALID'
  | 'DEVICE_NOT_EMPTY'
  | 'DEVICE_INVALID'
  | 'TOOL_FAILED'
  | 'BOOT_FAILED'
  | 'COMPOSE_INVALID'
  | 'APP_INCOMPLETE'
  | 'APP_START_FAILED';

export class DeviceSimError extends OfflineOtaError<DeviceSimErrorCode> {}

export { isErrno, messageOf } from '@offline-ota/format';
