/**
 * Entry point: `tsx services/gateway/main.ts`. Connects to NATS, makes sure
 * the event stream exists, and serves Zun's API until SIGTERM or SIGINT.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from './config.js';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { startGateway } from './server.js';
import { Etcd3 } from 'etcd3';
import { onShutdownSignals } from '../platform/shutdown.js';

const config = loadConfig();
const log = createLogger('gateway', config.logLevel);
const nc = await connectNats({ servers: config.natsUrl, name: 'gateway', log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
const etcd = new Etcd3({ hosts: [...config.etcdEndpoints] });
const gateway = await startGateway({ nc, log, config, etcd, compute: { hostRpcTimeoutMs: config.hostRpcTimeoutMs, wsSecret: config.wsSecret } });
log.info({ url: gateway.url }, 'ready');

onShutdownSignals({
  log,
  stop: async () => {
    await gateway.close();
    etcd.close();
    await nc.drain();
  },
});
