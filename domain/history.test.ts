import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ContainerEvent, RecordedEvent } from '../events/index.js';
import { verifyContainerFold } from '../state-machines/container.js';
import { verifyCapsuleFold } from '../state-machines/capsule.js';
import { arbHistory, runCommands } from '../test/support/container-gen.js';
import { foldContainer } from './container.js';
import { createHistoryFold, foldHistory } from './history.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
function rec(seq: number, kind: 'container' | 'capsule' | 'placement', id: string, type: string, data: unknown, occurredAt = at(seq)): RecordedEvent {
  return {
    id: `e${seq}`, type, data, schemaVersion: 1, aggregateKind: kind, aggregateId: id, projectId: 'p', userId: 'u',
    requestId: `r${seq}`, correlationId: `r${seq}`, causationId: null, occurredAt, seq,
  } as RecordedEvent;
}

/** Interleaves several single-aggregate logs into one stream, renumbering seqs. */
function interleave(logs: RecordedEvent[][], picks: number[]): RecordedEvent[] {
  const queues = logs.map((l) => [...l]);
  const out: RecordedEvent[] = [];
  let p = 0;
  while (queues.some((q) => q.length)) {
    const live = queues.filter((q) => q.length);
    const q = live[(picks[p++ % Math.max(1, picks.length)] ?? 0) % live.length]!;
    const e = q.shift()!;
    out.push({ ...e, seq: out.length + 1 } as RecordedEvent);
  }
  return out;
}

describe('the history fold', () => {
  it('over an interleaved log equals each aggregate\'s own fast fold and verifying fold', () => {
    fc.assert(
      fc.property(fc.array(arbHistory, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(7), { minLength: 1, maxLength: 30 }), (hists, picks) => {
        const logs = hists.map((cmds, i) => runCommands(`c-${i}`, cmds).log as RecordedEvent[]);
        const stream = interleave(logs, picks);
        const f = foldHistory(stream, { verify: true });
        expect(f.violations).toEqual([]);
        for (let i = 0; i < logs.length; i++) {
          const own = stream.filter((e) => e.aggregateId === `c-${i}`);
          expect(f.containers.get(`c-${i}`)).toEqual(foldContainer(`c-${i}`, own));
          expect(f.containers.get(`c-${i}`)).toEqual(verifyContainerFold(`c-${i}`, own as RecordedEvent<ContainerEvent>[]).state);
        }
        expect(f.counts().events).toBe(stream.length);
      }),
      { numRuns: 150 },
    );
  });

  it('flags what the machines flag, and folds on', () => {
    const stream = [
      rec(1, 'container', 'a', 'ContainerStopRequested', { timeout: null }), // before create: illegal
      rec(2, 'container', 'b', 'ContainerCreateRequested', { spec: { restartPolicy: { name: 'no', maximumRetryCount: 0 } }, run: true }),
      rec(3, 'capsule', 'k', 'CapsuleStarted', {}), // before create: illegal
      rec(4, 'container', 'b', 'ContainerPauseRequested', {}), // Creating: illegal
      rec(5, 'container', 'b', 'ContainerScheduled', { host: 'h1', claim: { cpu: 1, memoryMiB: 64, diskGb: 0 } }),
    ];
    const f = foldHistory(stream, { verify: true });
    expect(f.violations.map((v) => [v.seq, v.kind, v.id, v.type, v.from])).toEqual([
      [1, 'container', 'a', 'ContainerStopRequested', 'New'],
      [3, 'capsule', 'k', 'CapsuleStarted', 'New'],
      [4, 'container', 'b', 'ContainerPauseRequested', 'Creating'],
    ]);
    const expectV = verifyContainerFold('b', stream.filter((e) => e.aggregateId === 'b') as RecordedEvent<ContainerEvent>[]);
    expect(expectV.violations.map((v) => v.seq)).toEqual([4]);
    expect(f.containers.get('b')).toEqual(expectV.state);
    expect(verifyCapsuleFold('k', [stream[2] as never]).violations).toHaveLength(1);
    // Without verify nothing is flagged, and the states are the same.
    const fast = foldHistory(stream);
    expect(fast.violations).toEqual([]);
    expect(fast.containers).toEqual(f.containers);
  });

  it('cuts off per aggregate at a time, and globally at a sequence', () => {
    const stream = [
      rec(1, 'container', 'a', 'ContainerCreateRequested', { spec: {}, run: false }, at(10)),
      rec(2, 'container', 'b', 'ContainerCreateRequested', { spec: {}, run: false }, at(12)),
      // a's writer clock runs ahead: this event is after the cut...
      rec(3, 'container', 'a', 'ContainerScheduled', { host: 'h1', claim: { cpu: 1, memoryMiB: 1, diskGb: 0 } }, at(30)),
      // ...so this one, though stamped before it, is left out too: a's history stays whole.
      rec(4, 'container', 'a', 'ContainerSchedulingFailed', { reason: 'x' }, at(15)),
      rec(5, 'container', 'b', 'ContainerScheduled', { host: 'h2', claim: { cpu: 1, memoryMiB: 1, diskGb: 0 } }, at(19)),
      rec(6, 'placement', 'default', 'PlacementsCommitted', { placements: [{ kind: 'container', id: 'b', host: 'h2', claim: { cpu: 1, memoryMiB: 1, diskGb: 0 } }] }, at(18)),
      rec(7, 'placement', 'default', 'ClaimsReleased', { ids: ['b'] }, at(40)),
    ];
    const f = foldHistory(stream, { atMs: Date.parse(at(20)) });
    expect(f.containers.get('a')).toMatchObject({ status: 'Creating', host: null, seq: 1 });
    expect(f.containers.get('b')).toMatchObject({ host: 'h2', seq: 5 });
    expect(f.ledgers.get('default')!.claims.has('b')).toBe(true);
    expect(f.counts()).toMatchObject({ events: 4, skipped: 3 });
    const g = foldHistory(stream, { toSeq: 2 });
    expect([...g.containers.keys()]).toEqual(['a', 'b']);
    expect(g.seq).toBe(2);
    expect(foldHistory(stream).ledgers.get('default')!.claims.size).toBe(0);
  });

  it('counts events of unknown kinds without folding them', () => {
    const f = createHistoryFold();
    f.apply({ ...rec(1, 'container', 'a', 'X', {}), aggregateKind: 'network' } as unknown as RecordedEvent);
    expect(f.counts()).toMatchObject({ events: 0, unknownKind: 1 });
  });
});
