/**
 * Placement never overcommits a host, whatever the interleaving of creations,
 * deletions (releases), host loss and re-appearance, resizes through two
 * gateways (services/gateway/claims.ts), and placement instances with stale
 * views racing to commit (a leader change is just another instance acting on
 * what it last saw).
 *
 * The instances run the service's own code (services/placement/ledger.ts and
 * consumers.ts) against the in-memory event store; fast-check's scheduler
 * decides the order in which every store call takes effect.
 *
 * Checked after every append and every round:
 *  - the ledger's live claims on a host fit its capacity, and no commit ever
 *    claims a consumer that already holds a claim;
 *  - the containers placed on a host and not deleted fit its capacity (the
 *    real resource use, which a release of a live claim would break);
 *  - a container is scheduled at most once, and only on a host the ledger
 *    committed for it.
 * At the end, after a settling leader has run: nothing is left pending, the
 * ledger holds exactly the claims of live placed containers, and every
 * SchedulingFailed is justified: the reference planner, run on the ledger the
 * failure was confirmed against and the hosts the instance saw, finds no host.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../../domain/host.js';
import { arbHost, arbScenario, runScenario, type ArbSize, type Op } from '../support/placement-sim.js';
import { runs } from '../support/runs.js';

describe('placement never overcommits a host', () => {
  it('under random interleavings of creations, deletions, host loss and racing instances', async () => {
    const total = { conflicts: 0, placed: 0, failed: 0, resized: 0, resizeRefused: 0 };
    await fc.assert(
      fc.asyncProperty(arbScenario, fc.scheduler(), async (sc, s) => {
        const { violations, stats, resizes } = await runScenario(sc, s);
        total.conflicts += stats.conflicts;
        total.placed += stats.placed;
        total.failed += stats.failed;
        total.resized += resizes.applied;
        total.resizeRefused += resizes.refused;
        expect(violations).toEqual([]);
      }),
      { numRuns: process.env.RUNS ? Number(process.env.RUNS) : runs(500) },
    );
    // The generators do make instances race: stale commits met the fence.
    expect(total.conflicts).toBeGreaterThan(0);
    expect(total.placed).toBeGreaterThan(0);
    expect(total.failed).toBeGreaterThan(0);
    expect(total.resized).toBeGreaterThan(0);
    expect(total.resizeRefused).toBeGreaterThan(0);
  });

  it('the property can fail: commits that skip the fence overcommit hosts', async () => {
    const r = await fc.check(
      fc.asyncProperty(arbScenario, fc.scheduler(), async (sc, s) => {
        const { violations } = await runScenario(sc, s, { skipFence: true });
        return violations.length === 0;
      }),
      { numRuns: 300, seed: 42 },
    );
    expect(r.failed).toBe(true);
  });

  it('the property can fail: resizes that skip the ledger overcommit hosts', async () => {
    const r = await fc.check(
      fc.asyncProperty(arbScenario, fc.scheduler(), async (sc, s) => {
        const { violations } = await runScenario(sc, s, { resizeWithoutLedger: true });
        return violations.length === 0;
      }),
      { numRuns: 500, seed: 42 },
    );
    expect(r.failed).toBe(true);
  });

  it('a fixed history: a grow and a shrink of one container racing each other and a placement never overcommit, in any interleaving', async () => {
    const host: HostRecord = fc.sample(arbHost(0), { numRuns: 1, seed: 1 })[0]!;
    const h: HostRecord = { ...host, capacity: { cpus: 4, memoryMiB: 896, diskGb: 0 }, availabilityZone: '' };
    const size = (memory: ArbSize['memory']): ArbSize => ({ cpu: 0.1, memory, disk: null, availabilityZone: null, hints: {} });
    const rounds: Op[][] = [
      [{ t: 'create', size: size(256) }, { t: 'create', size: size(512) }],
      [{ t: 'place', inst: 0, fresh: true }],
      // 128 MiB left: the next one does not fit unless the first container shrinks.
      [{ t: 'create', size: size(256) }],
      // The first container grows to 384 (gateway 0) and shrinks to 64 (gateway 1) while placement works.
      [{ t: 'resize', pick: 0, gw: 0, cpu: 0.1, memory: 384 }, { t: 'resize', pick: 0, gw: 1, cpu: 0.1, memory: 64 }, { t: 'place', inst: 0, fresh: true }],
    ];
    const sc = { hosts: [h], instances: 1, weigher: 'pack' as const, rounds };
    const seeds = Array.from({ length: 200 }, (_, i) => i + 1);
    const violated = async (opts: { resizeUnfenced?: boolean }) => {
      let n = 0;
      for (const seed of seeds) {
        const r = await runScenario(sc, fc.sample(fc.scheduler(), { numRuns: 1, seed })[0]!, opts);
        if (r.violations.length > 0) n++;
      }
      return n;
    };
    expect(await violated({})).toBe(0);
    // The container's update not fenced on the state its claim was reserved for: some interleavings overcommit.
    expect(await violated({ resizeUnfenced: true })).toBeGreaterThan(0);
  });

  it('a fixed history: a deposed leader with a stale ledger is stopped by the fence, and only by it', async () => {
    const host: HostRecord = fc.sample(arbHost(0), { numRuns: 1, seed: 1 })[0]!;
    const h: HostRecord = { ...host, capacity: { cpus: 1, memoryMiB: 1024, diskGb: 0 }, availabilityZone: '' };
    const big: ArbSize = { cpu: 1, memory: 512, disk: null, availabilityZone: null, hints: {} };
    const rounds: Op[][] = [
      [{ t: 'create', size: big }],
      // Both instances see the empty ledger.
      [{ t: 'refresh', inst: 0 }, { t: 'refresh', inst: 1 }],
      // i0 places c0 on h0, filling it.
      [{ t: 'place', inst: 0, fresh: false }],
      [{ t: 'create', size: big }],
      // i1 tails the stream (sees c1 pending) but still believes h0 is empty.
      [{ t: 'place', inst: 1, fresh: true }],
    ];
    const sc = { hosts: [h], instances: 2, weigher: 'spread' as const, rounds };
    const scheduler = () => fc.sample(fc.scheduler(), { numRuns: 1, seed: 7 })[0]!;

    // With the fence: i1's commit fails, it reloads, finds h0 full, and fails c1.
    const fenced = await runScenario(sc, scheduler());
    expect(fenced.violations).toEqual([]);
    expect(fenced.stats).toEqual({ conflicts: 1, placed: 1, failed: 1 });

    // Without it: i1 commits c1 on h0 from its stale ledger.
    const unfenced = await runScenario(sc, scheduler(), { skipFence: true });
    expect(unfenced.violations.some((v) => v.includes('ledger overcommits h0'))).toBe(true);
    expect(unfenced.violations.some((v) => v.includes('live containers overcommit h0'))).toBe(true);
  });
});
