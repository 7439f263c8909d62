/** The gateway's configuration: the only place it reads the environment. */
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { ZUN_DEFAULT_QUOTAS, type FullQuotaLimits } from '../../domain/quota.js';
import { DEFAULT_ADDRESS_POOL, DEFAULT_ADDRESS_POOL_V6, poolSize, subnet6At } from '../../domain/network.js';
import { AuthMode, type AuthConfig } from './identity/index.js';

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly natsUrl: string;
  /** Links in responses; by default each request's own scheme and Host. */
  readonly baseUrl: string | undefined;
  readonly auth: AuthConfig;
  /** zun/conf/quota.py defaults (QUOTA_CONTAINERS, QUOTA_MEMORY, QUOTA_CPU, QUOTA_DISK). */
  readonly quotaDefaults: FullQuotaLimits;
  /** How long a quota reservation counts before the read model shows its container. */
  readonly quotaReservationSeconds: number;
  readonly logLevel: string;
  /** etcd, for the host registry (hosts, services, availability zones, images). */
  readonly etcdEndpoints: readonly string[];
  /** How long a call to a host actor may take before it is a 409 naming the host (HOST_RPC_TIMEOUT_MS). */
  readonly hostRpcTimeoutMs: number;
  /** Signs exec/attach console tokens; gateways sharing it accept each other's (default: random per process). */
  readonly wsSecret: string | undefined;
  /** NETWORK_CIDR_POOL: the IPv4 pool whose /24s networks get (default 10.200.0.0/16). */
  readonly networkPool: string;
  /** NETWORK_CIDR_POOL_V6: the IPv6 pool whose /64s networks get, at their /24's index (default fd7a:756e:0::/48). */
  readonly networkPoolV6: string;
  /** The audit service's record, served read-only at /v1/audit (AUDIT_DIR, else $STATE_DIR/audit). */
  readonly auditDir: string;
  /**
   * Neutron (NEUTRON_URL, with OS_TOKEN), where the hosts use kuryr: a `nets`
   * port that is not one of this service's ports is looked up there. Null:
   * only this service's own ports (the bridge driver).
   */
  readonly neutron: { readonly url: string; readonly token: string } | null;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The repository's root (for the shipped example users file). */
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const EXAMPLE_USERS_FILE = join(REPO, 'etc', 'users.example.yaml');

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in [${min}, ${max}], not ${raw}`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const port = Number(env['GATEWAY_PORT'] ?? '9517');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`GATEWAY_PORT must be a port number, not ${env['GATEWAY_PORT']}`);
  const baseUrl = env['GATEWAY_BASE_URL']?.replace(/\/+$/, '') || undefined;

  const mode = (env['AUTH_MODE'] ?? AuthMode.local) as AuthMode;
  if (!Object.values(AuthMode).includes(mode)) throw new ConfigError(`AUTH_MODE must be local, keystone or noauth, not ${env['AUTH_MODE']}`);
  const file = env['AUTH_FILE'] ? resolve(env['AUTH_FILE']) : EXAMPLE_USERS_FILE;
  const stateDir = env['STATE_DIR'] ?? '.data';

  let keystone: AuthConfig['keystone'] = null;
  if (mode === AuthMode.keystone) {
    const need = (k: string) => {
      const v = env[k];
      if (!v) throw new ConfigError(`AUTH_MODE=keystone needs ${k}`);
      return v;
    };
    keystone = {
      url: need('KEYSTONE_URL'),
      username: need('KEYSTONE_USERNAME'),
      password: need('KEYSTONE_PASSWORD'),
      userDomainName: env['KEYSTONE_USER_DOMAIN_NAME'] ?? 'Default',
      projectName: env['KEYSTONE_PROJECT_NAME'] ?? 'service',
      projectDomainName: env['KEYSTONE_PROJECT_DOMAIN_NAME'] ?? 'Default',
      cacheSeconds: int(env, 'KEYSTONE_CACHE_SECONDS', 300, 0),
    };
  }
  const auth: AuthConfig = {
    mode,
    file,
    exampleFile: file === EXAMPLE_USERS_FILE,
    tokenTtlSeconds: int(env, 'AUTH_TOKEN_TTL_SECONDS', 3600, 60, 7 * 24 * 3600),
    region: env['AUTH_REGION'] ?? 'RegionOne',
    secret: env['GATEWAY_SECRET'] || undefined,
    secretFile: resolve(env['GATEWAY_SECRET_FILE'] ?? join(stateDir, 'gateway', 'secret.key')),
    keystone,
    noauth: {
      defaultProjectId: env['GATEWAY_DEFAULT_PROJECT_ID'] ?? 'default',
      defaultUserId: env['GATEWAY_DEFAULT_USER_ID'] ?? 'admin',
      defaultRoles: (env['GATEWAY_DEFAULT_ROLES'] ?? 'admin').split(',').map((r) => r.trim()).filter(Boolean),
    },
  };

  return {
    host: env['GATEWAY_HOST'] ?? '127.0.0.1',
    port,
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    baseUrl,
    auth,
    quotaDefaults: {
      containers: int(env, 'QUOTA_CONTAINERS', ZUN_DEFAULT_QUOTAS.containers, -1),
      memory: int(env, 'QUOTA_MEMORY', ZUN_DEFAULT_QUOTAS.memory, -1),
      disk: int(env, 'QUOTA_DISK', ZUN_DEFAULT_QUOTAS.disk, -1),
      cpu: int(env, 'QUOTA_CPU', ZUN_DEFAULT_QUOTAS.cpu, -1),
    },
    quotaReservationSeconds: int(env, 'QUOTA_RESERVATION_SECONDS', 60, 1, 3600),
    logLevel: env['LOG_LEVEL'] ?? 'info',
    etcdEndpoints: (env['ETCD_ENDPOINTS'] ?? 'http://127.0.0.1:2379').split(',').map((e) => e.trim()).filter(Boolean),
    hostRpcTimeoutMs: int(env, 'HOST_RPC_TIMEOUT_MS', 10_000, 1),
    wsSecret: env['GATEWAY_WS_SECRET'] || undefined,
    networkPool: networkPool(env['NETWORK_CIDR_POOL']),
    networkPoolV6: networkPoolV6(env['NETWORK_CIDR_POOL_V6'], networkPool(env['NETWORK_CIDR_POOL'])),
    auditDir: resolve(env['AUDIT_DIR'] ?? join(stateDir, 'audit')),
    neutron: neutron(env),
  };
}

function neutron(env: NodeJS.ProcessEnv): GatewayConfig['neutron'] {
  const url = env['NEUTRON_URL']?.trim();
  if (!url) return null;
  if (!/^https?:\/\//.test(url)) throw new ConfigError(`NEUTRON_URL must be an http(s) URL, not ${url}`);
  const token = env['OS_TOKEN'];
  if (!token) throw new ConfigError('NEUTRON_URL needs OS_TOKEN (a token Neutron accepts; Keystone login is not done here)');
  return { url, token };
}

/** NETWORK_CIDR_POOL_V6: an IPv6 CIDR with a /64 for every /24 of the IPv4 pool. */
function networkPoolV6(raw: string | undefined, pool4: string): string {
  const pool = raw?.trim() || DEFAULT_ADDRESS_POOL_V6;
  try {
    subnet6At(pool, poolSize(pool4) - 1);
  } catch {
    throw new ConfigError(`NETWORK_CIDR_POOL_V6 must be an IPv6 CIDR with room for ${poolSize(pool4)} /64s, not ${raw}`);
  }
  return pool;
}

/** NETWORK_CIDR_POOL: an IPv4 CIDR of /24 or larger. */
function networkPool(raw: string | undefined): string {
  const pool = raw?.trim() || DEFAULT_ADDRESS_POOL;
  try {
    poolSize(pool);
  } catch {
    throw new ConfigError(`NETWORK_CIDR_POOL must be an IPv4 CIDR of /24 or larger, not ${raw}`);
  }
  return pool;
}
