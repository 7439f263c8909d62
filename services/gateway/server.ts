/**
 * The gateway wired to its real ports: the JetStream event store and the KV
 * read model over one NATS connection, listening on host:port. Used by
 * main.ts and by the integration test, so both run the same wiring.
 *
 * The caller owns `nc`; `close()` stops listening (in-flight requests finish)
 * and stops the read model's watch, but does not close the connection.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import { createJetStreamEventStore } from '../platform/jetstream-eventstore.js';
import type { Logger } from '../platform/log.js';
import { buildApp } from './app.js';
import { headerAuth } from './auth.js';
import type { GatewayConfig } from './config.js';
import { createKvReadModel, type KvReadModel } from './readmodel.js';

export interface Gateway {
  readonly app: FastifyInstance;
  readonly readModel: KvReadModel;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startGateway(opts: {
  nc: NatsConnection;
  log: Logger;
  config: Pick<GatewayConfig, 'host' | 'port' | 'baseUrl' | 'defaultProjectId' | 'defaultUserId' | 'defaultRoles'>;
  /** For tests: the read model's retry and readiness timings. */
  readModelTimings?: { retryMs?: number; readyTimeoutMs?: number };
}): Promise<Gateway> {
  const { nc, log, config } = opts;
  const store = createJetStreamEventStore({ nc });
  const readModel = createKvReadModel({ nc, log, ...opts.readModelTimings });
  const app = buildApp({
    store,
    readModel,
    log,
    clock: () => new Date(),
    newId: randomUUID,
    baseUrl: config.baseUrl,
    auth: headerAuth({ defaultProjectId: config.defaultProjectId, defaultUserId: config.defaultUserId, defaultRoles: config.defaultRoles }),
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await readModel.close();
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    app,
    readModel,
    url: `http://${host}:${port}`,
    async close() {
      await app.close();
      await readModel.close();
    },
  };
}
