import { describe, expect, it } from 'vitest';
import { envelope, type RecordedEvent } from '../../events/index.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { createFoldIndex } from './fold-index.js';

const meta = { projectId: 'p', userId: 'u', requestId: 'r', correlationId: 'r', causationId: null, occurredAt: '2026-11-26T00:00:00Z' };
let n = 0;
const registryEvent = (id: string, seq: number) =>
  envelope(
    seq === 0 ? { type: 'RegistryCreated', data: { domain: `reg-${id}`, projectId: 'p', userId: 'u' } } : { type: 'RegistryUpdated', data: { changes: { domain: `reg-${id}-${seq}` } } },
    { id: `e${++n}`, aggregateKind: 'registry', aggregateId: id },
    meta,
  );

describe('createFoldIndex', () => {
  it('folds what is new since the last query, sees every append made before a query, and shares reads', async () => {
    const store = createMemoryEventStore();
    const read: number[] = [];
    const readEvents = (o: { filter: string; fromSeq?: number }) => {
      read.push(o.fromSeq ?? 1);
      return store.readAll(o);
    };
    // Events of other kinds share the stream; only the registry subject is read.
    await store.append('network', 'n1', [envelope({ type: 'NetworkDeleted', data: {} }, { id: 'x', aggregateKind: 'network', aggregateId: 'n1' }, meta)], 0, 'x');
    const folded: string[] = [];
    const index = createFoldIndex<{ id: string; events: number }>({
      readEvents,
      kind: 'registry',
      initial: (id) => ({ id, events: 0 }),
      evolve: (s, e: RecordedEvent) => (folded.push(`${e.aggregateId}@${e.seq}`), { ...s, events: s.events + 1 }),
    });
    await store.append('registry', 'a', [registryEvent('a', 0)], 0, 'c1');
    await store.append('registry', 'b', [registryEvent('b', 0)], 0, 'c2');
    expect([...(await index.states()).values()]).toEqual([{ id: 'a', events: 1 }, { id: 'b', events: 1 }]);
    expect(folded).toEqual(['a@2', 'b@3']);

    // Nothing new: nothing folded again.
    await index.states();
    expect(folded).toHaveLength(2);

    // An update appended before the query is seen, and only it is folded.
    await store.append('registry', 'a', [registryEvent('a', 1)], 2, 'c3');
    expect((await index.states()).get('a')).toEqual({ id: 'a', events: 2 });
    expect(folded).toEqual(['a@2', 'b@3', 'a@4']);
    expect(read).toEqual([1, 4, 4]);

    // Queries during a read share the one read after it.
    const before = read.length;
    await Promise.all([index.states(), index.states(), index.states(), index.states()]);
    expect(read.length - before).toBeLessThanOrEqual(2);
  });
});
