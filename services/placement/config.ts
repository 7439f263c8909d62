/** The placement service's configuration: the only place it reads the environment. */
import { hostname } from 'node:os';
import { DEFAULT_PLACEMENT_DOMAIN, isWeigher, type Weigher } from '../../domain/placement.js';

export interface PlacementConfig {
  readonly natsUrl: string;
  readonly etcdEndpoints: readonly string[];
  readonly weigher: Weigher;
  /** The ledger aggregate: `placement/<domain>`. Not a shard: every instance runs in the one election. */
  readonly domain: string;
  /** This instance's name in the election. */
  readonly instanceId: string;
  /** Seconds a leader survives without reaching etcd (its campaign lease). */
  readonly electionTtlSeconds: number;
  /** Most requests planned in one batch. */
  readonly batchSize: number;
  /** Least spacing of batch plans while requests keep coming; a request after a quiet spell is planned at once. */
  readonly batchDelayMs: number;
  /** A standby (or a leader no other instance snapshots for) snapshots its view after folding this many events past the latest snapshot; 0: no snapshots (read or written). */
  readonly snapshotEveryEvents: number;
  /** At most one snapshot per this many ms. */
  readonly snapshotMinIntervalMs: number;
  readonly logLevel: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`${name} must be an integer >= ${min}, not ${raw}`);
  return v;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): PlacementConfig {
  const weigher = env['PLACEMENT_WEIGHER'] ?? 'spread';
  if (!isWeigher(weigher)) throw new ConfigError(`PLACEMENT_WEIGHER must be spread or pack, not ${weigher}`);
  const domain = env['PLACEMENT_DOMAIN'] || DEFAULT_PLACEMENT_DOMAIN;
  const etcdEndpoints = (env['ETCD_ENDPOINTS'] ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean);
  if (etcdEndpoints.length === 0) throw new ConfigError('ETCD_ENDPOINTS is empty');
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    etcdEndpoints,
    weigher,
    domain,
    instanceId: env['INSTANCE'] || env['PLACEMENT_INSTANCE'] || `${hostname()}-${process.pid}`,
    // etcd 3.4 grants no lease under 2 s.
    electionTtlSeconds: int(env, 'PLACEMENT_ELECTION_TTL', 5, 2),
    batchSize: int(env, 'PLACEMENT_BATCH_SIZE', 500, 1),
    batchDelayMs: int(env, 'PLACEMENT_BATCH_DELAY_MS', 20, 0),
    snapshotEveryEvents: int(env, 'PLACEMENT_SNAPSHOT_EVERY', 10_000, 0),
    snapshotMinIntervalMs: int(env, 'PLACEMENT_SNAPSHOT_INTERVAL_MS', 30_000, 0),
    logLevel: env['LOG_LEVEL'] ?? 'info',
  };
}
