/**
 * Choosing the volume driver from configuration. `parseVolumeConfig` turns
 * environment variables (passed in: the host actor's config.ts is the only
 * reader of process.env) into a typed config; `createVolumeDriver` builds the
 * driver and the bind-file store.
 *
 *   VOLUME_DRIVER          local-block (default) | cinder
 *   STATE_DIR              volumes/, mnt/ and cinder/ live here (default /var/lib/zun)
 *   CINDER_URL             cinder: project-scoped endpoint, http://controller:8776/v3/<project_id>
 *   OS_TOKEN               cinder: a token Cinder accepts (Keystone login is not done here)
 *   MY_BLOCK_STORAGE_IP    cinder: connector ip (default 127.0.0.1)
 *   ISCSI_INITIATOR        cinder: connector initiator (optional)
 */
import type { Logger } from '../../platform/log.js';
import { staticToken, type OpenStackAuth } from '../../openstack/openstack-http.js';
import { createBindFileStore, type BindFileStore } from './bind-file.js';
import { createCinderClient } from '../../openstack/cinder-client.js';
import { connectorProperties, createCinderDriver, type VolumeConnector } from './cinder.js';
import { createCommandRunner, createMounter, type RunCommand } from './host-commands.js';
import { createLocalBlockDriver } from './local-block.js';
import type { VolumeDriver } from './types.js';

export * from './types.js';
export { createBindFileStore, decodeBase64, type BindFileStore } from './bind-file.js';
export { localConnector, connectorProperties, type VolumeConnector } from './cinder.js';

export type VolumeConfig =
  | { readonly driver: 'local-block'; readonly stateDir: string }
  | {
      readonly driver: 'cinder';
      readonly stateDir: string;
      readonly cinderUrl: string;
      readonly token: string | null;
      readonly blockStorageIp: string;
      readonly initiator: string | null;
    };

export class VolumeConfigError extends Error {
  readonly code = 'VOLUME_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'VolumeConfigError';
  }
}

export function parseVolumeConfig(env: Readonly<Record<string, string | undefined>>): VolumeConfig {
  const driver = (env['VOLUME_DRIVER'] ?? 'local-block').trim().toLowerCase();
  const stateDir = env['STATE_DIR'] ?? '/var/lib/zun';
  if (driver === 'local-block') return { driver, stateDir };
  if (driver === 'cinder') {
    const cinderUrl = env['CINDER_URL'];
    if (!cinderUrl) throw new VolumeConfigError('VOLUME_DRIVER=cinder needs CINDER_URL');
    return {
      driver,
      stateDir,
      cinderUrl,
      token: env['OS_TOKEN'] ?? null,
      blockStorageIp: env['MY_BLOCK_STORAGE_IP'] ?? '127.0.0.1',
      initiator: env['ISCSI_INITIATOR'] ?? null,
    };
  }
  throw new VolumeConfigError(`VOLUME_DRIVER must be local-block or cinder, not ${driver}`);
}

export function createVolumeDriver(
  config: VolumeConfig,
  deps: {
    host: string;
    log: Logger;
    run?: RunCommand;
    auth?: OpenStackAuth;
    fetchImpl?: typeof fetch;
    /** cinder: connectors beyond `local`, by driver_volume_type. */
    connectors?: Readonly<Record<string, VolumeConnector>>;
  },
): { volumes: VolumeDriver; bindFiles: BindFileStore } {
  const log = deps.log.child({ component: `volume-${config.driver}` });
  const run = deps.run ?? createCommandRunner({ log });
  const bindFiles = createBindFileStore({ stateDir: config.stateDir });
  if (config.driver === 'local-block') return { volumes: createLocalBlockDriver({ stateDir: config.stateDir, run, log }), bindFiles };
  const auth = deps.auth ?? (config.token ? staticToken(config.token) : null);
  if (!auth) throw new VolumeConfigError('VOLUME_DRIVER=cinder needs OS_TOKEN or an auth provider');
  const cinder = createCinderClient({ endpoint: config.cinderUrl, auth, log, ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}) });
  return {
    volumes: createCinderDriver({
      cinder,
      host: deps.host,
      stateDir: config.stateDir,
      connector: connectorProperties({ host: deps.host, ip: config.blockStorageIp, initiator: config.initiator }),
      mounter: createMounter({ run, log }),
      log,
      ...(deps.connectors ? { connectors: deps.connectors } : {}),
    }),
    bindFiles,
  };
}
