/**
 * The simulated device's container engine: podman with a store of its own under the
 * device root (`var/lib/containers/storage`, run-time state in `run/containers`, which a
 * reboot empties like the tmpfs it stands for), run with the project's containers.conf.
 * Several devices run side by side, and removing a device removes its store.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podmanEngine, type ContainerEngine, type PodmanStore } from '@offline-ota/format';

/** The project's containers.conf (runc, cgroupfs, ulimits under the host's hard limits). */
export const CONTAINERS_CONF_FILE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../containers.conf',
);

/** Where a device's containers.conf and engine store are, as device paths. */
export const DEVICE_ENGINE = {
  containersConf: '/etc/containers/containers.conf',
  storageRoot: '/var/lib/containers/storage',
  runRoot: '/run/containers/storage',
  driver: 'vfs',
} as const;

export function devicePodmanStore(root: string): PodmanStore {
  return {
    root: join(root, DEVICE_ENGINE.storageRoot),
    runRoot: join(root, DEVICE_ENGINE.runRoot),
    driver: DEVICE_ENGINE.driver,
  };
}

/** The engine of the device at `root` (its own podman store). */
export function deviceEngine(root: string): ContainerEngine {
  return podmanEngine({
    store: devicePodmanStore(root),
    containersConf: join(root, DEVICE_ENGINE.containersConf),
    stopTimeoutSeconds: 5,
  });
}
