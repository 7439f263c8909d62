import { describe, expect, it } from 'vitest';
import type { QuotaEvent } from '../events/quota.js';
import type { RecordedEvent } from '../events/index.js';
import {
  activeReservations,
  classLimits,
  defaultLimits,
  evolveQuota,
  initialQuotaState,
  limitChanges,
  overQuota,
  overQuotaMessage,
  projectLimits,
  projectUsage,
  ZUN_DEFAULT_QUOTAS,
} from './quota.js';

let seq = 0;
const ev = (type: QuotaEvent['type'], data: unknown, occurredAt = '2024-01-01T00:00:00.000Z') =>
  ({ id: `e${++seq}`, type, data, seq, schemaVersion: 1, aggregateKind: 'quota', aggregateId: 'p', projectId: 'p', userId: 'u', requestId: 'r', correlationId: 'r', causationId: null, occurredAt }) as unknown as RecordedEvent<QuotaEvent>;

describe('quota limits', () => {
  it('project over the default class over the configuration', () => {
    expect(ZUN_DEFAULT_QUOTAS).toEqual({ containers: 40, memory: 51200, disk: 100, cpu: 20 });
    const d = defaultLimits(ZUN_DEFAULT_QUOTAS, { memory: 1024 });
    expect(d).toEqual({ containers: 40, memory: 1024, disk: 100, cpu: 20 });
    expect(projectLimits(d, { cpu: -1 })).toEqual({ containers: 40, memory: 1024, disk: 100, cpu: -1 });
    expect(classLimits(ZUN_DEFAULT_QUOTAS, { disk: 5 })).toEqual({ ...ZUN_DEFAULT_QUOTAS, disk: 5 });
    expect(limitChanges({ cpu: 2 }, { cpu: 2, memory: 3 })).toEqual({ memory: 3 });
  });

  it('overQuota: limit >= 0 and limit < usage + delta, sorted; -1 unlimited; no float artefacts', () => {
    const limits = { containers: 2, memory: 100, disk: -1, cpu: 2 };
    const usage = { containers: 1, memory: 50, disk: 999, cpu: 1.9 };
    expect(overQuota(limits, usage, { containers: 1, memory: 50, disk: 5, cpu: 0.1 })).toEqual([]);
    expect(overQuota(limits, usage, { containers: 2, memory: 51, disk: 5, cpu: 0.2 })).toEqual(['containers', 'cpu', 'memory']);
    expect(overQuotaMessage(['cpu', 'memory'])).toBe("Quota exceeded for resources: ['cpu', 'memory']");
  });
});

describe('the quota aggregate', () => {
  it('folds limits and keeps reservations until they lapse', () => {
    let s = initialQuotaState('p');
    s = evolveQuota(s, ev('QuotaLimitsSet', { limits: { containers: 3 } }));
    s = evolveQuota(s, ev('QuotaUsageReserved', { containerId: 'c1', usage: { cpu: 1, memory: 10, disk: 0 }, expiresAt: '2024-01-01T00:01:00.000Z' }));
    s = evolveQuota(s, ev('QuotaLimitsSet', { limits: { cpu: 4 } }, '2024-01-01T00:00:30.000Z'));
    expect(s.limits).toEqual({ containers: 3, cpu: 4 });
    expect(Object.keys(s.reservations)).toEqual(['c1']);
    expect(Object.keys(activeReservations(s, '2024-01-01T00:02:00.000Z'))).toEqual([]);
    s = evolveQuota(s, ev('QuotaLimitsDeleted', {}, '2024-01-01T00:05:00.000Z'));
    expect(s).toMatchObject({ limits: {}, reservations: {}, seq });
  });

  it('usage: the read model, plus reservations at the larger of reserved and confirmed; deleted ones count nothing', () => {
    const listed = new Map([
      ['a', { cpu: 1, memory: 100, disk: 1 }],
      ['b', { cpu: 1, memory: 100, disk: 0 }],
    ]);
    const reservations = {
      b: { usage: { cpu: 2, memory: 50, disk: 0 }, expiresAt: 'x' }, // resized: max per resource
      c: { usage: { cpu: 0.5, memory: 64, disk: 0 }, expiresAt: 'x' }, // created, not listed yet
      d: { usage: { cpu: 4, memory: 4, disk: 4 }, expiresAt: 'x' }, // deleted since
    };
    const confirmed = (id: string) =>
      id === 'b' ? ({ kind: 'live', usage: { cpu: 1, memory: 100, disk: 0 } } as const) : id === 'd' ? ({ kind: 'deleted' } as const) : ({ kind: 'absent' } as const);
    expect(projectUsage(listed, reservations, confirmed)).toEqual({ containers: 3, memory: 264, disk: 1, cpu: 3.5 });
  });
});
