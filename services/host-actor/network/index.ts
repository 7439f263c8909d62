/**
 * Choosing the network driver from configuration. `parseNetworkConfig` turns
 * environment variables (passed in: the host actor's config.ts is the only
 * reader of process.env) into a typed config; `createNetworkDriver` builds the
 * driver.
 *
 *   NETWORK_DRIVER            bridge (default) | kuryr
 *   NETWORK_BRIDGE_ISOLATE    true (default) | false: inhibit_ipv4 on bridges
 *   NEUTRON_URL               kuryr: Neutron endpoint, e.g. http://controller:9696
 *   OS_TOKEN                  kuryr: a token Neutron accepts (Keystone login is not done here)
 *   KURYR_DRIVER_NAME         kuryr: [network] driver_name (default kuryr)
 */
import type Docker from 'dockerode';
import type { Logger } from '../../platform/log.js';
import { createBridgeNetworkDriver } from './bridge.js';
import { createKuryrNetworkDriver, KURYR_DRIVER_NAME } from './kuryr.js';
import { createNeutronClient } from '../../openstack/neutron-client.js';
import { staticToken, type OpenStackAuth } from '../../openstack/openstack-http.js';
import type { NetworkDriver } from './types.js';

export * from './types.js';
export { bridgeNetworkName, checkBridgeForwarding } from './bridge.js';
export { kuryrNetworkCreateBody, KURYR_DEVICE_OWNER } from './kuryr.js';

export type NetworkConfig =
  | { readonly driver: 'bridge'; readonly isolate: boolean }
  | { readonly driver: 'kuryr'; readonly neutronUrl: string; readonly token: string | null; readonly driverName: string };

export class NetworkConfigError extends Error {
  readonly code = 'NETWORK_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'NetworkConfigError';
  }
}

export function parseNetworkConfig(env: Readonly<Record<string, string | undefined>>): NetworkConfig {
  const driver = (env['NETWORK_DRIVER'] ?? 'bridge').trim().toLowerCase();
  if (driver === 'bridge') return { driver, isolate: (env['NETWORK_BRIDGE_ISOLATE'] ?? 'true').toLowerCase() !== 'false' };
  if (driver === 'kuryr') {
    const neutronUrl = env['NEUTRON_URL'];
    if (!neutronUrl) throw new NetworkConfigError('NETWORK_DRIVER=kuryr needs NEUTRON_URL');
    return { driver, neutronUrl, token: env['OS_TOKEN'] ?? null, driverName: env['KURYR_DRIVER_NAME'] ?? KURYR_DRIVER_NAME };
  }
  throw new NetworkConfigError(`NETWORK_DRIVER must be bridge or kuryr, not ${driver}`);
}

export function createNetworkDriver(
  config: NetworkConfig,
  deps: { docker: Docker; host: string; log: Logger; auth?: OpenStackAuth; fetchImpl?: typeof fetch },
): NetworkDriver {
  const log = deps.log.child({ component: `network-${config.driver}` });
  if (config.driver === 'bridge') return createBridgeNetworkDriver({ docker: deps.docker, host: deps.host, log, isolate: config.isolate });
  const auth = deps.auth ?? (config.token ? staticToken(config.token) : null);
  if (!auth) throw new NetworkConfigError('NETWORK_DRIVER=kuryr needs OS_TOKEN or an auth provider');
  const neutron = createNeutronClient({ endpoint: config.neutronUrl, auth, log, ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}) });
  return createKuryrNetworkDriver({ docker: deps.docker, neutron, host: deps.host, log, driverName: config.driverName });
}
