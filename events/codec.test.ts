import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, MalformedEventError, toRecordedEvent } from './codec.js';
import { aggregateSubject, decodeToken, encodeToken, parseAggregateSubject } from './subjects.js';
import { envelope, type EventEnvelope } from './envelope.js';

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

describe('the stored body', () => {
  const body = (e: EventEnvelope) => JSON.parse(new TextDecoder().decode(encodeEvent(e))) as Record<string, unknown>;
  const caused = envelope({ type: 'ContainerStarted', data: { dockerId: 'd1' } }, { id: 'e2', aggregateKind: 'container', aggregateId: 'c1' }, {
    ...meta,
    correlationId: 'req-0',
    causationId: 'e1',
  });

  it('leaves out correlationId when it equals requestId, and causationId when null', () => {
    expect(Object.keys(body(env))).toEqual(['id', 'type', 'schemaVersion', 'aggregateKind', 'aggregateId', 'projectId', 'userId', 'requestId', 'occurredAt', 'data']);
    expect(body(caused)).toMatchObject({ requestId: 'req-1', correlationId: 'req-0', causationId: 'e1' });
  });

  it('decodes to the envelope that was encoded, in its key order, whether written compact or in full (as before)', () => {
    for (const e of [env, caused]) {
      const want = JSON.stringify({ ...e, seq: 3 });
      expect(JSON.stringify(decodeEvent(encodeEvent(e), 3))).toBe(want);
      expect(JSON.stringify(decodeEvent(new TextEncoder().encode(JSON.stringify(e)), 3))).toBe(want);
    }
  });

  it('returns a new object with the envelope fields only, and leaves the parsed object alone', () => {
    const raw = { ...env, extra: 'x', seq: 99 };
    const got = toRecordedEvent(raw, 4);
    expect(Object.keys(got)).toEqual([...Object.keys(env), 'seq']);
    expect(got.seq).toBe(4);
    expect(raw).toEqual({ ...env, extra: 'x', seq: 99 });
  });

  it('still rejects a correlationId or causationId that is there but not a non-empty string', () => {
    for (const bad of [{ correlationId: '' }, { correlationId: null }, { correlationId: 7 }]) {
      expect(() => toRecordedEvent({ ...env, ...bad }, 1)).toThrow(/"correlationId" must be a non-empty string/);
    }
    for (const bad of [{ causationId: '' }, { causationId: 7 }, { causationId: {} }]) {
      expect(() => toRecordedEvent({ ...env, ...bad }, 1)).toThrow(/"causationId" must be a non-empty string/);
    }
    const bytes = (o: object) => new TextEncoder().encode(JSON.stringify(o));
    expect(() => decodeEvent(bytes({ ...env, correlationId: '' }), 5)).toThrow(/sequence 5: event field "correlationId"/);
  });

  it('reports the same fault first whatever else is wrong', () => {
    expect(() => toRecordedEvent({ ...env, id: '', type: 'Nope', occurredAt: 'never' }, 1)).toThrow(/"id" must be/);
    expect(() => toRecordedEvent({ ...env, type: 'Nope', occurredAt: 'never' }, 1)).toThrow(/unknown container event type/);
    expect(() => toRecordedEvent({ ...env, schemaVersion: -1, occurredAt: 'never' }, 1)).toThrow(/invalid schemaVersion/);
    expect(() => toRecordedEvent({ ...env, occurredAt: 'never', data: {} }, 1)).toThrow(/occurredAt/);
  });
});

describe('occurredAt', () => {
  const accepts = (occurredAt: string) => {
    try {
      toRecordedEvent({ ...env, occurredAt }, 1);
      return true;
    } catch (e) {
      expect((e as Error).message).toMatch(/occurredAt/);
      return false;
    }
  };

  it('is accepted exactly when Date.parse accepts it', () => {
    const cases = [
      '2026-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z',
      '2026-02-28T12:00:00.000Z', '2026-02-29T00:00:00.000Z', '2026-02-31T00:00:00.000Z', '2026-02-32T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z', '2026-13-10T00:00:00.000Z', '2026-01-00T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z', '2026-01-01T23:60:00.000Z', '2026-01-01T23:59:60.000Z',
      '2026-01-01T00:00:00Z', '2026-01-01', '+002026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000+01:00',
      '2026-1-01T00:00:00.000Z', '2026-01-01T00:00:00.00aZ', '2026-01-01 00:00:00.000Z', 'yesterday', 'Thu, 01 Jan 2026 00:00:00 GMT',
    ];
    for (const c of cases) expect([c, accepts(c)]).toEqual([c, !Number.isNaN(Date.parse(c))]);
  });

  it('agrees with Date.parse on random strings of the stored shape', () => {
    // Fields around their valid ranges, separators mostly right: most strings
    // reach the hand-written check, and each bound is crossed often.
    const num = (max: number, width: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, '0'));
    const sep = (c: string) => fc.oneof({ weight: 15, arbitrary: fc.constant(c) }, { weight: 1, arbitrary: fc.constantFrom('x', '', '/') });
    const shaped = fc
      .tuple(num(9999, 4), sep('-'), num(13, 2), sep('-'), num(32, 2), sep('T'), num(25, 2), sep(':'), num(61, 2), sep(':'), num(61, 2), sep('.'), num(999, 3), fc.constantFrom('Z', 'Z', 'Z', 'z', '+01:00', ''))
      .map((parts) => parts.join(''));
    fc.assert(fc.property(shaped, (s) => accepts(s) === !Number.isNaN(Date.parse(s))), { numRuns: 3_000 });
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
