/**
 * The fast planner (per-constraint heaps) makes exactly the choices of the
 * reference: for each request in order, run every filter over every host and
 * take the best by the weigher, counting the placements made before it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Placement } from '../../events/index.js';
import type { HostRecord } from '../../domain/host.js';
import {
  claimOf,
  evolveLedger,
  initialLedger,
  planBatch,
  rankHosts,
  toMilli,
  usageOf,
  type HostUsage,
  type LedgerState,
  type PlacementRequest,
  type Weigher,
} from '../../domain/placement.js';
import { runs } from '../support/runs.js';

const arbHost = (i: number) =>
  fc
    .record({
      cpus: fc.constantFrom(1, 2, 4, 8),
      memoryMiB: fc.constantFrom(512, 1024, 4096),
      diskGb: fc.constantFrom(0, 10, 100),
      az: fc.constantFrom('', 'nova', 'az2'),
      rack: fc.constantFrom('r1', 'r2'),
      kata: fc.boolean(),
      disabled: fc.boolean().map((b) => b && i % 5 === 4),
    })
    .map(
      (o): HostRecord => ({
        hostname: `h${String(i).padStart(2, '0')}`,
        uuid: `u${i}`,
        capacity: { cpus: o.cpus, memoryMiB: o.memoryMiB, diskGb: o.diskGb },
        labels: { rack: o.rack },
        availabilityZone: o.az,
        runtimes: o.kata ? ['runc', 'kata'] : ['runc'],
        version: '1',
        disabled: o.disabled,
        disabledReason: null,
        os: 'linux',
        osType: 'linux',
        architecture: 'x86_64',
        kernelVersion: '6',
        startedAt: '2026-01-01T00:00:00.000Z',
      }),
    );

const arbRequest = (i: number): fc.Arbitrary<PlacementRequest> =>
  fc.record({
    kind: fc.constant('container' as const),
    id: fc.constant(`c${i}`),
    cpu: fc.constantFrom(0.1, 0.25, 0.5, 1, 2, 3),
    memoryMiB: fc.constantFrom(64, 128, 512, 1024),
    diskGb: fc.constantFrom(0, 0, 5, 20),
    availabilityZone: fc.constantFrom(null, null, 'nova', 'az2'),
    hints: fc.constantFrom<Readonly<Record<string, string>>>({}, {}, { 'label:rack': 'r1' }, { 'label:rack': 'r2', other: 'x' }),
    runtime: fc.constantFrom(null, null, 'runc', 'kata'),
    requestedHost: fc.constantFrom(null, null, null, 'h00', 'h03'),
  });

const arbCase = fc.record({
  hosts: fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbHost(i)))),
  requests: fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbRequest(i)))),
  preClaims: fc.array(fc.record({ host: fc.nat({ max: 11 }), cpu: fc.constantFrom(0.5, 1, 2), mem: fc.constantFrom(128, 512) }), { maxLength: 10 }),
  weigher: fc.constantFrom<Weigher>('spread', 'pack'),
});

function reference(requests: readonly PlacementRequest[], hosts: readonly HostRecord[], ledger: LedgerState, weigher: Weigher) {
  const usage = new Map<string, HostUsage>();
  const u = (h: string) => usage.get(h) ?? usageOf(ledger, h);
  const placements: Placement[] = [];
  const failures: string[] = [];
  for (const r of requests) {
    const best = rankHosts(hosts, r, u, weigher)[0];
    if (!best) {
      failures.push(r.id);
      continue;
    }
    const b = u(best.hostname);
    usage.set(best.hostname, {
      cpuMilli: b.cpuMilli + toMilli(r.cpu),
      memoryMiB: b.memoryMiB + r.memoryMiB,
      diskGb: b.diskGb + r.diskGb,
      count: b.count + 1,
    });
    placements.push({ kind: r.kind, id: r.id, host: best.hostname, claim: claimOf(r) });
  }
  return { placements, failures };
}

describe('planBatch', () => {
  it('chooses exactly what the reference (filter everything, sort, take the best) chooses', () => {
    fc.assert(
      fc.property(arbCase, ({ hosts, requests, preClaims, weigher }) => {
        const placements: Placement[] = preClaims
          .filter((p) => p.host < hosts.length)
          .map((p, i) => ({ kind: 'container', id: `pre${i}`, host: hosts[p.host]!.hostname, claim: { cpu: p.cpu, memoryMiB: p.mem, diskGb: 0 } }));
        const ledger = placements.length ? evolveLedger(initialLedger(), { type: 'PlacementsCommitted', data: { placements }, seq: 1 }) : initialLedger();
        const got = planBatch(requests, hosts, ledger, weigher);
        const want = reference(requests, hosts, ledger, weigher);
        expect(got.placements).toEqual(want.placements);
        expect(got.failures.map((f) => f.request.id)).toEqual(want.failures);
      }),
      { numRuns: runs(1000) },
    );
  });
});
