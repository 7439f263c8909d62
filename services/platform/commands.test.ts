import { describe, expect, it } from 'vitest';
import { specOf } from '../../test/support/container-gen.js';
import type { EventStore } from './eventstore.js';
import { executeContainerCommand, loadContainer } from './commands.js';
import { initialContainerState } from '../../domain/container.js';
import { createMemoryEventStore } from './memory-eventstore.js';

/** Counts the loads a store serves. */
function counting(store: EventStore): EventStore & { loads: () => number } {
  let loads = 0;
  return Object.assign(Object.create(store) as EventStore, {
    load: (...a: Parameters<EventStore['load']>) => {
      loads++;
      return store.load(...a);
    },
    loads: () => loads,
  });
}

describe('executeOn with `from` (a state the writer believes current)', () => {
  const uuid = 'c-from';
  const ctx = (commandId: string) => ({ projectId: 'p', userId: 'u', requestId: `r-${commandId}`, commandId });
  const setup = async () => {
    const mem = createMemoryEventStore();
    let n = 0;
    const deps = { store: counting(mem), newId: () => `e${++n}`, now: () => new Date('2026-11-25T00:00:00Z') };
    await executeContainerCommand(deps, uuid, { type: 'CreateContainer', spec: specOf(), run: true }, ctx('create'));
    await executeContainerCommand(deps, uuid, { type: 'ScheduleContainer', host: 'h', claim: { cpu: 1, memoryMiB: 64, diskGb: 0 } }, ctx('schedule'));
    return { deps, mem };
  };

  it('appends on the current state without reading the log', async () => {
    const { deps, mem } = await setup();
    const current = await loadContainer(mem, uuid);
    const before = deps.store.loads();
    const r = await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation: { type: 'ContainerCreated', data: { dockerId: 'd1' } } }, ctx('obs'), { from: current });
    expect(r.ok && r.state.status).toBe('Created');
    expect(deps.store.loads()).toBe(before);
    expect(await loadContainer(mem, uuid)).toEqual(r.state);
  });

  it('falls back to the log when the state is stale (fence) or the decision on it is refused, appending once', async () => {
    const { deps, mem } = await setup();
    const stale = await loadContainer(mem, uuid);
    await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation: { type: 'ContainerCreated', data: { dockerId: 'd1' } } }, ctx('obs1'));
    const before = deps.store.loads();
    // On the stale state the append cannot land (fence, or the machine refuses it there): decided again on the log.
    const r = await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation: { type: 'ContainerStarted', data: { dockerId: 'd1' } } }, ctx('obs2'), { from: stale });
    expect(r.ok && r.state.status).toBe('Running');
    expect(deps.store.loads()).toBeGreaterThan(before);
    const all = (await mem.load('container', uuid)).map((e) => e.type);
    expect(all.filter((t) => t === 'ContainerStarted')).toHaveLength(1);
    expect(await loadContainer(mem, uuid)).toEqual(r.state);
  });

  it('a new aggregate from its initial state: fenced on 0 without reading the log; an id with history is decided on the log', async () => {
    const mem = createMemoryEventStore();
    let n = 0;
    const deps = { store: counting(mem), newId: () => `e${++n}`, now: () => new Date('2026-11-25T00:00:00Z') };
    const create = { type: 'CreateContainer', spec: specOf(), run: true } as const;
    const r = await executeContainerCommand(deps, 'c-new', create, ctx('new'), { from: initialContainerState('c-new') });
    expect(r.ok && r.state.status).toBe('Creating');
    expect(deps.store.loads()).toBe(0);
    // The same id again, believed new: the fence on 0 fails, the log says it exists, and the machine refuses.
    const again = await executeContainerCommand(deps, 'c-new', create, ctx('again'), { from: initialContainerState('c-new') });
    expect(again.ok).toBe(false);
    expect(deps.store.loads()).toBeGreaterThan(0);
    expect((await mem.load('container', 'c-new')).map((e) => e.type)).toEqual(['ContainerCreateRequested']);
  });
});
