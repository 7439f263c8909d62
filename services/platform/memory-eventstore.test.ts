import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MalformedEventError, aggregateSubject, type RecordedEvent } from '../../events/index.js';
import { eventStoreContract, sampleEvents } from '../../test/support/eventstore-contract.js';
import { executeCommand, loadAggregate } from './aggregate.js';
import { ConcurrencyError, type EventStore } from './eventstore.js';
import { createMemoryEventStore, subjectMatcher } from './memory-eventstore.js';
import { createMemorySnapshotStore, type SnapshotStore } from './snapshots.js';

eventStoreContract('memory', () => createMemoryEventStore());

describe('memory event store extras', () => {
  it('numbers events with one global sequence and reads them all in order', async () => {
    const store = createMemoryEventStore();
    const [a, b] = [randomUUID(), randomUUID()];
    await store.append('container', a, sampleEvents(a, 2), 0, 'c1');
    await store.append('container', b, sampleEvents(b, 1), 0, 'c2');
    await store.append('container', a, sampleEvents(a, 1), 2, 'c3');
    const all: RecordedEvent[] = [];
    for await (const e of store.readAll()) all.push(e);
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    const onlyB: RecordedEvent[] = [];
    for await (const e of store.readAll({ filter: aggregateSubject('container', b) })) onlyB.push(e);
    expect(onlyB.map((e) => e.seq)).toEqual([3]);
    const from3: number[] = [];
    for await (const e of store.readAll({ fromSeq: 3 })) from3.push(e.seq);
    expect(from3).toEqual([3, 4]);
  });

  it('keeps a partial multi-event append when a fence fails midway, as JetStream does', async () => {
    // Emulated: the same command id retried after another writer moved on.
    const store = createMemoryEventStore();
    const id = randomUUID();
    const events = sampleEvents(id, 2);
    await store.append('container', id, events.slice(0, 1), 0, 'cmd');
    await store.append('container', id, sampleEvents(id, 1, 'other'), 1, 'other');
    await expect(store.append('container', id, events, 0, 'cmd')).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.load('container', id)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('fails a load on a malformed body with MalformedEventError naming the sequence', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    await store.append('container', id, sampleEvents(id, 1), 0, 'c1');
    const seq = store.appendRaw(aggregateSubject('container', id), new TextEncoder().encode('{"not":"an event"'));
    const err = await store.load('container', id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedEventError);
    expect((err as Error).message).toContain(`sequence ${seq}`);
  });

  it('matches subjects like NATS', () => {
    expect(subjectMatcher('zun.evt.>')('zun.evt.container.x')).toBe(true);
    expect(subjectMatcher('zun.evt.>')('zun.evt')).toBe(false);
    expect(subjectMatcher('zun.evt.container.*')('zun.evt.container.x')).toBe(true);
    expect(subjectMatcher('zun.evt.container.*')('zun.evt.capsule.x')).toBe(false);
    expect(subjectMatcher('zun.evt.container.*')('zun.evt.container.x.y')).toBe(false);
    expect(subjectMatcher('zun.evt.container.x')('zun.evt.container.x')).toBe(true);
  });
});

// A counter aggregate: the state is how many events were folded and the last event's id.
interface Counter {
  readonly n: number;
  readonly last: string | null;
}
const initial: Counter = { n: 0, last: null };
const evolve = (s: Counter, e: RecordedEvent): Counter => ({ n: s.n + 1, last: e.id });

describe('loadAggregate', () => {
  it('folds every event, writes a snapshot past snapshotEvery, and starts from it next time', async () => {
    const store = createMemoryEventStore();
    const snapshots = createMemorySnapshotStore();
    const id = randomUUID();
    await store.append('container', id, sampleEvents(id, 7), 0, 'c1');
    const first = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 5 });
    expect(first.state.n).toBe(7);
    expect(first.seq).toBe(7);
    expect(first.events).toHaveLength(7);
    expect(await snapshots.get('container', id)).toEqual({ seq: 7, state: first.state, version: 1 });

    await store.append('container', id, sampleEvents(id, 2), 7, 'c2');
    const second = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 5 });
    expect(second.events.map((e) => e.seq)).toEqual([8, 9]);
    expect(second.state.n).toBe(9);
    expect(second.seq).toBe(9);
    // Only 2 folded since the snapshot: not rewritten.
    expect((await snapshots.get('container', id))?.seq).toBe(7);
  });

  it('writes no snapshot at exactly snapshotEvery events', async () => {
    const store = createMemoryEventStore();
    const snapshots = createMemorySnapshotStore();
    const id = randomUUID();
    await store.append('container', id, sampleEvents(id, 5), 0, 'c1');
    await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 5 });
    expect(snapshots.size).toBe(0);
  });

  it('ignores a snapshot of another version', async () => {
    const store = createMemoryEventStore();
    const snapshots = createMemorySnapshotStore();
    const id = randomUUID();
    await store.append('container', id, sampleEvents(id, 3), 0, 'c1');
    await snapshots.put('container', id, 3, { n: 999, last: 'bogus' }, 1);
    const r = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotVersion: 2 });
    expect(r.state.n).toBe(3);
  });

  it('falls back to the events when the snapshot store fails, and reports the failure', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    await store.append('container', id, sampleEvents(id, 4), 0, 'c1');
    const broken: SnapshotStore = {
      get: () => Promise.reject(new Error('kv down')),
      put: () => Promise.reject(new Error('kv down')),
    };
    const errors: string[] = [];
    const r = await loadAggregate({
      store,
      snapshots: broken,
      kind: 'container',
      id,
      initial,
      evolve,
      snapshotEvery: 1,
      onSnapshotError: (_e, op) => errors.push(op),
    });
    expect(r.state.n).toBe(4);
    expect(errors).toEqual(['get', 'put']);
  });
});

describe('executeCommand', () => {
  const load = (store: EventStore, id: string) => () => loadAggregate({ store, kind: 'container', id, initial, evolve });

  it('appends the decided events fenced on the loaded sequence', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    const r = await executeCommand({
      store,
      kind: 'container',
      id,
      load: load(store, id),
      decide: () => ({ events: sampleEvents(id, 2) }),
      commandId: 'cmd-1',
    });
    expect(r).toMatchObject({ outcome: 'appended', seqs: [1, 2], duplicate: false, attempts: 1, seq: 0 });
  });

  it('returns a rejection as a value and appends nothing', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    const r = await executeCommand<Counter, { code: string }>({
      store,
      kind: 'container',
      id,
      load: load(store, id),
      decide: () => ({ rejected: { code: 'NOT_ALLOWED' } }),
      commandId: 'cmd-1',
    });
    expect(r).toMatchObject({ outcome: 'rejected', rejected: { code: 'NOT_ALLOWED' } });
    expect(store.lastStreamSeq).toBe(0);
  });

  it('reloads and decides again after a conflict', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    const seen: number[] = [];
    const r = await executeCommand({
      store,
      kind: 'container',
      id,
      load: load(store, id),
      decide: async (s, attempt) => {
        seen.push(s.n);
        // A competing writer slips in between our load and our append, once.
        if (attempt === 1) await store.append('container', id, sampleEvents(id, 1, 'rival'), 0, 'rival');
        return { events: sampleEvents(id, 1, 'mine') };
      },
      commandId: 'cmd-1',
    });
    expect(seen).toEqual([0, 1]);
    expect(r).toMatchObject({ outcome: 'appended', attempts: 2, seqs: [2], seq: 1 });
  });

  it('gives up after maxRetries conflicts and rethrows the ConcurrencyError', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    let n = 0;
    const err = await executeCommand({
      store,
      kind: 'container',
      id,
      load: load(store, id),
      decide: async (s) => {
        await store.append('container', id, sampleEvents(id, 1, 'rival'), s.n === 0 ? 0 : (await store.lastSeq('container', id)), `rival-${n++}`);
        return { events: sampleEvents(id, 1) };
      },
      commandId: 'cmd-1',
      maxRetries: 2,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(n).toBe(3);
  });

  it('is idempotent by command id', async () => {
    const store = createMemoryEventStore();
    const id = randomUUID();
    const events = sampleEvents(id, 1);
    const run = () => executeCommand({ store, kind: 'container', id, load: load(store, id), decide: () => ({ events }), commandId: 'same' });
    const a = await run();
    const b = await run();
    expect(a).toMatchObject({ seqs: [1], duplicate: false });
    expect(b).toMatchObject({ seqs: [1], duplicate: true });
    expect(store.lastStreamSeq).toBe(1);
  });
});
