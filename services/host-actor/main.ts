/**
 * Entry point: `tsx services/host-actor/main.ts` (environment: config.ts).
 * SIGTERM/SIGINT stop it gracefully: running passes finish, the lease is
 * revoked (the host leaves placement at once), connections are drained.
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Etcd3 } from 'etcd3';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { createJetStreamEventStore } from '../platform/jetstream-eventstore.js';
import { createHostActor } from './actor.js';
import { loadConfig } from './config.js';
import { createDockerRuntime, dockerClient } from './docker.js';
import { createNetworkDriver } from './network/index.js';
import { createVolumeDriver } from './volume/index.js';
import { createHostResources } from './resources.js';
import { createRpcExtras } from './rpc-extras.js';
import { onShutdownSignals } from '../platform/shutdown.js';
import { watchDockerForRegistry } from './docker-watchdog.js';

const config = loadConfig();
const log = createLogger('host-actor', config.logLevel).child({ host: config.hostname });
const nc = await connectNats({ servers: config.natsUrl, name: `host-actor:${config.hostname}`, log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
const etcd = new Etcd3({ hosts: [...config.etcdEndpoints] });
const docker = dockerClient(config.dockerSocket);
const { volumes, bindFiles } = createVolumeDriver(config.volume, { host: config.hostname, log });
const resources = createHostResources({
  hostname: config.hostname,
  store: createJetStreamEventStore({ nc }),
  newId: randomUUID,
  clock: () => new Date(),
  log,
  network: createNetworkDriver(config.network, { docker, host: config.hostname, log }),
  volumes,
  bindFiles,
  // Test hook (CRASH_AFTER): die right after this step, as kill -9 would.
  crash: (point) => {
    if (point !== config.crashAfter) return;
    log.warn({ point }, 'CRASH_AFTER: killing this process now');
    process.kill(process.pid, 'SIGKILL');
  },
});
const actor = createHostActor({
  hostname: config.hostname,
  nc,
  store: createJetStreamEventStore({ nc }),
  runtime: createDockerRuntime({ socketPath: config.dockerSocket, allowPull: config.allowImagePull }),
  log,
  clock: () => new Date(),
  newId: randomUUID,
  resyncMs: config.resyncSeconds * 1000,
  recheckMs: config.recheckSeconds * 1000,
  desiredRelistMs: config.desiredRelistSeconds * 1000,
  resources,
  sandboxImage: config.sandboxImage,
  rpcExtras: createRpcExtras({ nc, hostname: config.hostname, log, socketPath: config.dockerSocket }),
  etcd,
  registration: {
    ttlSeconds: config.leaseTtlSeconds,
    capacity: config.capacity,
    labels: config.labels,
    availabilityZone: config.availabilityZone,
    stateDir: config.stateDir,
  },
});
await actor.start();
// A deadlocked dockerd takes the host out of placement until it answers (docker-watchdog.ts).
const watchdog =
  actor.registry && config.dockerWatchdogSeconds > 0
    ? watchDockerForRegistry({ docker, registry: actor.registry, everyMs: config.dockerWatchdogSeconds * 1000, hungAfterMs: config.dockerHungAfterSeconds * 1000, log })
    : null;
watchdog?.start();
log.info('ready');

onShutdownSignals({
  log,
  stop: async () => {
    await watchdog?.stop();
    await actor.stop();
    etcd.close();
    await nc.drain();
  },
});
