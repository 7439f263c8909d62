import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, MalformedEventError, toRecordedEvent } from './codec.js';
import { aggregateSubject, decodeToken, encodeToken, parseAggregateSubject } from './subjects.js';
import { envelope } from './envelope.js';

const meta = { projectId: 'p', userId: 'u', requestId: 'req-1', correlationId: 'req-1', causationId: null, occurredAt: '2026-01-01T00:00:00.000Z' };
const env = envelope({ type: 'ContainerExited', data: { exitCode: 1, oomKilled: false } }, { id: 'e1', aggregateKind: 'container', aggregateId: 'c1' }, meta);

describe('codec', () => {
  it('round-trips an envelope', () => {
    expect(decodeEvent(encodeEvent(env), 7)).toEqual({ ...env, seq: 7 });
  });
  it('rejects junk with a clear error naming the sequence', () => {
    expect(() => decodeEvent(new TextEncoder().encode('{nope'), 9)).toThrow(/sequence 9 is not valid UTF-8 JSON/);
    expect(() => decodeEvent(new TextEncoder().encode('[]'), 9)).toThrow(MalformedEventError);
  });
  it('rejects unknown types, kinds, missing fields and future versions', () => {
    expect(() => toRecordedEvent({ ...env, type: 'Nope' }, 1)).toThrow(/unknown container event type "Nope"/);
    expect(() => toRecordedEvent({ ...env, aggregateKind: 'x' }, 1)).toThrow(/unknown aggregate kind/);
    expect(() => toRecordedEvent({ ...env, requestId: undefined }, 1)).toThrow(/requestId/);
    expect(() => toRecordedEvent({ ...env, data: { exitCode: 1 } }, 1)).toThrow(/missing data.oomKilled/);
    expect(() => toRecordedEvent({ ...env, schemaVersion: 99 }, 1)).toThrow(/newer than this build/);
    expect(() => toRecordedEvent({ ...env, occurredAt: 'yesterday' }, 1)).toThrow(/occurredAt/);
  });
  it('upcasts old shapes on read', () => {
    const old = { ...env, schemaVersion: 0, data: { exitCode: 3 } };
    expect(toRecordedEvent(old, 1).data).toEqual({ exitCode: 3, oomKilled: false });
    const custom = { ContainerExited: { 0: (d: unknown) => ({ ...(d as object), exitCode: 42, oomKilled: true }) } };
    expect(toRecordedEvent(old, 1, custom)).toMatchObject({ schemaVersion: 1, data: { exitCode: 42, oomKilled: true } });
  });
});

describe('subjects', () => {
  it('encodes host names and odd ids into safe, reversible tokens', () => {
    for (const id of ['compute-1.example.org', 'a b*c>d', 'ümlaut', '550e8400-e29b-41d4-a716-446655440000', 'x=y']) {
      const t = encodeToken(id);
      expect(t).toMatch(/^[A-Za-z0-9_=-]+$/);
      expect(decodeToken(t)).toBe(id);
    }
    expect(encodeToken('550e8400-e29b-41d4-a716-446655440000')).toBe('550e8400-e29b-41d4-a716-446655440000');
    expect(aggregateSubject('container', 'h.1')).toBe('zun.evt.container.h=2E1');
    expect(parseAggregateSubject('zun.evt.container.h=2E1')).toEqual({ kind: 'container', id: 'h.1' });
  });
});
