/**
 * The one way services connect to NATS.
 *
 * Contract: the connection never gives up reconnecting (maxReconnectAttempts
 * -1), so a service outlives a nats-server restart; requests made while the
 * server is away fail with a timeout and callers map that to
 * EventStoreUnavailableError. Connection status changes are logged, never
 * thrown. Callers own the connection and close (or drain) it.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './log.js';

export interface ConnectNatsOptions {
  /** `nats://host:port`, or several for a cluster. */
  readonly servers: string | readonly string[];
  /** Shown by the server's monitoring pages: the service and instance. */
  readonly name: string;
  readonly log?: Logger;
  /** Wait between reconnect attempts (default 250 ms, plus up to 100 ms jitter). */
  readonly reconnectTimeWaitMs?: number;
  /** Keep retrying the first connect instead of failing (default false). */
  readonly waitOnFirstConnect?: boolean;
  /** Client pings, to notice a silently dead server (default 10 s; stale after 3 missed). */
  readonly pingIntervalMs?: number;
  /** Handshake timeout; also the default timeout of JetStream API calls (default 5 s). */
  readonly timeoutMs?: number;
}

export type { NatsConnection };

export async function connectNats(opts: ConnectNatsOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: typeof opts.servers === 'string' ? opts.servers : [...opts.servers],
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    reconnectJitter: 100,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    pingInterval: opts.pingIntervalMs ?? 10_000,
    maxPingOut: 3,
    timeout: opts.timeoutMs ?? 5_000,
    // Without this the client makes a stack-traced Error per request and publish, up front, in case it
    // times out: measurable CPU on the hot paths (the host actor, the gateway). Errors keep their messages.
    noAsyncTraces: true,
  });
  const log = opts.log;
  if (log) {
    log.info({ server: nc.getServer() }, 'nats connected');
    void (async () => {
      for await (const s of nc.status()) {
        switch (s.type) {
          case 'disconnect':
            log.warn({ server: s.server }, 'nats disconnected');
            break;
          case 'reconnect':
            log.info({ server: s.server }, 'nats reconnected');
            break;
          case 'error':
            log.error({ err: s.error }, 'nats error');
            break;
          case 'staleConnection':
            log.warn('nats connection stale');
            break;
          case 'slowConsumer':
            log.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'nats slow consumer');
            break;
          default:
            break;
        }
      }
    })().catch(() => {});
  }
  return nc;
}
