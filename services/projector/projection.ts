/**
 * The projection: folds the event stream into the read models.
 *
 * - `zun_containers` / `zun_capsules`: one key per live aggregate, value the
 *   folded state (what the gateway lists and shows).
 * - `zun_desired`: `<host>.<kind>.<id>` for every placed, live aggregate, so a
 *   host actor watches only its own slice. A container's entry is rewritten
 *   only by events its host did not append itself (`rewritesDesiredEntry`):
 *   it is the state up to the last intent, and may trail the log by the
 *   host's own observations, which the host actor holds already. A capsule's
 *   entry follows every event.
 *
 * Contract: `apply` is called in stream order (one consumer). It is
 * at-least-once safe: an event whose seq is not newer than the folded state's
 * is skipped, so redelivery after a crash changes nothing. On a cache miss for
 * an aggregate that already has history, the state is reloaded from the event
 * store up to the event's sequence: the log, not the read model, is trusted.
 */
import type { KV } from '@nats-io/kv';
import type { CapsuleEvent, ContainerEvent, RecordedEvent } from '../../events/index.js';
import { evolveContainer, initialContainerState, rewritesDesiredEntry, type ContainerState } from '../../domain/container.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from '../../domain/capsule.js';
import type { EventStore } from '../platform/eventstore.js';
import { desiredKey, readModelKey } from '../platform/readmodels.js';

export interface ProjectionBuckets {
  readonly containers: KV;
  readonly capsules: KV;
  readonly desired: KV;
}

type AnyState = ContainerState | CapsuleState;

export interface Projection {
  apply(e: RecordedEvent): Promise<void>;
  /** Number of aggregates held in the cache. */
  readonly size: number;
}

const codec = {
  encode: (v: unknown) => new TextEncoder().encode(JSON.stringify(v)),
};

export function createProjection({ buckets, store }: { buckets: ProjectionBuckets; store: EventStore }): Projection {
  const cache = new Map<string, AnyState>();

  async function current(e: RecordedEvent): Promise<AnyState> {
    const key = `${e.aggregateKind}:${e.aggregateId}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const fresh = e.aggregateKind === 'container' ? initialContainerState(e.aggregateId) : initialCapsuleState(e.aggregateId);
    if (e.type === 'ContainerCreateRequested' || e.type === 'CapsuleCreateRequested') return fresh;
    // History exists before this event: rebuild it from the log, up to (not including) e.
    const history = (await store.load(e.aggregateKind, e.aggregateId)).filter((h) => h.seq < e.seq);
    return e.aggregateKind === 'container'
      ? (history as RecordedEvent<ContainerEvent>[]).reduce(evolveContainer, fresh as ContainerState)
      : (history as RecordedEvent<CapsuleEvent>[]).reduce(evolveCapsule, fresh as CapsuleState);
  }

  return {
    get size() {
      return cache.size;
    },
    async apply(e) {
      if (e.aggregateKind !== 'container' && e.aggregateKind !== 'capsule') return;
      const key = `${e.aggregateKind}:${e.aggregateId}`;
      const before = await current(e);
      if (e.seq <= before.seq) return; // already folded: redelivery
      const after: AnyState =
        e.aggregateKind === 'container'
          ? evolveContainer(before as ContainerState, e as RecordedEvent<ContainerEvent>)
          : evolveCapsule(before as CapsuleState, e as RecordedEvent<CapsuleEvent>);
      const model = e.aggregateKind === 'container' ? buckets.containers : buckets.capsules;
      const writes: Promise<unknown>[] = [];
      if (after.status === 'Deleted') {
        writes.push(model.delete(readModelKey(e.aggregateId)));
        if (after.host) writes.push(buckets.desired.delete(desiredKey(after.host, e.aggregateKind, e.aggregateId)));
        // Keep the tombstone: its seq makes a redelivered older event a no-op.
        cache.set(key, after);
      } else {
        const body = codec.encode(after);
        writes.push(model.put(readModelKey(e.aggregateId), body));
        const desiredFollows = e.aggregateKind === 'capsule' || rewritesDesiredEntry((e as RecordedEvent<ContainerEvent>).type);
        if (after.host && desiredFollows) writes.push(buckets.desired.put(desiredKey(after.host, e.aggregateKind, e.aggregateId), body));
        cache.set(key, after);
      }
      await Promise.all(writes);
    },
  };
}
