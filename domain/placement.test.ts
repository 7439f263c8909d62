import { describe, expect, it } from 'vitest';
import type { ClaimResized, Placement } from '../events/index.js';
import type { HostRecord } from './host.js';
import { initialContainerState, evolveContainer } from './container.js';
import {
  decideResize,
  AvailabilityZoneFilter,
  ComputeFilter,
  LabelFilter,
  NO_VALID_HOST,
  RequestedHostFilter,
  RuntimeFilter,
  decideCommit,
  decideRelease,
  evolveLedger,
  filterHosts,
  foldLedger,
  initialLedger,
  planBatch,
  rankHosts,
  requestFromContainer,
  usageOf,
  usedFraction,
  type LedgerState,
  type PlacementRequest,
} from './placement.js';
import { specOf } from '../test/support/container-gen.js';

function host(hostname: string, o: Partial<HostRecord> & { cpus?: number; memoryMiB?: number; diskGb?: number } = {}): HostRecord {
  const { cpus = 4, memoryMiB = 4096, diskGb = 100, ...rest } = o;
  return {
    hostname,
    uuid: `uuid-${hostname}`,
    capacity: { cpus, memoryMiB, diskGb },
    labels: {},
    availabilityZone: 'nova',
    runtimes: ['runc'],
    version: '1',
    disabled: false,
    disabledReason: null,
    os: 'linux',
    osType: 'linux',
    architecture: 'x86_64',
    kernelVersion: '6',
    startedAt: '2026-01-01T00:00:00.000Z',
    ...rest,
  };
}

function req(id: string, o: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    kind: 'container', id, cpu: 1, memoryMiB: 512, diskGb: 0, availabilityZone: null, hints: {}, runtime: null,
    requestedHost: null, ...o,
  };
}

const place = (id: string, h: string, cpu = 1, memoryMiB = 512, diskGb = 0): Placement => ({
  kind: 'container', id, host: h, claim: { cpu, memoryMiB, diskGb },
});

function ledgerWith(placements: Placement[], seq = 1): LedgerState {
  return evolveLedger(initialLedger(), { type: 'PlacementsCommitted', data: { placements }, seq });
}

const capacities = (...hs: HostRecord[]) => new Map(hs.map((h) => [h.hostname, h.capacity]));

describe('ledger fold', () => {
  it('given commits and releases, when folded, then usage sums the live claims', () => {
    const l = foldLedger([
      { type: 'PlacementsCommitted', data: { placements: [place('a', 'h1', 0.1), place('b', 'h1', 0.2), place('c', 'h2', 2)] }, seq: 3 },
      { type: 'ClaimsReleased', data: { ids: ['c', 'nope'] }, seq: 7 },
    ]);
    expect(l.seq).toBe(7);
    expect([...l.claims.keys()]).toEqual(['a', 'b']);
    expect(l.claims.get('a')!.seq).toBe(3);
    expect(usageOf(l, 'h1')).toEqual({ cpuMilli: 300, memoryMiB: 1024, diskGb: 0, count: 2 });
    expect(l.usage.has('h2')).toBe(false);
  });

  it('given a consumer already claimed, when committed again, then the first claim stands', () => {
    const l = evolveLedger(ledgerWith([place('a', 'h1')]), { type: 'PlacementsCommitted', data: { placements: [place('a', 'h2')] }, seq: 2 });
    expect(l.claims.get('a')!.host).toBe('h1');
    expect(usageOf(l, 'h2').count).toBe(0);
  });

  it('evolveLedger leaves its input untouched and skips events already folded', () => {
    const l1 = ledgerWith([place('a', 'h1')], 5);
    const l2 = evolveLedger(l1, { type: 'ClaimsReleased', data: { ids: ['a'] }, seq: 6 });
    expect(l1.claims.has('a')).toBe(true);
    expect(l2.claims.has('a')).toBe(false);
    const again = evolveLedger(l2, { type: 'PlacementsCommitted', data: { placements: [place('a', 'h1')] }, seq: 5 });
    expect(again.claims.has('a')).toBe(false);
  });
});

describe('requests', () => {
  it('a container asks for its cpu as a float, memory, and disk or 0', () => {
    let s = initialContainerState('c1');
    s = evolveContainer(s, {
      type: 'ContainerCreateRequested',
      data: { spec: specOf({ cpu: 0.5, memory: 256, disk: null, hints: { 'label:zone': 'a' }, availabilityZone: 'az1', runtime: 'runc' }), run: true },
    });
    expect(requestFromContainer(s)).toEqual({
      kind: 'container', id: 'c1', cpu: 0.5, memoryMiB: 256, diskGb: 0, availabilityZone: 'az1',
      hints: { 'label:zone': 'a' }, runtime: 'runc', requestedHost: null, volumeHost: null,
    });
  });

  it('a container mounting local volumes asks for their host, and only that host passes', () => {
    let s = initialContainerState('c2');
    s = evolveContainer(s, { type: 'ContainerCreateRequested', data: { spec: { ...specOf({ cpu: 0.5, memory: 64 }), volumeHost: 'h2' }, run: true } });
    const r = requestFromContainer(s);
    expect(r.volumeHost).toBe('h2');
    const hosts = [host('h1'), host('h2'), host('h3')];
    expect(filterHosts(hosts, r, () => usageOf(initialLedger(), 'x')).map((h) => h.hostname)).toEqual(['h2']);
    expect(planBatch([r], hosts, initialLedger(), 'spread').placements.map((p) => p.host)).toEqual(['h2']);
  });
});

describe('filters', () => {
  const u = usageOf(initialLedger(), 'x');
  it('AvailabilityZoneFilter: the requested zone must match; an empty host zone is nova', () => {
    expect(AvailabilityZoneFilter.passes(host('h', { availabilityZone: '' }), req('a', { availabilityZone: 'nova' }), u)).toBe(true);
    expect(AvailabilityZoneFilter.passes(host('h', { availabilityZone: 'az2' }), req('a', { availabilityZone: 'az1' }), u)).toBe(false);
    expect(AvailabilityZoneFilter.passes(host('h', { availabilityZone: 'az2' }), req('a'), u)).toBe(true);
  });
  it('ComputeFilter: a disabled host takes nothing', () => {
    expect(ComputeFilter.passes(host('h', { disabled: true }), req('a'), u)).toBe(false);
    expect(ComputeFilter.passes(host('h'), req('a'), u)).toBe(true);
  });
  it('RuntimeFilter: the runtime must be among the host runtimes', () => {
    expect(RuntimeFilter.passes(host('h'), req('a', { runtime: 'kata' }), u)).toBe(false);
    expect(RuntimeFilter.passes(host('h', { runtimes: ['runc', 'kata'] }), req('a', { runtime: 'kata' }), u)).toBe(true);
    expect(RuntimeFilter.passes(host('h', { runtimes: [] }), req('a'), u)).toBe(true);
  });
  it('LabelFilter: every label hint must equal the host label; other hints are ignored', () => {
    const h = host('h', { labels: { ssd: 'true', rack: 'r1' } });
    expect(LabelFilter.passes(h, req('a', { hints: { 'label:ssd': 'true', 'label:rack': 'r1', other: 'x' } }), u)).toBe(true);
    expect(LabelFilter.passes(h, req('a', { hints: { 'label:ssd': 'false' } }), u)).toBe(false);
    expect(LabelFilter.passes(h, req('a', { hints: { 'label:gpu': 'true' } }), u)).toBe(false);
  });
  it('RequestedHostFilter: only the requested host', () => {
    expect(RequestedHostFilter.passes(host('h1'), req('a', { requestedHost: 'h2' }), u)).toBe(false);
    expect(RequestedHostFilter.passes(host('h2'), req('a', { requestedHost: 'h2' }), u)).toBe(true);
  });
  it('capacity filters count the ledger usage; fractional cpus add up exactly', () => {
    const l = ledgerWith([place('a', 'h1', 0.1), place('b', 'h1', 0.2)]);
    const h1 = host('h1', { cpus: 0.4 });
    expect(filterHosts([h1], req('c', { cpu: 0.1 }), (n) => usageOf(l, n))).toHaveLength(1);
    expect(filterHosts([h1], req('c', { cpu: 0.2 }), (n) => usageOf(l, n))).toHaveLength(0);
    expect(filterHosts([host('h1', { memoryMiB: 1500 })], req('c', { cpu: 0 }), (n) => usageOf(l, n))).toHaveLength(0);
    expect(filterHosts([host('h1', { diskGb: 5 })], req('c', { cpu: 0, memoryMiB: 0, diskGb: 6 }), (n) => usageOf(l, n))).toHaveLength(0);
  });
});

describe('weighers', () => {
  const l = ledgerWith([place('a', 'h1', 2, 2048), place('b', 'h2', 1, 1024)]);
  const hosts = [host('h3'), host('h1'), host('h2'), host('h0')];
  const usage = (n: string) => usageOf(l, n);
  it('spread puts the least used first, ties by hostname', () => {
    expect(rankHosts(hosts, req('c'), usage, 'spread').map((h) => h.hostname)).toEqual(['h0', 'h3', 'h2', 'h1']);
  });
  it('pack puts the most used first, ties by hostname', () => {
    expect(rankHosts(hosts, req('c'), usage, 'pack').map((h) => h.hostname)).toEqual(['h1', 'h2', 'h0', 'h3']);
  });
  it('used fraction is the mean of cpu and memory fractions', () => {
    expect(usedFraction({ cpus: 4, memoryMiB: 4096, diskGb: 0 }, usage('h1'))).toBe(0.5);
  });
});

describe('planBatch', () => {
  it('given two hosts, when spreading four requests, then they alternate and count earlier claims', () => {
    const r = planBatch([req('a'), req('b'), req('c'), req('d')], [host('h2'), host('h1')], initialLedger(), 'spread');
    expect(r.placements.map((p) => p.host)).toEqual(['h1', 'h2', 'h1', 'h2']);
    expect(r.failures).toEqual([]);
  });

  it('given pack, then requests fill the first host before the next', () => {
    const r = planBatch([req('a', { cpu: 2 }), req('b', { cpu: 2 }), req('c', { cpu: 2 })], [host('h2'), host('h1')], initialLedger(), 'pack');
    expect(r.placements.map((p) => p.host)).toEqual(['h1', 'h1', 'h2']);
  });

  it('given a ledger that fills a host, then the batch goes elsewhere, and fails when nothing fits', () => {
    const l = ledgerWith([place('x', 'h1', 4, 4096)]);
    const r = planBatch([req('a', { cpu: 3 }), req('b', { cpu: 3 }), req('c', { cpu: 8 })], [host('h1'), host('h2')], l, 'spread');
    expect(r.placements).toEqual([place('a', 'h2', 3)]);
    expect(r.failures.map((f) => [f.request.id, f.reason])).toEqual([['b', NO_VALID_HOST], ['c', NO_VALID_HOST]]);
  });

  it('honours hints, zone, runtime and requested host', () => {
    const hosts = [
      host('h1', { labels: { ssd: 'true' }, availabilityZone: 'az1' }),
      host('h2', { availabilityZone: 'az2', runtimes: ['runc', 'kata'] }),
      host('h3', { availabilityZone: '' }),
    ];
    const r = planBatch(
      [
        req('ssd', { hints: { 'label:ssd': 'true' } }),
        req('az2', { availabilityZone: 'az2' }),
        req('nova', { availabilityZone: 'nova' }),
        req('kata', { runtime: 'kata' }),
        req('pinned', { requestedHost: 'h3' }),
        req('nowhere', { hints: { 'label:ssd': 'true' }, availabilityZone: 'az2' }),
      ],
      hosts,
      initialLedger(),
      'spread',
    );
    expect(Object.fromEntries(r.placements.map((p) => [p.id, p.host]))).toEqual({ ssd: 'h1', az2: 'h2', nova: 'h3', kata: 'h2', pinned: 'h3' });
    expect(r.failures.map((f) => f.request.id)).toEqual(['nowhere']);
  });

  it('skips consumers that already hold a claim or repeat in the batch', () => {
    const r = planBatch([req('x'), req('a'), req('a')], [host('h1')], ledgerWith([place('x', 'h1')]), 'spread');
    expect(r.placements.map((p) => p.id)).toEqual(['a']);
    expect(r.skipped.map((s) => s.id)).toEqual(['x', 'a']);
  });

  it('a disabled host takes nothing', () => {
    const r = planBatch([req('a')], [host('h1', { disabled: true })], initialLedger(), 'spread');
    expect(r.failures).toHaveLength(1);
  });
});

describe('decideCommit (the plan applier)', () => {
  const h1 = host('h1', { cpus: 2 });
  const h2 = host('h2', { cpus: 2 });

  it('given a fresh ledger, when the plan fits, then every placement is committed', () => {
    const d = decideCommit(initialLedger(), [place('a', 'h1'), place('b', 'h1')], capacities(h1));
    expect(d.event?.data.placements.map((p) => p.id)).toEqual(['a', 'b']);
    expect(d.rejected).toEqual([]);
  });

  it('given a ledger another leader filled meanwhile, then the stale plan is cut to what still fits', () => {
    const fresh = ledgerWith([place('z', 'h1', 1.5)]);
    const d = decideCommit(fresh, [place('a', 'h1'), place('b', 'h2'), place('c', 'h2'), place('d', 'h2')], capacities(h1, h2));
    expect(d.event?.data.placements.map((p) => p.id)).toEqual(['b', 'c']);
    expect(d.rejected.map((r) => [r.placement.id, r.reason])).toEqual([
      ['a', 'insufficient-capacity'],
      ['d', 'insufficient-capacity'],
    ]);
  });

  it('rejects a lost host, an already claimed consumer and a duplicate', () => {
    const d = decideCommit(ledgerWith([place('a', 'h1')]), [place('a', 'h1'), place('b', 'h9'), place('c', 'h1'), place('c', 'h1')], capacities(h1));
    expect(d.event?.data.placements.map((p) => p.id)).toEqual(['c']);
    expect(d.rejected.map((r) => r.reason)).toEqual(['already-claimed', 'host-unavailable', 'duplicate']);
  });

  it('returns no event when nothing fits', () => {
    expect(decideCommit(initialLedger(), [place('a', 'h1', 3)], capacities(h1)).event).toBeNull();
  });
});

describe('decideRelease', () => {
  it('releases only claims the ledger holds', () => {
    expect(decideRelease(ledgerWith([place('a', 'h1')]), ['a', 'b', 'a'])).toEqual({ type: 'ClaimsReleased', data: { ids: ['a'] } });
    expect(decideRelease(initialLedger(), ['a'])).toBeNull();
  });
});

describe('decideResize', () => {
  const cap = { cpus: 2, memoryMiB: 1024, diskGb: 10 };
  const ledger = () =>
    foldLedger([
      {
        type: 'PlacementsCommitted',
        seq: 1,
        data: {
          placements: [
            { kind: 'container', id: 'a', host: 'h', claim: { cpu: 1, memoryMiB: 512, diskGb: 0 } },
            { kind: 'container', id: 'b', host: 'h', claim: { cpu: 0.5, memoryMiB: 256, diskGb: 0 } },
          ],
        },
      },
    ]);

  it('grows within what the rest of the host leaves, and folds into the usage', () => {
    const l = ledger();
    const d = decideResize(l, 'a', { cpu: 1.5, memoryMiB: 768, diskGb: 0 }, cap);
    expect(d).toEqual({ event: { type: 'ClaimResized', data: { id: 'a', claim: { cpu: 1.5, memoryMiB: 768, diskGb: 0 } } } });
    const after = foldLedger([{ ...(d as { event: ClaimResized }).event, seq: 2 }], l);
    expect(after.usage.get('h')).toEqual({ cpuMilli: 2000, memoryMiB: 1024, diskGb: 0, count: 2 });
    expect(after.claims.get('a')!.claim.cpu).toBe(1.5);
  });

  it('orders resizes by the consumer\'s log: a reservation takes the larger size and holds off older exact sizes', () => {
    const l = ledger();
    const reserve = (cpu: number, memoryMiB: number, basis: number) => decideResize(l2, 'a', { cpu, memoryMiB, diskGb: 0 }, cap, { basis, reserve: true });
    const exact = (cpu: number, memoryMiB: number, basis: number) => decideResize(l2, 'a', { cpu, memoryMiB, diskGb: 0 }, cap, { basis, reserve: false });
    let l2 = l;
    const fold = (d: ReturnType<typeof decideResize>) => {
      if (!('event' in d) || !d.event) throw new Error(`no event: ${JSON.stringify(d)}`);
      l2 = foldLedger([{ ...d.event, seq: l2.seq + 1 }], l2);
    };
    // a holds 1 vCPU / 512 MiB. A grow decided on the container at sequence 5 reserves 768 MiB.
    fold(reserve(1, 768, 5));
    expect(l2.claims.get('a')).toMatchObject({ claim: { cpu: 1, memoryMiB: 768 }, basis: 5 });
    // A concurrent grow on the same basis to less memory but more CPU: the larger of each.
    fold(reserve(1.2, 600, 5));
    expect(l2.claims.get('a')!.claim).toEqual({ cpu: 1.2, memoryMiB: 768, diskGb: 0 });
    // A shrink that landed at 5 (older than or equal to the reservation's basis) cannot undo it.
    expect(exact(0.5, 64, 5)).toEqual({ event: null });
    // The grow's update landed at 6: exact from now on.
    fold(exact(1, 768, 6));
    expect(l2.claims.get('a')).toMatchObject({ claim: { cpu: 1, memoryMiB: 768 }, basis: 6 });
    expect(l2.usage.get('h')).toEqual({ cpuMilli: 1500, memoryMiB: 1024, diskGb: 0, count: 2 });
    // A reservation decided on an older state of the container is stale: decide again on the new one.
    expect(reserve(1.5, 768, 5)).toMatchObject({ rejected: { code: 'stale' } });
    // The same size on a newer basis still moves the basis on.
    expect(reserve(1, 768, 7)).toMatchObject({ event: { data: { basis: 7, reserve: true } } });
    expect(exact(1, 768, 6)).toEqual({ event: null });
  });

  it('refuses growth past the host, or on an unknown host; shrinking always fits; nothing for the unplaced or unchanged', () => {
    const l = ledger();
    const over = decideResize(l, 'a', { cpu: 1.6, memoryMiB: 512, diskGb: 0 }, cap);
    expect('rejected' in over && over.rejected.message).toContain('Insufficient compute resources on host h');
    expect('rejected' in decideResize(l, 'a', { cpu: 1, memoryMiB: 900, diskGb: 0 }, cap)).toBe(true);
    expect('rejected' in decideResize(l, 'a', { cpu: 1.2, memoryMiB: 512, diskGb: 0 }, null)).toBe(true);
    expect(decideResize(l, 'a', { cpu: 0.1, memoryMiB: 64, diskGb: 0 }, null)).toMatchObject({ event: { type: 'ClaimResized' } });
    expect(decideResize(l, 'zz', { cpu: 9, memoryMiB: 9999, diskGb: 0 }, cap)).toEqual({ event: null });
    expect(decideResize(l, 'a', { cpu: 1, memoryMiB: 512, diskGb: 0 }, cap)).toEqual({ event: null });
  });
});
