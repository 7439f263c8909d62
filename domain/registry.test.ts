import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../events/index.js';
import type { RegistryEvent } from '../events/registry.js';
import { decideRegistry, evolveRegistry, initialRegistryState, registryExists, type RegistryState } from './registry.js';

let seq = 0;
const apply = (s: RegistryState, events: readonly RegistryEvent[]) =>
  events.reduce(
    (acc, e) => evolveRegistry(acc, { ...e, seq: ++seq, occurredAt: `2024-01-01T00:00:0${seq % 10}.000Z` } as unknown as RecordedEvent<RegistryEvent>),
    s,
  );
const events = (d: ReturnType<typeof decideRegistry>) => {
  if ('rejected' in d) throw new Error(d.rejected.code);
  return d.events;
};

describe('the registry decider', () => {
  const fields = { name: 'r', domain: 'd', username: 'u', passwordCipher: 'c1' };

  it('given nothing, when created, then it exists with its owner', () => {
    const s = apply(initialRegistryState('x'), events(decideRegistry({ type: 'CreateRegistry', fields, projectId: 'p', userId: 'u' }, initialRegistryState('x'))));
    expect(registryExists(s)).toBe(true);
    expect(s).toMatchObject({ projectId: 'p', userId: 'u', name: 'r', domain: 'd', passwordCipher: 'c1' });
    expect(decideRegistry({ type: 'CreateRegistry', fields, projectId: 'p', userId: 'u' }, s)).toMatchObject({ rejected: { code: 'conflict' } });
  });

  it('updates only what changes, and refuses commands on a missing or deleted registry', () => {
    let s = apply(initialRegistryState('x'), [{ type: 'RegistryCreated', data: { ...fields, projectId: 'p', userId: 'u' } }]);
    expect(decideRegistry({ type: 'UpdateRegistry', changes: { domain: 'd' } }, s)).toEqual({ events: [] });
    const upd = events(decideRegistry({ type: 'UpdateRegistry', changes: { domain: 'd2', name: 'r' } }, s));
    expect(upd).toEqual([{ type: 'RegistryUpdated', data: { changes: { domain: 'd2' } } }]);
    s = apply(s, upd);
    expect(s.domain).toBe('d2');
    s = apply(s, events(decideRegistry({ type: 'DeleteRegistry' }, s)));
    expect(registryExists(s)).toBe(false);
    for (const c of [{ type: 'DeleteRegistry' }, { type: 'UpdateRegistry', changes: { name: 'n' } }] as const) {
      expect(decideRegistry(c, s)).toEqual({ rejected: { code: 'not-found' } });
      expect(decideRegistry(c, initialRegistryState('y'))).toEqual({ rejected: { code: 'not-found' } });
    }
  });
});
