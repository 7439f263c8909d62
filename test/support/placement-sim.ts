/**
 * Placement never overcommits a host, whatever the interleaving of creations,
 * deletions (releases), host loss and re-appearance, and placement instances
 * with stale views racing to commit (a leader change is just another
 * instance acting on what it last saw).
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
import type { ContainerEvent, PlacementEvent, RecordedEvent } from '../../events/index.js';
import type { HostRecord } from '../../domain/host.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import {
  applyLedgerEvent,
  claimIsOrphaned,
  containerNeedsPlacement,
  initialLedger,
  overcommittedHosts,
  rankHosts,
  requestFromContainer,
  toMilli,
  usageOf,
  type LedgerClaim,
  type MutableLedger,
  type PlacementRequest,
  type Weigher,
} from '../../domain/placement.js';
import { createMemoryEventStore, type MemoryEventStore } from '../../services/platform/memory-eventstore.js';
import { executeContainerCommand, loadContainer } from '../../services/platform/commands.js';
import type { EventStore } from '../../services/platform/eventstore.js';
import { commitBatch, refreshLedger, releaseClaims } from '../../services/placement/ledger.js';
import { failScheduling, markHostLost, scheduleClaim } from '../../services/placement/consumers.js';
import { createClaimResizer } from '../../services/gateway/claims.js';
import { createLogger } from '../../services/platform/log.js';
import { specOf } from './container-gen.js';

const DOMAIN = 'default';

// ---------------------------------------------------------------------------
// Generators

export const arbHost = (i: number) =>
  fc
    .record({
      cpus: fc.constantFrom(1, 2, 4),
      memoryMiB: fc.constantFrom(512, 1024, 2048),
      diskGb: fc.constantFrom(0, 10),
      az: fc.constantFrom('', 'nova', 'az2'),
    })
    .map(({ cpus, memoryMiB, diskGb, az }): HostRecord => ({
      hostname: `h${i}`,
      uuid: `u${i}`,
      capacity: { cpus, memoryMiB, diskGb },
      labels: { rack: i % 2 === 0 ? 'even' : 'odd' },
      availabilityZone: az,
      runtimes: ['runc'],
      version: '1',
      disabled: false,
      disabledReason: null,
      os: 'linux',
      osType: 'linux',
      architecture: 'x86_64',
      kernelVersion: '6',
      startedAt: '2026-01-01T00:00:00.000Z',
    }));

const arbHosts = fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbHost(i))));

const arbSize = fc.record({
  cpu: fc.constantFrom(0.1, 0.5, 1, 1.5, 2),
  memory: fc.constantFrom(128, 256, 512, 1024),
  disk: fc.constantFrom(null, 0, 5),
  availabilityZone: fc.constantFrom(null, null, 'nova', 'az2'),
  hints: fc.constantFrom<Readonly<Record<string, string>>>({}, {}, { 'label:rack': 'even' }),
});

export type Op =
  | { t: 'create'; size: ArbSize }
  | { t: 'delete'; pick: number }
  | { t: 'hostDown'; host: number }
  | { t: 'hostUp'; host: number }
  | { t: 'refresh'; inst: number }
  | { t: 'place'; inst: number; fresh: boolean }
  | { t: 'release'; inst: number }
  | { t: 'lostScan'; inst: number }
  /** A gateway (of two) resizes a container, as PATCH cpu/memory does; the host first reports it created if it is placed. */
  | { t: 'resize'; pick: number; gw: number; cpu: number; memory: number };
export type ArbSize = typeof arbSize extends fc.Arbitrary<infer T> ? T : never;

const arbOp = (instances: number, hosts: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 6, arbitrary: arbSize.map((size) => ({ t: 'create' as const, size })) },
    { weight: 2, arbitrary: fc.nat().map((pick) => ({ t: 'delete' as const, pick })) },
    { weight: 1, arbitrary: fc.nat({ max: hosts - 1 }).map((host) => ({ t: 'hostDown' as const, host })) },
    { weight: 1, arbitrary: fc.nat({ max: hosts - 1 }).map((host) => ({ t: 'hostUp' as const, host })) },
    { weight: 2, arbitrary: fc.nat({ max: instances - 1 }).map((inst) => ({ t: 'refresh' as const, inst })) },
    { weight: 5, arbitrary: fc.record({ inst: fc.nat({ max: instances - 1 }), fresh: fc.boolean() }).map((o) => ({ t: 'place' as const, ...o })) },
    { weight: 1, arbitrary: fc.nat({ max: instances - 1 }).map((inst) => ({ t: 'release' as const, inst })) },
    { weight: 1, arbitrary: fc.nat({ max: instances - 1 }).map((inst) => ({ t: 'lostScan' as const, inst })) },
    {
      weight: 2,
      arbitrary: fc
        .record({ pick: fc.nat(), gw: fc.nat({ max: 1 }), cpu: fc.constantFrom(0.25, 0.5, 1, 2, 4), memory: fc.constantFrom(64, 256, 1024, 4096) })
        .map((o) => ({ t: 'resize' as const, ...o })),
    },
  );

export const arbScenario = fc
  .record({ hosts: arbHosts, instances: fc.integer({ min: 2, max: 3 }), weigher: fc.constantFrom<Weigher>('spread', 'pack') })
  .chain((base) =>
    fc.record({
      hosts: fc.constant(base.hosts),
      instances: fc.constant(base.instances),
      weigher: fc.constant(base.weigher),
      // Rounds: the ops of a round run concurrently, rounds one after another.
      rounds: fc.array(fc.array(arbOp(base.instances, base.hosts.length), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 16 }),
    }),
  );

// ---------------------------------------------------------------------------
// The world: a store, a host registry, placement instances with private views

interface Instance {
  readonly name: string;
  readonly ledger: MutableLedger;
  hosts: HostRecord[];
  containers: Map<string, ContainerState>;
  /** An instance does one thing at a time, as the service's single pump does. */
  lock: Promise<void>;
}

/** One planning decision, kept to justify its failures afterwards. */
interface Round {
  readonly requests: readonly PlacementRequest[];
  readonly hosts: readonly HostRecord[];
  /** Ledger events with seq <= this were the ledger the failures were confirmed against. */
  readonly ledgerSeq: number;
  readonly failed: readonly string[];
  readonly placed: readonly { id: string; host: string }[];
}

/** Every store call takes effect when the scheduler says so. */
function scheduled(s: fc.Scheduler, store: EventStore, after?: () => Promise<void>): EventStore {
  return {
    async append(kind, id, events, expectedSeq, commandId) {
      await s.schedule(Promise.resolve(), `append ${kind}/${id}@${expectedSeq}`);
      const r = await store.append(kind, id, events, expectedSeq, commandId);
      await after?.();
      return r;
    },
    async load(kind, id, afterSeq) {
      await s.schedule(Promise.resolve(), `load ${kind}/${id}`);
      return store.load(kind, id, afterSeq);
    },
    async lastSeq(kind, id) {
      await s.schedule(Promise.resolve(), `lastSeq ${kind}/${id}`);
      return store.lastSeq(kind, id);
    },
  };
}

/** A store whose ledger appends ignore the fence: what a commit that skips it would do. */
function unfencedLedger(store: EventStore): EventStore {
  return {
    ...store,
    append: async (kind, id, events, expectedSeq, commandId) =>
      store.append(kind, id, events, kind === 'placement' ? await store.lastSeq(kind, id) : expectedSeq, commandId),
    load: (k, i, a) => store.load(k, i, a),
    lastSeq: (k, i) => store.lastSeq(k, i),
  };
}

async function allEvents(store: MemoryEventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of store.readAll()) out.push(e);
  return out;
}

function foldContainers(events: readonly RecordedEvent[]): Map<string, ContainerState> {
  const m = new Map<string, ContainerState>();
  for (const e of events) {
    if (e.aggregateKind !== 'container') continue;
    const s = m.get(e.aggregateId) ?? initialContainerState(e.aggregateId);
    m.set(e.aggregateId, evolveContainer(s, e as RecordedEvent<ContainerEvent>));
  }
  return m;
}

function ledgerUpTo(events: readonly RecordedEvent[], seq: number): MutableLedger {
  const l = initialLedger();
  for (const e of events) if (e.aggregateKind === 'placement' && e.seq <= seq) applyLedgerEvent(l, e as RecordedEvent<PlacementEvent>);
  return l;
}

/**
 * The safety invariants, checked incrementally on the store as it grows:
 * `advance()` folds the events appended since the last call and returns the
 * violations they bring.
 */
function safetyChecker(store: MemoryEventStore, hosts: readonly HostRecord[]) {
  const capacity = new Map(hosts.map((h) => [h.hostname, h.capacity]));
  const ledger = initialLedger();
  const committedHost = new Map<string, string>();
  const scheduledCount = new Map<string, number>();
  const containers = new Map<string, ContainerState>();
  let seen = 0;
  return async function advance(): Promise<string[]> {
    const out: string[] = [];
    const touched = new Set<string>();
    for await (const e of store.readAll({ fromSeq: seen + 1 })) {
      seen = e.seq;
      if (e.aggregateKind === 'placement') {
        const pe = e as RecordedEvent<PlacementEvent>;
        if (pe.type === 'PlacementsCommitted') {
          for (const p of pe.data.placements) {
            if (ledger.claims.has(p.id)) out.push(`seq ${e.seq}: ${p.id} claimed twice`);
            committedHost.set(p.id, p.host);
          }
        }
        applyLedgerEvent(ledger, pe);
        for (const h of overcommittedHosts(ledger, capacity)) out.push(`seq ${e.seq}: ledger overcommits ${h}`);
        continue;
      }
      if (e.aggregateKind !== 'container') continue;
      const before = containers.get(e.aggregateId) ?? initialContainerState(e.aggregateId);
      containers.set(e.aggregateId, evolveContainer(before, e as RecordedEvent<ContainerEvent>));
      touched.add(e.aggregateId);
      if (e.type === 'ContainerScheduled') {
        const n = (scheduledCount.get(e.aggregateId) ?? 0) + 1;
        scheduledCount.set(e.aggregateId, n);
        if (n > 1) out.push(`seq ${e.seq}: ${e.aggregateId} scheduled twice`);
        const host = (e.data as { host: string }).host;
        if (committedHost.get(e.aggregateId) !== host) out.push(`seq ${e.seq}: ${e.aggregateId} scheduled on ${host} without a ledger claim there`);
      }
    }
    if (touched.size > 0) {
      const used = new Map<string, { cpu: number; mem: number; disk: number }>();
      for (const c of containers.values()) {
        if (c.host === null || c.status === 'Deleted' || !c.claim) continue;
        const u = used.get(c.host) ?? { cpu: 0, mem: 0, disk: 0 };
        used.set(c.host, { cpu: u.cpu + toMilli(c.claim.cpu), mem: u.mem + c.claim.memoryMiB, disk: u.disk + c.claim.diskGb });
      }
      for (const [h, u] of used) {
        const c = capacity.get(h)!;
        if (u.cpu > toMilli(c.cpus) || u.mem > c.memoryMiB || u.disk > c.diskGb) out.push(`seq ${seen}: live containers overcommit ${h}`);
      }
    }
    return out;
  };
}

interface RunResult {
  readonly violations: string[];
  /** How much racing the run saw, to check the generators exercise it. */
  readonly stats: { conflicts: number; placed: number; failed: number };
  /** Resizes of created containers: applied (with the ledger resized) and refused (no room: 409). */
  readonly resizes: { applied: number; refused: number };
}

export async function runScenario(
  sc: { hosts: HostRecord[]; instances: number; weigher: Weigher; rounds: Op[][] },
  s: fc.Scheduler,
  opts: { skipFence?: boolean; resizeWithoutLedger?: boolean; resizeUnfenced?: boolean } = {},
): Promise<RunResult> {
  const mem = createMemoryEventStore();
  const violations: string[] = [];
  const advance = safetyChecker(mem, sc.hosts);
  let checking = Promise.resolve();
  const check = () => (checking = checking.then(async () => void violations.push(...(await advance()))));
  const base: EventStore = opts.skipFence ? unfencedLedger(mem) : mem;
  const store = scheduled(s, base, check);
  let n = 0;
  const newId = () => `id-${++n}`;
  const now = () => new Date(Date.UTC(2026, 0, 1));
  const ledgerDeps = { store, domain: DOMAIN, newId, now };
  const cmdDeps = { store, newId, now, domain: DOMAIN, maxRetries: 50 };
  const user = { projectId: 'p1', userId: 'u1' };

  const alive = new Set(sc.hosts.map((h) => h.hostname));
  const liveHosts = () => sc.hosts.filter((h) => alive.has(h.hostname));
  const instances: Instance[] = Array.from({ length: sc.instances }, (_, i) => ({
    name: `i${i}`,
    ledger: initialLedger(),
    hosts: liveHosts(),
    containers: new Map(),
    lock: Promise.resolve(),
  }));
  const serial = (inst: Instance, f: () => Promise<void>): Promise<void> => {
    const next = inst.lock.then(f);
    inst.lock = next.catch(() => {});
    return next;
  };
  const resizes = { applied: 0, refused: 0 };
  const capacityByHost = new Map(sc.hosts.map((h) => [h.hostname, h.capacity]));
  const silent = createLogger('sim', 'silent');
  const gateways = [0, 1].map(() =>
    createClaimResizer({ store, newId, now, log: silent, domain: DOMAIN, capacityOf: async (h) => capacityByHost.get(h) ?? null, load: (id) => loadContainer(store, id) }),
  );
  const created: string[] = [];
  const rounds: Round[] = [];
  const stats = { conflicts: 0, placed: 0, failed: 0 };

  async function refresh(inst: Instance): Promise<void> {
    await s.schedule(Promise.resolve(), `refresh ${inst.name}`);
    inst.containers = foldContainers(await allEvents(mem));
    inst.hosts = liveHosts();
    await refreshLedger(mem, DOMAIN, inst.ledger);
  }

  /** One placement pass, as the leader runs it: plan, commit fenced, schedule, fail, release orphans. */
  async function place(inst: Instance): Promise<void> {
    const pending = [...inst.containers.values()].filter(containerNeedsPlacement);
    const claimed: LedgerClaim[] = [];
    const requests: PlacementRequest[] = [];
    for (const c of pending) {
      const claim = inst.ledger.claims.get(c.uuid);
      if (claim) claimed.push(claim);
      else requests.push(requestFromContainer(c));
    }
    const hosts = inst.hosts;
    const reqId = `req-${newId()}`;
    const out = await commitBatch(ledgerDeps, inst.ledger, requests, hosts, sc.weigher, reqId);
    stats.conflicts += out.conflicts;
    stats.placed += out.placements.length;
    stats.failed += out.failures.length;
    rounds.push({
      requests,
      hosts,
      ledgerSeq: out.commitSeq > 0 ? out.commitSeq - 1 : inst.ledger.seq,
      failed: out.failures.map((f) => f.request.id),
      placed: out.placements.map((p) => ({ id: p.id, host: p.host })),
    });
    for (const r of out.alreadyClaimed) claimed.push(inst.ledger.claims.get(r.id)!);
    for (const p of out.placements) claimed.push(inst.ledger.claims.get(p.id)!);
    const orphans: string[] = [];
    await Promise.all([
      ...claimed.map(async (claim) => {
        const r = await scheduleClaim(cmdDeps, inst.containers.get(claim.id), claim, reqId);
        inst.containers.set(claim.id, r.state as ContainerState);
        if (r.result === 'orphaned') orphans.push(claim.id);
      }),
      ...out.failures.map(async (f) => {
        const st = await failScheduling(cmdDeps, inst.containers.get(f.request.id), 'container', f.request.id, reqId);
        inst.containers.set(f.request.id, st as ContainerState);
      }),
    ]);
    if (orphans.length > 0) await releaseClaims(ledgerDeps, inst.ledger, orphans, reqId);
  }

  /** Releases the claims whose consumers this instance knows are gone (unknown ones are left alone). */
  async function release(inst: Instance): Promise<void> {
    const ids = [...inst.ledger.claims.values()].filter((c) => claimIsOrphaned(c, inst.containers.get(c.id))).map((c) => c.id);
    if (ids.length > 0) await releaseClaims(ledgerDeps, inst.ledger, ids, `req-${newId()}`);
  }

  async function lostScan(inst: Instance): Promise<void> {
    const up = new Set(inst.hosts.map((h) => h.hostname));
    await Promise.all(
      [...inst.containers.values()]
        .filter((c) => c.host !== null && !up.has(c.host) && c.status !== 'Unknown' && c.status !== 'Deleted')
        .map(async (c) => {
          const st = await markHostLost(cmdDeps, c, 'container', c.uuid, c.host!, `req-${newId()}`);
          inst.containers.set(c.uuid, st as ContainerState);
        }),
    );
  }

  async function run(op: Op): Promise<void> {
    switch (op.t) {
      case 'create': {
        const id = `c${created.length}`;
        created.push(id);
        const sz = op.size;
        await executeContainerCommand(
          { store, newId, now },
          id,
          { type: 'CreateContainer', spec: specOf({ name: id, cpu: sz.cpu, memory: sz.memory, disk: sz.disk, availabilityZone: sz.availabilityZone, hints: sz.hints }), run: true },
          { ...user, requestId: `req-${newId()}` },
        );
        return;
      }
      case 'delete': {
        if (created.length === 0) return;
        const id = created[op.pick % created.length]!;
        const ctx = { ...user, requestId: `req-${newId()}` };
        const r = await executeContainerCommand({ store, newId, now }, id, { type: 'DeleteContainer', stop: false, force: true }, ctx);
        // The host actor removes it and observes the deletion.
        if (r.state.status === 'Deleting') {
          await executeContainerCommand({ store, newId, now }, id, { type: 'RecordObservation', observation: { type: 'ContainerDeleted', data: {} } }, { ...ctx, requestId: `req-${newId()}` });
        }
        return;
      }
      case 'hostDown':
        alive.delete(sc.hosts[op.host]!.hostname);
        return;
      case 'hostUp':
        alive.add(sc.hosts[op.host]!.hostname);
        return;
      case 'refresh':
        return serial(instances[op.inst]!, () => refresh(instances[op.inst]!));
      case 'place': {
        const inst = instances[op.inst]!;
        // A leader tails the stream, so it usually knows the pending containers;
        // its ledger and hosts stay as stale as they were.
        return serial(inst, async () => {
          if (op.fresh) {
            await s.schedule(Promise.resolve(), `tail ${inst.name}`);
            inst.containers = foldContainers(await allEvents(mem));
          }
          await place(inst);
        });
      }
      case 'release':
        return serial(instances[op.inst]!, () => release(instances[op.inst]!));
      case 'lostScan':
        return serial(instances[op.inst]!, () => lostScan(instances[op.inst]!));
      case 'resize': {
        if (created.length === 0) return;
        const id = created[op.pick % created.length]!;
        const ctx = { ...user, requestId: `req-${newId()}` };
        const st = (await executeContainerCommand({ store, newId, now }, id, { type: 'RecordObservation', observation: { type: 'ContainerCreated', data: { dockerId: `d-${id}` } } }, ctx)).state;
        if (st.status !== 'Created') return;
        const patch = { cpu: op.cpu, memory: op.memory };
        const requestId = `req-${newId()}`;
        // As the gateway does: fenced on the state the claim was resized for.
        const update = async (from: typeof st) => {
          const r = await executeContainerCommand({ store, newId, now }, id, { type: 'UpdateContainer', patch }, { ...ctx, requestId }, opts.resizeUnfenced ? {} : { from, fenced: true });
          return r.state;
        };
        if (opts.resizeWithoutLedger) await executeContainerCommand({ store, newId, now }, id, { type: 'UpdateContainer', patch }, { ...ctx, requestId });
        else
          await gateways[op.gw]!.around(st, patch, ctx.requestId, update).then(
            () => void resizes.applied++,
            (e: unknown) => {
              if ((e as { status?: number }).status !== 409) throw e;
              resizes.refused++;
            },
          );
        return;
      }
    }
  }

  for (const round of sc.rounds) {
    await s.waitFor(Promise.all(round.map((op) => run(op))));
    await check();
    await checking;
  }

  // Settle: every host back, one leader with a fresh view works until quiet.
  for (const h of sc.hosts) alive.add(h.hostname);
  const leader = instances[0]!;
  for (let i = 0; i < 4; i++) {
    const t = (async () => {
      await refresh(leader);
      await release(leader);
      await place(leader);
      await refresh(leader);
      await release(leader);
    })();
    await s.waitFor(t);
  }
  await check();
  await checking;

  // Liveness: nothing pending, the ledger holds exactly the live placements.
  const events = await allEvents(mem);
  const containers = foldContainers(events);
  const ledger = ledgerUpTo(events, Number.MAX_SAFE_INTEGER);
  for (const c of containers.values()) {
    if (containerNeedsPlacement(c)) violations.push(`${c.uuid} still pending after settling`);
    const claim = ledger.claims.get(c.uuid);
    const placed = c.host !== null && c.status !== 'Deleted';
    if (placed && claim?.host !== c.host) violations.push(`${c.uuid} runs on ${c.host} without its claim`);
    if (!placed && claim) violations.push(`${c.uuid} (${c.status}) still holds a claim on ${claim.host}`);
  }
  // Every failure is justified by the reference planner on the confirmed ledger.
  for (const r of rounds) {
    if (r.failed.length === 0) continue;
    const l = ledgerUpTo(events, r.ledgerSeq);
    const extra = new Map<string, { cpuMilli: number; memoryMiB: number; diskGb: number; count: number }>();
    const usage = (h: string) => extra.get(h) ?? usageOf(l, h);
    const failed = new Set(r.failed);
    for (const q of r.requests) {
      if (l.claims.has(q.id)) continue;
      const best = rankHosts(r.hosts, q, usage, sc.weigher)[0];
      if (failed.has(q.id)) {
        if (best) violations.push(`${q.id} failed although ${best.hostname} had room`);
        continue;
      }
      if (!best) continue; // placed by the planner but not by the reference: caught below
      const u = usage(best.hostname);
      extra.set(best.hostname, {
        cpuMilli: u.cpuMilli + toMilli(q.cpu),
        memoryMiB: u.memoryMiB + q.memoryMiB,
        diskGb: u.diskGb + q.diskGb,
        count: u.count + 1,
      });
      const p = r.placed.find((x) => x.id === q.id);
      if (p && p.host !== best.hostname) violations.push(`${q.id} placed on ${p.host}, the reference picks ${best.hostname}`);
    }
  }
  return { violations, stats, resizes };
}

