import { describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import type { ContainerCommand } from '../../domain/container-decider.js';
import type { ContainerEvent, RecordedEvent } from '../../events/index.js';
import type { EventStore } from '../platform/eventstore.js';
import { desiredKey, readModelKey } from '../platform/readmodels.js';
import { runCommands, specOf } from '../../test/support/container-gen.js';
import { createProjection, type ProjectionBuckets } from './projection.js';

/** A KV bucket as the projection uses it (put, delete), recording every call. */
function fakeBucket() {
  const values = new Map<string, unknown>();
  const calls: string[] = [];
  let failNext = 0;
  const bucket = {
    async put(key: string, body: Uint8Array) {
      calls.push(`put ${key}`);
      if (failNext > 0) {
        failNext--;
        throw new Error('nats: timeout');
      }
      values.set(key, JSON.parse(new TextDecoder().decode(body)));
      return 1;
    },
    async delete(key: string) {
      calls.push(`delete ${key}`);
      values.delete(key);
    },
  };
  return { kv: bucket as unknown as KV, values, calls, failPuts: (n: number) => (failNext = n) };
}

function buckets() {
  const containers = fakeBucket();
  const capsules = fakeBucket();
  const desired = fakeBucket();
  const b: ProjectionBuckets = { containers: containers.kv, capsules: capsules.kv, desired: desired.kv };
  return { b, containers, desired };
}

/** Two containers' logs, interleaved into one stream with global sequence numbers. */
function stream(): { events: RecordedEvent[]; byId: Map<string, RecordedEvent[]> } {
  const claim = { cpu: 1, memoryMiB: 128, diskGb: 0 };
  const obs = (type: string, data: object): ContainerCommand => ({ type: 'RecordObservation', observation: { type, data } as never });
  const a = runCommands('aaaaaaaa-0000-4000-8000-000000000001', [
    { type: 'CreateContainer', spec: specOf({ name: 'a1' }), run: true },
    { type: 'ScheduleContainer', host: 'h1', claim },
    obs('ContainerCreated', { dockerId: 'd1' }),
    obs('ContainerStarted', { dockerId: 'd1' }),
    { type: 'StopContainer', timeout: null },
  ]).log;
  const b = runCommands('bbbbbbbb-0000-4000-8000-000000000002', [
    { type: 'CreateContainer', spec: specOf({ name: 'b1' }), run: false },
    { type: 'ScheduleContainer', host: 'h2', claim },
    obs('ContainerCreated', { dockerId: 'd2' }),
    { type: 'DeleteContainer', stop: false, force: false },
    obs('ContainerDeleted', {}),
  ]).log;
  const events: RecordedEvent[] = [];
  const byId = new Map<string, RecordedEvent[]>();
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    for (const e of [a[i], b[i]]) {
      if (!e) continue;
      const rec = { ...e, seq: events.length + 1 } as RecordedEvent<ContainerEvent>;
      events.push(rec);
      byId.set(rec.aggregateId, [...(byId.get(rec.aggregateId) ?? []), rec]);
    }
  }
  return { events, byId };
}

const storeOf = (byId: Map<string, RecordedEvent[]>) =>
  ({ load: async (_kind: string, id: string) => byId.get(id) ?? [] }) as unknown as EventStore;

describe('projection', () => {
  it('a batch ends where event-by-event application ends, writing each key once', async () => {
    const { events, byId } = stream();
    const one = buckets();
    const p1 = createProjection({ buckets: one.b, store: storeOf(byId) });
    for (const e of events) await p1.apply(e);

    const all = buckets();
    const p2 = createProjection({ buckets: all.b, store: storeOf(byId) });
    await p2.applyBatch(events);

    expect(all.containers.values).toEqual(one.containers.values);
    expect(all.desired.values).toEqual(one.desired.values);
    // a1 is live (Stopping, on h1); b1 was deleted: its read model and desired entries are gone.
    const a = readModelKey('aaaaaaaa-0000-4000-8000-000000000001');
    expect([...all.containers.values.keys()]).toEqual([a]);
    expect(all.containers.values.get(a)).toMatchObject({ seq: events.length - 1, host: 'h1' });
    expect([...all.desired.values.keys()]).toEqual([desiredKey('h1', 'container', 'aaaaaaaa-0000-4000-8000-000000000001')]);
    // One write per key in the batch; one per event before.
    expect(all.containers.calls).toHaveLength(2);
    expect(all.desired.calls).toHaveLength(2);
    expect(one.containers.calls.length).toBe(events.length);
  });

  it('redelivery is a no-op, in a batch as alone', async () => {
    const { events, byId } = stream();
    const bk = buckets();
    const p = createProjection({ buckets: bk.b, store: storeOf(byId) });
    await p.applyBatch(events);
    const before = bk.containers.calls.length;
    await p.applyBatch(events.slice(2));
    await p.apply(events[0]!);
    expect(bk.containers.calls.length).toBe(before);
  });

  it('a failed write rejects the batch and forgets its folds, so the redelivered batch is written', async () => {
    const { events, byId } = stream();
    const bk = buckets();
    const p = createProjection({ buckets: bk.b, store: storeOf(byId) });
    const first = events.slice(0, 6);
    await p.applyBatch(first.slice(0, 2));
    bk.containers.failPuts(1);
    await expect(p.applyBatch(first.slice(2))).rejects.toThrow('nats: timeout');
    // Redelivered: both aggregates are folded again (from the log, up to each event) and written.
    await p.applyBatch(first.slice(2));
    const ref = buckets();
    const q = createProjection({ buckets: ref.b, store: storeOf(byId) });
    await q.applyBatch(first);
    expect(bk.containers.values).toEqual(ref.containers.values);
    expect(bk.desired.values).toEqual(ref.desired.values);
  });
});
