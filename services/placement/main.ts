/**
 * Entry point: `tsx services/placement/main.ts` (environment: config.ts).
 * SIGTERM/SIGINT stop it: placing stops at once, the campaign resigns (a
 * standby takes over without waiting for the TTL), connections close.
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Etcd3 } from 'etcd3';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { createJetStreamEventStore } from '../platform/jetstream-eventstore.js';
import { loadConfig } from './config.js';
import { createPlacement } from './placement.js';
import { onShutdownSignals } from '../platform/shutdown.js';

const config = loadConfig();
const log = createLogger('placement', config.logLevel).child({ instance: config.instanceId });
const nc = await connectNats({ servers: config.natsUrl, name: `placement:${config.instanceId}`, log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
const etcd = new Etcd3({ hosts: [...config.etcdEndpoints] });
const placement = createPlacement({
  nc,
  store: createJetStreamEventStore({ nc }),
  etcd,
  log,
  clock: () => new Date(),
  newId: randomUUID,
  weigher: config.weigher,
  domain: config.domain,
  instanceId: config.instanceId,
  electionTtlSeconds: config.electionTtlSeconds,
  batchSize: config.batchSize,
  batchDelayMs: config.batchDelayMs,
  ...(config.snapshotEveryEvents === 0 ? { viewSnapshots: false as const } : { snapshotEveryEvents: config.snapshotEveryEvents }),
  snapshotMinIntervalMs: config.snapshotMinIntervalMs,
});
await placement.start();
log.info({ weigher: config.weigher, domain: config.domain }, 'ready');

onShutdownSignals({
  log,
  stop: async () => {
    await placement.stop({ resign: true });
    etcd.close();
    await nc.drain();
  },
});
