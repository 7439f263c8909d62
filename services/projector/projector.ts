/**
 * The projector service: a durable consumer on every event, feeding the
 * projection (projection.ts). At-least-once delivery made idempotent by
 * sequence; rebuildable from zero with `rebuild()`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { ALL_EVENTS_SUBJECT, STREAM_NAME } from '../../events/index.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { CAPSULES_BUCKET, CONTAINERS_BUCKET, DESIRED_BUCKET } from '../platform/readmodels.js';
import { consumeDurable } from '../platform/subscribe.js';
import { createProjection, type ProjectionBuckets } from './projection.js';
import { sweepDeleteMarkers } from './sweep.js';
import { DEFAULT_MARKER_GRACE_S, DEFAULT_SWEEP_INTERVAL_S } from './config.js';

export const PROJECTOR_DURABLE = 'projector';

export async function openReadModelBuckets(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<ProjectionBuckets> {
  const kvm = new Kvm(nc);
  const open = (name: string): Promise<KV> => kvm.create(name, { history: 1, replicas: opts.replicas ?? 1 });
  const [containers, capsules, desired] = await Promise.all([open(CONTAINERS_BUCKET), open(CAPSULES_BUCKET), open(DESIRED_BUCKET)]);
  return { containers, capsules, desired };
}

export interface Projector {
  stop(): Promise<void>;
}

export async function createProjector({
  nc,
  store,
  log,
  durable = PROJECTOR_DURABLE,
  sweep = { everyMs: DEFAULT_SWEEP_INTERVAL_S * 1000, markerGraceMs: DEFAULT_MARKER_GRACE_S * 1000 },
}: {
  nc: NatsConnection;
  store: EventStore;
  log: Logger;
  durable?: string;
  /** Old delete markers swept out of the read models every `everyMs` (sweep.ts); false or 0: never. */
  sweep?: { everyMs: number; markerGraceMs: number } | false;
}): Promise<Projector> {
  const buckets = await openReadModelBuckets(nc);
  const projection = createProjection({ buckets, store });
  const sub = await consumeDurable({
    nc,
    durable,
    filterSubject: ALL_EVENTS_SUBJECT,
    log: log.child({ component: 'projector' }),
    batchHandler: (events) => projection.applyBatch(events),
    // The read models are idempotent (stale revisions are skipped): acks can wait and go together.
    ackDelayMs: 100,
  });
  log.info({ durable }, 'projector consuming');
  let sweeping: Promise<void> | null = null;
  const sweepOnce = async (markerGraceMs: number) => {
    for (const bucket of [DESIRED_BUCKET, CONTAINERS_BUCKET, CAPSULES_BUCKET]) {
      try {
        const r = await sweepDeleteMarkers(nc, bucket, markerGraceMs);
        if (r.removed > 0) log.info(r, 'old delete markers swept');
      } catch (err) {
        log.warn({ bucket, err: (err as Error)?.message ?? String(err) }, 'sweeping delete markers failed; next time');
      }
    }
  };
  const timer =
    sweep && sweep.everyMs > 0
      ? setInterval(() => {
          sweeping ??= sweepOnce(sweep.markerGraceMs).finally(() => (sweeping = null));
        }, sweep.everyMs)
      : undefined;
  timer?.unref?.();
  return {
    stop: async () => {
      clearInterval(timer);
      await sweeping;
      await sub.stop();
    },
  };
}

/**
 * Drops the read models and the projector's consumer, so that the next
 * projector start folds the whole log again from sequence 1.
 */
export async function resetReadModels(nc: NatsConnection, durable = PROJECTOR_DURABLE): Promise<void> {
  const kvm = new Kvm(nc);
  for (const name of [CONTAINERS_BUCKET, CAPSULES_BUCKET, DESIRED_BUCKET]) {
    try {
      const kv = await kvm.open(name);
      await kv.destroy();
    } catch {
      // absent already
    }
  }
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.delete(STREAM_NAME, durable);
  } catch {
    // absent already
  }
}
