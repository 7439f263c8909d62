/** The host actor's configuration: the only place it reads the environment. */
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_AVAILABILITY_ZONE } from '../../domain/host.js';
import { parseNetworkConfig, type NetworkConfig } from './network/index.js';
import { parseVolumeConfig, type VolumeConfig } from './volume/index.js';
import { CrashPoint } from './resources.js';

export interface HostActorConfig {
  readonly hostname: string;
  readonly natsUrl: string;
  readonly etcdEndpoints: readonly string[];
  readonly dockerSocket: string;
  /** Overrides of what the machine reports; null = measure. */
  readonly capacity: { readonly cpus: number | null; readonly memoryMiB: number | null; readonly diskGb: number | null };
  readonly labels: Readonly<Record<string, string>>;
  readonly availabilityZone: string;
  readonly resyncSeconds: number;
  /** RECHECK_SECONDS: a settled container is inspected (and its networks looked at) at least this often (default 60). */
  readonly recheckSeconds: number;
  /** DESIRED_RELIST_SECONDS: how often a resync reads the desired slice from the bucket rather than the watch's copy (default 300; 0: every resync). */
  readonly desiredRelistSeconds: number;
  /** The actor's directory on this host; its filesystem is the disk capacity reported. */
  readonly stateDir: string;
  readonly leaseTtlSeconds: number;
  /**
   * DOCKER_WATCHDOG_SECONDS (default 15; 0: off): how often Docker is probed
   * (docker-watchdog.ts); DOCKER_HUNG_AFTER_SECONDS (default 60): how long a
   * probe may go unanswered before the host is withdrawn from placement.
   */
  readonly dockerWatchdogSeconds: number;
  readonly dockerHungAfterSeconds: number;
  /** There is no registry here: pulls stay off unless turned on. */
  readonly allowImagePull: boolean;
  readonly logLevel: string;
  /** NETWORK_DRIVER and its settings (network/index.ts). */
  readonly network: NetworkConfig;
  /** VOLUME_DRIVER and its settings (volume/index.ts); volumes live under STATE_DIR. */
  readonly volume: VolumeConfig;
  /** SANDBOX_IMAGE: the capsule sandbox (default zun-base:latest). */
  readonly sandboxImage: string;
  /**
   * Test hook, CRASH_AFTER=<point>: the actor kills itself with SIGKILL right
   * after that step (network-created, volume-created, volume-attached,
   * volume-mounted). Unset in production.
   */
  readonly crashAfter: CrashPoint | null;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function num(env: NodeJS.ProcessEnv, name: string, min: number): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`${name} must be a number >= ${min}, got "${raw}"`);
  return n;
}

/** `k=v,k=v` (HOST_LABELS). */
export function parseLabels(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? '').split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError(`HOST_LABELS entry "${item}" is not k=v`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): HostActorConfig {
  const hostname = env['HOST_NAME'] || os.hostname();
  const stateDir = env['STATE_DIR'] || `.data/host-actor/${hostname}`;
  const crash = env['CRASH_AFTER']?.trim() || null;
  if (crash !== null && !(Object.values(CrashPoint) as string[]).includes(crash)) {
    throw new ConfigError(`CRASH_AFTER must be one of ${Object.values(CrashPoint).join(', ')}, not ${crash}`);
  }
  return {
    hostname,
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    etcdEndpoints: (env['ETCD_ENDPOINTS'] ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean),
    dockerSocket: env['DOCKER_SOCKET'] ?? '/var/run/docker.sock',
    capacity: {
      cpus: num(env, 'HOST_CPUS', 0.1),
      memoryMiB: num(env, 'HOST_MEMORY_MIB', 1),
      diskGb: num(env, 'HOST_DISK_GB', 0),
    },
    labels: parseLabels(env['HOST_LABELS']),
    availabilityZone: env['AVAILABILITY_ZONE'] || DEFAULT_AVAILABILITY_ZONE,
    resyncSeconds: num(env, 'RESYNC_SECONDS', 0.1) ?? 10,
    recheckSeconds: num(env, 'RECHECK_SECONDS', 0) ?? 60,
    desiredRelistSeconds: num(env, 'DESIRED_RELIST_SECONDS', 0) ?? 300,
    stateDir,
    leaseTtlSeconds: num(env, 'HOST_LEASE_TTL', 2) ?? 10,
    dockerWatchdogSeconds: num(env, 'DOCKER_WATCHDOG_SECONDS', 0) ?? 15,
    dockerHungAfterSeconds: num(env, 'DOCKER_HUNG_AFTER_SECONDS', 1) ?? 60,
    allowImagePull: /^(1|true|yes)$/i.test(env['ALLOW_IMAGE_PULL'] ?? ''),
    logLevel: env['LOG_LEVEL'] ?? 'info',
    network: parseNetworkConfig(env),
    // Absolute: mountpoints under it become Docker bind sources.
    volume: parseVolumeConfig({ ...env, STATE_DIR: path.resolve(stateDir) }),
    sandboxImage: env['SANDBOX_IMAGE'] || 'zun-base:latest',
    crashAfter: crash as CrashPoint | null,
  };
}
