/** The gateway's configuration: the only place it reads the environment. */
export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly natsUrl: string;
  /** Links in responses; by default each request's own scheme and Host. */
  readonly baseUrl: string | undefined;
  /** Until identity lands: the caller when X-Project-Id / X-User-Id / X-Roles are absent. */
  readonly defaultProjectId: string;
  readonly defaultUserId: string;
  readonly defaultRoles: readonly string[];
  readonly logLevel: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const port = Number(env['GATEWAY_PORT'] ?? '9517');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`GATEWAY_PORT must be a port number, not ${env['GATEWAY_PORT']}`);
  const baseUrl = env['GATEWAY_BASE_URL']?.replace(/\/+$/, '') || undefined;
  return {
    host: env['GATEWAY_HOST'] ?? '127.0.0.1',
    port,
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    baseUrl,
    defaultProjectId: env['GATEWAY_DEFAULT_PROJECT_ID'] ?? 'default',
    defaultUserId: env['GATEWAY_DEFAULT_USER_ID'] ?? 'admin',
    defaultRoles: (env['GATEWAY_DEFAULT_ROLES'] ?? 'admin').split(',').map((r) => r.trim()).filter(Boolean),
    logLevel: env['LOG_LEVEL'] ?? 'info',
  };
}
