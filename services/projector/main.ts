/**
 * Entry point: `tsx services/projector/main.ts [--rebuild]`.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from './config.js';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { createJetStreamEventStore } from '../platform/jetstream-eventstore.js';
import { createProjector, resetReadModels } from './projector.js';
import { onShutdownSignals } from '../platform/shutdown.js';

const config = loadConfig();
const log = createLogger('projector', config.logLevel);
const nc = await connectNats({ servers: config.natsUrl, name: 'projector', log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});
if (config.rebuild) {
  log.warn('rebuilding read models from sequence 1');
  await resetReadModels(nc);
}
const projector = await createProjector({
  nc,
  store: createJetStreamEventStore({ nc }),
  log,
  sweep: { everyMs: config.sweepEveryMs, markerGraceMs: config.markerGraceMs },
});
log.info('ready');

onShutdownSignals({
  log,
  stop: async () => {
    await projector.stop();
    await nc.drain();
  },
});
