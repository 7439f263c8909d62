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
  /** Folds one event: `applyBatch([e])`. */
  apply(e: RecordedEvent): Promise<void>;
  /**
   * Folds events (in stream order) and writes the read models once per key:
   * where a batch holds several events of one aggregate, only the last state
   * is written. Resolves when every write is stored. If a write fails it
   * rejects, and the batch's aggregates are dropped from the cache, so that
   * the redelivered events are folded again from the log.
   */
  applyBatch(events: readonly RecordedEvent[]): Promise<void>;
  /** Number of aggregates held in the cache. */
  readonly size: number;
}

const codec = {
  encode: (v: unknown) => new TextEncoder().encode(JSON.stringify(v)),
};

/** The last write a batch makes to one key: a state to put, or a delete. */
interface Write {
  readonly bucket: KV;
  readonly key: string;
  readonly state: AnyState | null;
}

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

  /** Folds e into the cache and records the writes it implies in `writes` (last one per key wins). */
  async function fold(e: RecordedEvent, writes: Map<string, Write>, touched: Set<string>): Promise<void> {
    if (e.aggregateKind !== 'container' && e.aggregateKind !== 'capsule') return;
    const key = `${e.aggregateKind}:${e.aggregateId}`;
    const before = await current(e);
    if (e.seq <= before.seq) return; // already folded: redelivery
    const after: AnyState =
      e.aggregateKind === 'container'
        ? evolveContainer(before as ContainerState, e as RecordedEvent<ContainerEvent>)
        : evolveCapsule(before as CapsuleState, e as RecordedEvent<CapsuleEvent>);
    const model = e.aggregateKind === 'container' ? buckets.containers : buckets.capsules;
    const write = (bucket: KV, name: string, k: string, state: AnyState | null) => writes.set(`${name}/${k}`, { bucket, key: k, state });
    touched.add(key);
    // Keep a deleted aggregate's tombstone too: its seq makes a redelivered older event a no-op.
    cache.set(key, after);
    if (after.status === 'Deleted') {
      write(model, e.aggregateKind, readModelKey(e.aggregateId), null);
      if (after.host) write(buckets.desired, 'desired', desiredKey(after.host, e.aggregateKind, e.aggregateId), null);
      return;
    }
    write(model, e.aggregateKind, readModelKey(e.aggregateId), after);
    const desiredFollows = e.aggregateKind === 'capsule' || rewritesDesiredEntry((e as RecordedEvent<ContainerEvent>).type);
    if (after.host && desiredFollows) write(buckets.desired, 'desired', desiredKey(after.host, e.aggregateKind, e.aggregateId), after);
  }

  async function applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    const writes = new Map<string, Write>();
    const touched = new Set<string>();
    try {
      for (const e of events) await fold(e, writes, touched);
      // Different keys are independent (a reader takes each by level), so the writes go out together.
      await Promise.all([...writes.values()].map((w) => (w.state === null ? w.bucket.delete(w.key) : w.bucket.put(w.key, codec.encode(w.state)))));
    } catch (err) {
      for (const k of touched) cache.delete(k);
      throw err;
    }
  }

  return {
    get size() {
      return cache.size;
    },
    apply: (e) => applyBatch([e]),
    applyBatch,
  };
}
