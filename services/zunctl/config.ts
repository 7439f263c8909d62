/** zunctl's defaults from the environment: the only place it reads it. */
import { auditDirFrom } from '../audit/config.js';

export interface ZunctlConfig {
  readonly natsUrl: string;
  /** Only set when given (ETCD_ENDPOINTS or --etcd): etcd is optional for every command. */
  readonly etcdEndpoints: string | undefined;
  readonly auditDir: string;
  readonly dockerSocket: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ZunctlConfig {
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    etcdEndpoints: env['ETCD_ENDPOINTS'] || undefined,
    auditDir: auditDirFrom(env),
    // DOCKER_SOCKET, as the host actor reads it (DOCKER_SOCK, the name zunctl read before, still works).
    dockerSocket: env['DOCKER_SOCKET'] || env['DOCKER_SOCK'] || '/var/run/docker.sock',
  };
}
