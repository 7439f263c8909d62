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
import { createDockerRuntime } from './docker.js';

const config = loadConfig();
const log = createLogger('host-actor', config.logLevel).child({ host: config.hostname });
const nc = await connectNats({ servers: config.natsUrl, name: `host-actor:${config.hostname}`, log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
const etcd = new Etcd3({ hosts: [...config.etcdEndpoints] });
const actor = createHostActor({
  hostname: config.hostname,
  nc,
  store: createJetStreamEventStore({ nc }),
  runtime: createDockerRuntime({ socketPath: config.dockerSocket, allowPull: config.allowImagePull }),
  log,
  clock: () => new Date(),
  newId: randomUUID,
  resyncMs: config.resyncSeconds * 1000,
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
log.info('ready');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  await actor.stop();
  etcd.close();
  await nc.drain();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
