import { describe, expect, it } from 'vitest';
import { evolveContainer, initialContainerState } from '../../domain/container.js';
import { applyLedgerEvent, initialLedger } from '../../domain/placement.js';
import { decodeView, encodeViewSliced, fingerprintOf, foldFingerprint, type ViewState } from './view-snapshot.js';

function view(): ViewState {
  const ledger = initialLedger();
  ledger.seq = 42;
  ledger.claims.set('c1', { kind: 'container', id: 'c1', host: 'h1', claim: { cpu: 0.5, memoryMiB: 64, diskGb: 0 }, seq: 40, basis: 7 });
  ledger.usage.set('h1', { cpuMilli: 500, memoryMiB: 64, diskGb: 0, count: 1 });
  const c1 = { ...initialContainerState('c1'), seq: 41, status: 'Running' as const, host: 'h1', statusReason: 'nämlich ✓ ünïcödé' };
  return { lastSeq: 43, ledger, containers: new Map([['c1', c1]]), capsules: new Map(), deleted: new Set(['gone']) };
}

describe('placement view snapshots', () => {
  it('encode and decode give the same view, whatever the chunk and slice sizes (multi-byte characters split across chunks)', async () => {
    const v = view();
    for (const [size, slice] of [[1, 1], [3, 2], [7, 1000], [64, 1], [1 << 20, 1000]] as const) {
      const chunks = await encodeViewSliced(v, size, slice);
      expect(chunks.every((c) => c.length <= size)).toBe(true);
      expect(decodeView(chunks)).toEqual(v);
    }
  });

  it('takes the view as it is at the call: what is folded while it encodes is not in the snapshot', async () => {
    const v: { -readonly [K in keyof ViewState]: ViewState[K] } = view();
    const pending = encodeViewSliced(v, 1 << 20, 1);
    const before = structuredClone(v);
    v.lastSeq = 99;
    v.ledger.seq = 98;
    v.ledger.claims.delete('c1');
    v.containers.set('c2', { ...initialContainerState('c2'), seq: 99 });
    v.deleted.add('also-gone');
    expect(decodeView(await pending)).toEqual(before);
  });

  it('refuses what is not a view', () => {
    expect(() => decodeView([Buffer.from('{"x":1}')])).toThrow('not a placement view');
    expect(() => decodeView([Buffer.from('{"lastSeq"')])).toThrow();
  });

  it('the fold fingerprint follows the folds: another container or ledger fold gives another, so older snapshots are not used', () => {
    const now = foldFingerprint();
    expect(now).toMatch(/^[0-9a-f]{32}$/);
    expect(fingerprintOf({ evolveContainer, applyLedgerEvent })).toBe(now);
    // A fold that adds a field, or reads one event differently.
    expect(fingerprintOf({ evolveContainer: (st, e) => ({ ...evolveContainer(st, e), extra: 1 }) as never, applyLedgerEvent })).not.toBe(now);
    const otherStop: typeof evolveContainer = (st, e) => (e.type === 'ContainerStopRequested' ? st : evolveContainer(st, e));
    expect(fingerprintOf({ evolveContainer: otherStop, applyLedgerEvent })).not.toBe(now);
    const otherResize: typeof applyLedgerEvent = (l, e) => (e.type === 'ClaimResized' ? l : applyLedgerEvent(l, e));
    expect(fingerprintOf({ evolveContainer, applyLedgerEvent: otherResize })).not.toBe(now);
  });
});
