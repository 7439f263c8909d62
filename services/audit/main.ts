/**
 * Entry point: `node --import tsx services/audit/main.ts`.
 * Environment: see config.ts (NATS_URL, AUDIT_DIR or STATE_DIR, AUDIT_FSYNC).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from './config.js';
import { createLogger } from '../platform/log.js';
import { connectNats } from '../platform/nats.js';
import { ensureStream } from '../platform/stream.js';
import { startAuditSubscriber } from './subscriber.js';
import { onShutdownSignals } from '../platform/shutdown.js';

const config = loadConfig();
const log = createLogger('audit', config.logLevel);
const nc = await connectNats({ servers: config.natsUrl, name: 'audit', log, waitOnFirstConnect: true });
await ensureStream(await jetstreamManager(nc), {});

const audit = await startAuditSubscriber({
  nc,
  dir: config.dir,
  log,
  clock: () => new Date(),
  fsync: config.fsync,
  durable: config.durable,
  verifyOnOpen: config.verifyOnOpen,
  onFatal: () => {
    // Fail-stop: the restart repairs the record's tail and resumes from it.
    process.exit(1);
  },
});
log.info({ dir: config.dir, fsync: config.fsync, head: audit.head }, 'ready');

onShutdownSignals({
  log,
  stop: async () => {
    await audit.stop();
    await nc.drain();
  },
});
