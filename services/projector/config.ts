/** The projector's configuration: the only place it reads the environment. */
export interface ProjectorConfig {
  readonly natsUrl: string;
  readonly logLevel: string;
  readonly rebuild: boolean;
  /** How often old delete markers are swept out of the read-model buckets (sweep.ts); 0: never. */
  readonly sweepEveryMs: number;
  /** How old a delete marker must be to go. */
  readonly markerGraceMs: number;
}

/** The sweep's defaults, in seconds (also createProjector's). */
export const DEFAULT_SWEEP_INTERVAL_S = 600;
export const DEFAULT_MARKER_GRACE_S = 900;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function seconds(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt * 1000;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`${name} must be a whole number of seconds >= ${min}, not ${raw}`);
  return v * 1000;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2)): ProjectorConfig {
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    logLevel: env['LOG_LEVEL'] ?? 'info',
    rebuild: argv.includes('--rebuild'),
    sweepEveryMs: seconds(env, 'PROJECTOR_SWEEP_INTERVAL_S', DEFAULT_SWEEP_INTERVAL_S, 0),
    markerGraceMs: seconds(env, 'PROJECTOR_MARKER_GRACE_S', DEFAULT_MARKER_GRACE_S, 1),
  };
}
