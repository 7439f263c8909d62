/**
 * The gateway wired to its real ports: the JetStream event store and the KV
 * read model over one NATS connection, listening on host:port. Used by
 * main.ts and by the integration test, so both run the same wiring.
 *
 * The caller owns `nc`; `close()` stops listening (in-flight requests finish)
 * and stops the read model's watch, but does not close the connection.
 */
import { createNeutronClient } from '../openstack/neutron-client.js';
import { staticToken } from '../openstack/openstack-http.js';
import { createAuditReader } from '../audit/reader.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import { createJetStreamEventStore, readAll } from '../platform/jetstream-eventstore.js';
import type { Logger } from '../platform/log.js';
import { buildApp } from './app.js';
import type { GatewayConfig } from './config.js';
import { createIdentity, type Identity } from './identity/index.js';
import { createKvCapsuleReadModel, createKvReadModel, type KvReadModel } from './readmodel.js';
import { createFoldingRegistryReadModel } from './registry-readmodel.js';
import type { Etcd3 } from 'etcd3';
import { createEtcdHostDirectory, createMemoryHostDirectory } from './host-directory.js';
import { createNatsHostRpc } from './host-rpc.js';
import { createLookupCache } from './lookup-cache.js';

export interface Gateway {
  readonly app: FastifyInstance;
  readonly readModel: KvReadModel;
  readonly identity: Identity;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startGateway(opts: {
  nc: NatsConnection;
  log: Logger;
  config: Pick<GatewayConfig, 'host' | 'port' | 'baseUrl' | 'auth'> & Partial<Pick<GatewayConfig, 'quotaDefaults' | 'quotaReservationSeconds' | 'networkPool' | 'networkPoolV6' | 'auditDir' | 'neutron'>>;
  /** For tests: the read model's retry and readiness timings. */
  readModelTimings?: { retryMs?: number; readyTimeoutMs?: number };
  /** The host registry (hosts, services, images); without it there are no hosts. The caller owns it. */
  etcd?: Etcd3;
  /** Host RPC timeout (default 10 s) and the console token secret. */
  compute?: { hostRpcTimeoutMs?: number; wsSecret?: string };
}): Promise<Gateway> {
  const { nc, log, config } = opts;
  const clock = () => new Date();
  const identity = await createIdentity(config.auth, { log, clock, baseUrl: config.baseUrl });
  const store = createJetStreamEventStore({ nc });
  const readModel = createKvReadModel({ nc, log, ...opts.readModelTimings });
  const capsules = createKvCapsuleReadModel({ nc, log, ...opts.readModelTimings });
  const lookups = await createLookupCache({ nc, kinds: ['quota', 'quota_class', 'network'], log });
  const app = buildApp({
    lookups,
    store,
    readModel,
    log,
    clock,
    newId: randomUUID,
    baseUrl: config.baseUrl,
    compute: {
      rpc: createNatsHostRpc({ nc, ...(opts.compute?.hostRpcTimeoutMs ? { timeoutMs: opts.compute.hostRpcTimeoutMs } : {}) }),
      directory: opts.etcd ? createEtcdHostDirectory({ etcd: opts.etcd, now: () => new Date(), log }) : createMemoryHostDirectory(),
      ...(opts.compute?.wsSecret ? { wsSecret: opts.compute.wsSecret } : {}),
    },
    auth: identity.authenticate,
    ...(identity.local ? { identity: { local: identity.local, region: config.auth.region } } : {}),
    secretBox: identity.secretBox,
    registries: createFoldingRegistryReadModel((o) => readAll({ nc, ...o })),
    readEvents: (o) => readAll({ nc, ...o }),
    capsules,
    ...(config.networkPool ? { networkPool: config.networkPool } : {}),
    ...(config.networkPoolV6 ? { networkPoolV6: config.networkPoolV6 } : {}),
    ...(config.auditDir ? { audit: createAuditReader(config.auditDir) } : {}),
    ...(config.neutron
      ? { neutron: createNeutronClient({ endpoint: config.neutron.url, auth: staticToken(config.neutron.token), log: log.child({ component: 'neutron' }) }) }
      : {}),
    ...(config.quotaDefaults ? { quotaDefaults: config.quotaDefaults } : {}),
    ...(config.quotaReservationSeconds ? { quotaReservationMs: config.quotaReservationSeconds * 1000 } : {}),
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await Promise.all([readModel.close(), capsules.close(), lookups.close()]);
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    app,
    readModel,
    identity,
    url: `http://${host}:${port}`,
    async close() {
      await app.close();
      await Promise.all([readModel.close(), capsules.close(), lookups.close()]);
    },
  };
}
