/** The projector's configuration: the only place it reads the environment. */
export interface ProjectorConfig {
  readonly natsUrl: string;
  readonly logLevel: string;
  readonly rebuild: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2)): ProjectorConfig {
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    logLevel: env['LOG_LEVEL'] ?? 'info',
    rebuild: argv.includes('--rebuild'),
  };
}
