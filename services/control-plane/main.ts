/**
 * Entry point: `tsx services/control-plane/main.ts [--rebuild]`: the gateway,
 * the projector and a placement instance in one process, on one NATS
 * connection and one etcd client. Each part is the same as in its own
 * service and reads the same environment (services/<part>/config.ts);
 * `--rebuild` is the projector's (read models folded again from sequence 1).
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Etcd3 } from 'etcd3';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { createJetStreamEventStore } from '../platform/jetstream-eventstore.js';
import { loadConfig as gatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';
import { loadConfig as placementConfig } from '../placement/config.js';
import { createPlacement } from '../placement/placement.js';
import { loadConfig as projectorConfig } from '../projector/config.js';
import { createProjector, resetReadModels } from '../projector/projector.js';
import { onShutdownSignals } from '../platform/shutdown.js';

const gw = gatewayConfig();
const pl = placementConfig();
const pr = projectorConfig();
const log = createLogger('control-plane', gw.logLevel);
const nc = await connectNats({ servers: gw.natsUrl, name: 'control-plane', log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
const etcd = new Etcd3({ hosts: [...gw.etcdEndpoints] });
const store = createJetStreamEventStore({ nc });
if (pr.rebuild) {
  log.warn('rebuilding read models from sequence 1');
  await resetReadModels(nc);
}
const projector = await createProjector({
  nc,
  store,
  log: log.child({ part: 'projector' }),
  sweep: { everyMs: pr.sweepEveryMs, markerGraceMs: pr.markerGraceMs },
});
const placement = createPlacement({
  nc,
  store,
  etcd,
  log: log.child({ part: 'placement', instance: pl.instanceId }),
  clock: () => new Date(),
  newId: randomUUID,
  weigher: pl.weigher,
  domain: pl.domain,
  instanceId: pl.instanceId,
  electionTtlSeconds: pl.electionTtlSeconds,
  batchSize: pl.batchSize,
  batchDelayMs: pl.batchDelayMs,
  ...(pl.snapshotEveryEvents === 0 ? { viewSnapshots: false as const } : { snapshotEveryEvents: pl.snapshotEveryEvents }),
  snapshotMinIntervalMs: pl.snapshotMinIntervalMs,
});
await placement.start();
const gateway = await startGateway({ nc, log: log.child({ part: 'gateway' }), config: gw, etcd, compute: { hostRpcTimeoutMs: gw.hostRpcTimeoutMs, wsSecret: gw.wsSecret } });
log.info({ url: gateway.url }, 'ready');

onShutdownSignals({
  log,
  stop: async () => {
    await gateway.close();
    await placement.stop({ resign: true });
    await projector.stop();
    etcd.close();
    await nc.drain();
  },
});
