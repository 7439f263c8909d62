/**
 * Placement, the pure part: the claims ledger fold, Zun's filters, a weigher,
 * the batch planner and the plan applier's re-check.
 *
 * Pure: no I/O, no clock, no randomness. The service (services/placement)
 * feeds it hosts from the etcd registry and events from the stream.
 *
 * Safety rests on the ledger, not on the planner: `planBatch` may work from a
 * stale view; `decideCommit` re-checks every placement against the ledger it
 * is given, and the service appends its event fenced on that ledger's last
 * sequence (events/placement.ts). A stale ledger means a failed fence, a
 * reload and a new decision, never an overcommitted host.
 *
 * Units: CPU is accounted in milli-vCPUs (integers), so sums of fractional
 * requests (0.1 + 0.2) compare exactly against a host's capacity.
 */
import type {
  Claim,
  ClaimResized,
  ClaimsReleased,
  ContainerStatus,
  Placement,
  PlacementEvent,
  PlacementsCommitted,
} from '../events/index.js';
import type { ContainerState } from './container.js';
import type { CapsuleState } from './capsule.js';
import { DEFAULT_AVAILABILITY_ZONE, type HostCapacity, type HostRecord } from './host.js';

/** Zun's NoValidHost message, the reason of a SchedulingFailed event. */
export const NO_VALID_HOST = 'There are not enough hosts available.';
/** The ledger aggregate id when placement is not sharded. */
export const DEFAULT_PLACEMENT_DOMAIN = 'default';

export type ConsumerKind = Placement['kind'];

// ---------------------------------------------------------------------------
// The ledger

export interface LedgerClaim {
  readonly kind: ConsumerKind;
  readonly id: string;
  readonly host: string;
  readonly claim: Claim;
  /** Ledger sequence of the commit that made the claim (feeds idempotent command ids). */
  readonly seq: number;
  /** The consumer's log sequence its last resize was decided on (ClaimResized `basis`); 0 before any. */
  readonly basis?: number;
}

/** What the live claims on one host add up to. */
export interface HostUsage {
  /** Milli-vCPUs. */
  readonly cpuMilli: number;
  readonly memoryMiB: number;
  readonly diskGb: number;
  /** Number of live claims. */
  readonly count: number;
}

export interface LedgerState {
  /** Stream sequence of the last ledger event folded; 0 for a new ledger (the fence). */
  readonly seq: number;
  /** Live claims by consumer id (container or capsule uuid). */
  readonly claims: ReadonlyMap<string, LedgerClaim>;
  /** Sum of live claims per host; hosts without claims are absent. */
  readonly usage: ReadonlyMap<string, HostUsage>;
}

/** A ledger its single owner may update in place (see applyLedgerEvent). */
export interface MutableLedger extends LedgerState {
  seq: number;
  readonly claims: Map<string, LedgerClaim>;
  readonly usage: Map<string, HostUsage>;
}

export const ZERO_USAGE: HostUsage = { cpuMilli: 0, memoryMiB: 0, diskGb: 0, count: 0 };

export function initialLedger(): MutableLedger {
  return { seq: 0, claims: new Map(), usage: new Map() };
}

/** vCPUs to milli-vCPUs; the ledger's only rounding. */
export const toMilli = (cpu: number): number => Math.round(cpu * 1000);

export type LedgerEventInput = PlacementEvent & { readonly seq?: number };

function addUsage(u: HostUsage | undefined, c: Claim, sign: 1 | -1): HostUsage {
  const b = u ?? ZERO_USAGE;
  return {
    cpuMilli: b.cpuMilli + sign * toMilli(c.cpu),
    memoryMiB: b.memoryMiB + sign * c.memoryMiB,
    diskGb: b.diskGb + sign * c.diskGb,
    count: b.count + sign,
  };
}

/**
 * Folds one ledger event into `ledger`, mutating it. For the owner of a
 * private ledger (the service, a fold); everyone else uses evolveLedger.
 * Committing an already claimed consumer, or releasing an unclaimed one, is a
 * no-op: decideCommit never produces the first, and releases may race.
 * Events at or below the ledger's sequence are skipped (already folded).
 */
export function applyLedgerEvent(ledger: MutableLedger, e: LedgerEventInput): MutableLedger {
  if (e.seq !== undefined && e.seq <= ledger.seq) return ledger;
  const seq = e.seq ?? ledger.seq;
  switch (e.type) {
    case 'PlacementsCommitted':
      for (const p of e.data.placements) {
        if (ledger.claims.has(p.id)) continue;
        ledger.claims.set(p.id, { kind: p.kind, id: p.id, host: p.host, claim: p.claim, seq });
        ledger.usage.set(p.host, addUsage(ledger.usage.get(p.host), p.claim, 1));
      }
      break;
    case 'ClaimsReleased':
      for (const id of e.data.ids) {
        const c = ledger.claims.get(id);
        if (!c) continue;
        ledger.claims.delete(id);
        const u = addUsage(ledger.usage.get(c.host), c.claim, -1);
        if (u.count === 0) ledger.usage.delete(c.host);
        else ledger.usage.set(c.host, u);
      }
      break;
    case 'ClaimResized': {
      const c = ledger.claims.get(e.data.id);
      if (!c) break;
      // Decided on the latest ledger (appends are fenced), so these hold; kept so the fold alone is safe.
      const held = c.basis ?? 0;
      if (e.data.basis !== undefined && (e.data.reserve ? e.data.basis < held : e.data.basis <= held)) break;
      ledger.claims.set(c.id, { ...c, claim: e.data.claim, ...(e.data.basis !== undefined ? { basis: e.data.basis } : {}) });
      ledger.usage.set(c.host, addUsage(addUsage(ledger.usage.get(c.host), c.claim, -1), e.data.claim, 1));
      break;
    }
  }
  ledger.seq = seq;
  return ledger;
}

export function cloneLedger(l: LedgerState): MutableLedger {
  return { seq: l.seq, claims: new Map(l.claims), usage: new Map(l.usage) };
}

/** The pure fold of one event: a new state, the input untouched. */
export function evolveLedger(state: LedgerState, e: LedgerEventInput): LedgerState {
  return applyLedgerEvent(cloneLedger(state), e);
}

/** Folds many events with one copy. */
export function foldLedger(events: Iterable<LedgerEventInput>, from: LedgerState = initialLedger()): MutableLedger {
  const l = cloneLedger(from);
  for (const e of events) applyLedgerEvent(l, e);
  return l;
}

export function usageOf(ledger: LedgerState, host: string): HostUsage {
  return ledger.usage.get(host) ?? ZERO_USAGE;
}

// ---------------------------------------------------------------------------
// Requests

export interface PlacementRequest {
  readonly kind: ConsumerKind;
  readonly id: string;
  /** vCPUs as requested (fractional). Zun asks Placement for max(1, ceil(cpu)); we claim what was asked. */
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly diskGb: number;
  readonly availabilityZone: string | null;
  /** Scheduler hints; `label:<k>` = v are honoured by the label filter. */
  readonly hints: Readonly<Record<string, string>>;
  readonly runtime: string | null;
  /** 1.39 `host` on create (admin): only that host is considered. */
  readonly requestedHost: string | null;
  /** Where the consumer's host-local volumes live: only that host is considered. */
  readonly volumeHost?: string | null;
}

/**
 * The request for a container. Zun's claim is VCPU = max(1, ceil(cpu)),
 * MEMORY_MB = memory, DISK_GB = disk; here VCPU is the requested float (so
 * ten 0.1-CPU containers fit on one CPU) while memory and disk are Zun's.
 */
export function requestFromContainer(s: ContainerState): PlacementRequest {
  const spec = s.spec;
  if (!spec) throw new TypeError(`container ${s.uuid} has no spec: it was never created`);
  return {
    kind: 'container',
    id: s.uuid,
    cpu: spec.cpu,
    memoryMiB: spec.memory,
    diskGb: spec.disk ?? 0,
    availabilityZone: spec.availabilityZone,
    hints: spec.hints,
    runtime: spec.runtime,
    requestedHost: spec.requestedHost,
    volumeHost: spec.volumeHost ?? null,
  };
}

/** The request for a capsule: its summed CPU and memory, no disk, no hints. */
export function requestFromCapsule(s: CapsuleState): PlacementRequest {
  const spec = s.spec;
  if (!spec) throw new TypeError(`capsule ${s.uuid} has no spec: it was never created`);
  return {
    kind: 'capsule',
    id: s.uuid,
    cpu: spec.cpu,
    memoryMiB: spec.memory,
    diskGb: 0,
    availabilityZone: spec.availabilityZone,
    hints: {},
    runtime: null,
    requestedHost: null,
    volumeHost: spec.volumeHost ?? null,
  };
}

export const claimOf = (r: PlacementRequest): Claim => ({ cpu: r.cpu, memoryMiB: r.memoryMiB, diskGb: r.diskGb });

/** A container waits for placement: asked for, not placed, not failed, not being deleted. */
export function containerNeedsPlacement(s: ContainerState): boolean {
  return s.status === 'Creating' && s.spec !== null && s.host === null && s.desired.power !== 'deleted';
}

export function capsuleNeedsPlacement(s: CapsuleState): boolean {
  return s.status === 'Creating' && s.spec !== null && s.host === null && !s.deleteRequested;
}

/**
 * Whether a ledger claim is still owned by its consumer. A claim is orphaned
 * when the consumer is deleted, or ended up without a host (its scheduling
 * failed under another leader), or on a different host than the claim says.
 * `status` null means the consumer is unknown (never created): orphaned too.
 */
export function claimIsLive(
  claim: LedgerClaim,
  consumer: { readonly status: ContainerStatus | null; readonly host: string | null; readonly pending: boolean },
): boolean {
  if (consumer.status === null || consumer.status === 'Deleted') return false;
  if (consumer.host === null) return consumer.pending;
  return consumer.host === claim.host;
}

/**
 * Whether a claim can be released on the strength of `consumer`, a possibly
 * stale view of its container or capsule. Only a known consumer in a state
 * it never leaves (deleted, failed, placed elsewhere) orphans a claim; an
 * unknown one (not yet seen by this view) keeps it.
 */
export function claimIsOrphaned(claim: LedgerClaim, consumer: ContainerState | CapsuleState | undefined): boolean {
  if (!consumer || consumer.status === null) return false;
  const pending = 'desired' in consumer ? containerNeedsPlacement(consumer) : capsuleNeedsPlacement(consumer);
  return !claimIsLive(claim, { status: consumer.status, host: consumer.host, pending });
}

// ---------------------------------------------------------------------------
// Filters (Zun's order)

export interface HostFilter {
  /** Zun's filter class name. */
  readonly name: string;
  /** Static filters ignore usage: their verdict holds for a whole batch. */
  readonly static: boolean;
  passes(host: HostRecord, req: PlacementRequest, usage: HostUsage): boolean;
}

const LABEL_HINT = 'label:';

export const hostAvailabilityZone = (h: HostRecord): string =>
  h.availabilityZone === '' ? DEFAULT_AVAILABILITY_ZONE : h.availabilityZone;

/** The requested zone must equal the host's (an empty host zone is `nova`). No zone requested: any. */
export const AvailabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  static: true,
  passes: (h, r) => r.availabilityZone === null || r.availabilityZone === '' || r.availabilityZone === hostAvailabilityZone(h),
};

/**
 * The host is up and enabled. Liveness is the registry lease: the caller
 * passes only hosts whose key exists, so this checks the operator switch.
 */
export const ComputeFilter: HostFilter = {
  name: 'ComputeFilter',
  static: true,
  passes: (h) => !h.disabled,
};

export const RuntimeFilter: HostFilter = {
  name: 'RuntimeFilter',
  static: true,
  passes: (h, r) => r.runtime === null || r.runtime === '' || h.runtimes.includes(r.runtime),
};

/** Every hint `label:<k>` = v must equal the host's label k. */
export const LabelFilter: HostFilter = {
  name: 'LabelFilter',
  static: true,
  passes: (h, r) => {
    for (const [k, v] of Object.entries(r.hints)) {
      if (k.startsWith(LABEL_HINT) && h.labels[k.slice(LABEL_HINT.length)] !== v) return false;
    }
    return true;
  },
};

export const RequestedHostFilter: HostFilter = {
  name: 'RequestedHostFilter',
  static: true,
  passes: (h, r) => r.requestedHost === null || r.requestedHost === '' || h.hostname === r.requestedHost,
};

/** A container mounting local-block volumes can only run where their data is. */
export const VolumeHostFilter: HostFilter = {
  name: 'VolumeHostFilter',
  static: true,
  passes: (h, r) => !r.volumeHost || h.hostname === r.volumeHost,
};

export const CPUFilter: HostFilter = {
  name: 'CPUFilter',
  static: false,
  passes: (h, r, u) => u.cpuMilli + toMilli(r.cpu) <= toMilli(h.capacity.cpus),
};

export const RamFilter: HostFilter = {
  name: 'RamFilter',
  static: false,
  passes: (h, r, u) => u.memoryMiB + r.memoryMiB <= h.capacity.memoryMiB,
};

export const DiskFilter: HostFilter = {
  name: 'DiskFilter',
  static: false,
  passes: (h, r, u) => u.diskGb + r.diskGb <= h.capacity.diskGb,
};

/** Zun's default order (AZ, Compute, Runtime), then labels, requested host, volume host and capacity. */
export const DEFAULT_FILTERS: readonly HostFilter[] = [
  AvailabilityZoneFilter,
  ComputeFilter,
  RuntimeFilter,
  LabelFilter,
  RequestedHostFilter,
  VolumeHostFilter,
  CPUFilter,
  RamFilter,
  DiskFilter,
];

/** Whether `claim` still fits on a host of `capacity` that already carries `usage`. */
export function fits(capacity: HostCapacity, usage: HostUsage, claim: Claim): boolean {
  return (
    usage.cpuMilli + toMilli(claim.cpu) <= toMilli(capacity.cpus) &&
    usage.memoryMiB + claim.memoryMiB <= capacity.memoryMiB &&
    usage.diskGb + claim.diskGb <= capacity.diskGb
  );
}

/** The hosts passing every filter, in input order. The reference the planner must agree with. */
export function filterHosts(
  hosts: readonly HostRecord[],
  req: PlacementRequest,
  usage: (host: string) => HostUsage,
  filters: readonly HostFilter[] = DEFAULT_FILTERS,
): HostRecord[] {
  return hosts.filter((h) => {
    const u = usage(h.hostname);
    return filters.every((f) => f.passes(h, req, u));
  });
}

// ---------------------------------------------------------------------------
// Weighers

export const Weigher = { spread: 'spread', pack: 'pack' } as const;
export type Weigher = (typeof Weigher)[keyof typeof Weigher];

export function isWeigher(v: string): v is Weigher {
  return v === Weigher.spread || v === Weigher.pack;
}

/**
 * How full a host is, 0..1: the mean of its CPU and memory fractions (disk is
 * checked by DiskFilter but does not weigh; hosts often report none).
 */
export function usedFraction(capacity: HostCapacity, u: HostUsage): number {
  const cpu = capacity.cpus > 0 ? u.cpuMilli / toMilli(capacity.cpus) : 1;
  const mem = capacity.memoryMiB > 0 ? u.memoryMiB / capacity.memoryMiB : 1;
  return (cpu + mem) / 2;
}

/**
 * Orders two candidates: negative when `a` is preferred. spread prefers the
 * least used host, pack the most used; ties go to the smaller hostname.
 */
export function compareHosts(weigher: Weigher, a: { score: number; hostname: string }, b: { score: number; hostname: string }): number {
  if (a.score !== b.score) return weigher === 'spread' ? a.score - b.score : b.score - a.score;
  return a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0;
}

/** The hosts that pass the filters, best first. The planner's reference (O(hosts log hosts)). */
export function rankHosts(
  hosts: readonly HostRecord[],
  req: PlacementRequest,
  usage: (host: string) => HostUsage,
  weigher: Weigher,
  filters: readonly HostFilter[] = DEFAULT_FILTERS,
): HostRecord[] {
  return filterHosts(hosts, req, usage, filters)
    .map((h) => ({ h, hostname: h.hostname, score: usedFraction(h.capacity, usage(h.hostname)) }))
    .sort((a, b) => compareHosts(weigher, a, b))
    .map((x) => x.h);
}

// ---------------------------------------------------------------------------
// The planner

export interface PlanFailure {
  readonly request: PlacementRequest;
  readonly reason: typeof NO_VALID_HOST;
}

export interface PlanResult {
  readonly placements: readonly Placement[];
  readonly failures: readonly PlanFailure[];
  /** Requests left alone: their consumer already holds a claim, or appears twice in the batch. */
  readonly skipped: readonly PlacementRequest[];
}

interface HostEntry {
  readonly host: HostRecord;
  usage: HostUsage;
  score: number;
  /** Bumped on every claim; heap items of older versions are stale. */
  version: number;
  /** Heaps that may still hold this host (its new score is pushed into each). */
  readonly heaps: Set<BinaryHeap<HeapItem>>;
}

interface HeapItem {
  readonly entry: HostEntry;
  readonly score: number;
  readonly version: number;
}

/** The hosts passing one set of static constraints, and a heap per claim size asked of them. */
interface Group {
  readonly candidates: HostEntry[];
  readonly bySize: Map<string, BinaryHeap<HeapItem>>;
  /** Sizes that found no host in this group this batch: anything at least as big fails too. */
  readonly failed: Claim[];
}

class BinaryHeap<T> {
  private readonly a: T[];
  constructor(
    private readonly less: (x: T, y: T) => boolean,
    items: T[] = [],
  ) {
    this.a = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }
  get size(): number {
    return this.a.length;
  }
  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }
  private down(i: number): void {
    const a = this.a;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

function signature(r: PlacementRequest): string {
  const labels = Object.keys(r.hints)
    .filter((k) => k.startsWith(LABEL_HINT))
    .sort()
    .map((k) => [k, r.hints[k]]);
  return JSON.stringify([r.availabilityZone || null, r.runtime || null, r.requestedHost || null, r.volumeHost || null, labels]);
}

const sizeKey = (c: Claim) => `${toMilli(c.cpu)}/${c.memoryMiB}/${c.diskGb}`;
const atLeast = (a: Claim, b: Claim) => toMilli(a.cpu) >= toMilli(b.cpu) && a.memoryMiB >= b.memoryMiB && a.diskGb >= b.diskGb;

/**
 * Places a batch of requests, in order, on `hosts` (the live ones), given the
 * ledger's usage. Each placement counts against the hosts for the requests
 * after it. The result is what the reference would give (filterHosts, then
 * the best by the weigher, request by request); a property test holds them
 * equal. `filters` must be DEFAULT_FILTERS or a subset of its static filters
 * followed by the capacity ones: capacity is always checked.
 *
 * Cost: the static filters run once per host and distinct constraint set.
 * Each (constraint set, claim size) pair gets a heap of the hosts ordered by
 * the weigher. Within a batch usage only grows, so a host that cannot take a
 * size now never will: it leaves that size's heap for good. A request thus
 * costs O(log hosts) plus the hosts it retires, whatever the weigher.
 */
export function planBatch(
  requests: readonly PlacementRequest[],
  hosts: readonly HostRecord[],
  ledger: LedgerState,
  weigher: Weigher,
  filters: readonly HostFilter[] = DEFAULT_FILTERS,
): PlanResult {
  const staticFilters = filters.filter((f) => f.static);
  const entries = new Map<string, HostEntry>();
  for (const h of hosts) {
    if (entries.has(h.hostname)) continue;
    const usage = usageOf(ledger, h.hostname);
    entries.set(h.hostname, { host: h, usage, score: usedFraction(h.capacity, usage), version: 0, heaps: new Set() });
  }
  // compareHosts, inlined: this runs millions of times per batch.
  const spread = weigher === 'spread';
  const less = (x: HeapItem, y: HeapItem) => {
    if (x.score !== y.score) return spread ? x.score < y.score : x.score > y.score;
    return x.entry.host.hostname < y.entry.host.hostname;
  };
  const groups = new Map<string, Group>();
  const groupFor = (r: PlacementRequest): Group => {
    const key = signature(r);
    let g = groups.get(key);
    if (g) return g;
    const candidates: HostEntry[] = [];
    for (const e of entries.values()) if (staticFilters.every((f) => f.passes(e.host, r, e.usage))) candidates.push(e);
    g = { candidates, bySize: new Map(), failed: [] };
    groups.set(key, g);
    return g;
  };
  const heapFor = (g: Group, claim: Claim): BinaryHeap<HeapItem> => {
    const key = sizeKey(claim);
    let heap = g.bySize.get(key);
    if (heap) return heap;
    const items: HeapItem[] = [];
    for (const e of g.candidates) if (fits(e.host.capacity, e.usage, claim)) items.push({ entry: e, score: e.score, version: e.version });
    heap = new BinaryHeap<HeapItem>(less, items);
    for (const it of items) it.entry.heaps.add(heap);
    g.bySize.set(key, heap);
    return heap;
  };

  const placements: Placement[] = [];
  const failures: PlanFailure[] = [];
  const skipped: PlacementRequest[] = [];
  const seen = new Set<string>();
  for (const r of requests) {
    if (ledger.claims.has(r.id) || seen.has(r.id)) {
      skipped.push(r);
      continue;
    }
    seen.add(r.id);
    const claim = claimOf(r);
    const g = groupFor(r);
    if (g.failed.some((f) => atLeast(claim, f))) {
      failures.push({ request: r, reason: NO_VALID_HOST });
      continue;
    }
    const heap = heapFor(g, claim);
    let chosen: HostEntry | undefined;
    for (let item = heap.pop(); item; item = heap.pop()) {
      if (item.version !== item.entry.version) continue; // superseded by a newer score
      if (fits(item.entry.host.capacity, item.entry.usage, claim)) {
        chosen = item.entry;
        break;
      }
      item.entry.heaps.delete(heap); // full for this size until the batch ends
    }
    if (!chosen) {
      g.failed.push(claim);
      if (g.failed.length > 16) g.failed.shift();
      failures.push({ request: r, reason: NO_VALID_HOST });
      continue;
    }
    chosen.usage = addUsage(chosen.usage, claim, 1);
    chosen.score = usedFraction(chosen.host.capacity, chosen.usage);
    chosen.version++;
    // The chosen item was popped; every heap still holding the host gets its new score.
    for (const h of chosen.heaps) h.push({ entry: chosen, score: chosen.score, version: chosen.version });
    placements.push({ kind: r.kind, id: r.id, host: chosen.host.hostname, claim });
  }
  return { placements, failures, skipped };
}

// ---------------------------------------------------------------------------
// The plan applier

export const RejectionReason = {
  /** The host is no longer live (its lease lapsed) or never was. */
  hostUnavailable: 'host-unavailable',
  /** The consumer already holds a claim in the ledger (placed by another leader). */
  alreadyClaimed: 'already-claimed',
  /** The same consumer appears twice in the plan. */
  duplicate: 'duplicate',
  /** The host has no room left for this claim. */
  insufficientCapacity: 'insufficient-capacity',
} as const;
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];

export interface CommitDecision {
  /** The placements that still fit, or null when none do (nothing to append). */
  readonly event: PlacementsCommitted | null;
  readonly rejected: readonly { readonly placement: Placement; readonly reason: RejectionReason }[];
}

/**
 * The plan applier's check, as in Nomad's plan_apply: every placement is
 * re-checked against `ledger` (the freshest the caller has; after a failed
 * fence, the reloaded one) and the capacity of the live hosts. It trusts
 * nothing the planner computed. The event must be appended fenced on
 * `ledger.seq`; then the ledger can never overcommit a host.
 */
export function decideCommit(
  ledger: LedgerState,
  placements: readonly Placement[],
  hostsCapacity: ReadonlyMap<string, HostCapacity>,
): CommitDecision {
  const usage = new Map<string, HostUsage>();
  const ids = new Set<string>();
  const accepted: Placement[] = [];
  const rejected: { placement: Placement; reason: RejectionReason }[] = [];
  for (const p of placements) {
    const capacity = hostsCapacity.get(p.host);
    let reason: RejectionReason | null = null;
    if (ledger.claims.has(p.id)) reason = RejectionReason.alreadyClaimed;
    else if (ids.has(p.id)) reason = RejectionReason.duplicate;
    else if (!capacity) reason = RejectionReason.hostUnavailable;
    else {
      const u = usage.get(p.host) ?? usageOf(ledger, p.host);
      if (!fits(capacity, u, p.claim)) reason = RejectionReason.insufficientCapacity;
      else usage.set(p.host, addUsage(u, p.claim, 1));
    }
    if (reason) rejected.push({ placement: p, reason });
    else {
      ids.add(p.id);
      accepted.push(p);
    }
  }
  return {
    event: accepted.length > 0 ? { type: 'PlacementsCommitted', data: { placements: accepted } } : null,
    rejected,
  };
}

/** The release event for claims whose consumers are gone; null when none is held. */
export function decideRelease(ledger: LedgerState, ids: Iterable<string>): ClaimsReleased | null {
  const held = [...new Set(ids)].filter((id) => ledger.claims.has(id));
  return held.length > 0 ? { type: 'ClaimsReleased', data: { ids: held } } : null;
}

export type ResizeDecision =
  | { readonly event: ClaimResized | null }
  | { readonly rejected: { readonly code: 'insufficient' | 'stale'; readonly message: string } };

/**
 * Resizing the live claim of `id` to `wanted`. Nothing to do when the ledger
 * holds no claim for it (not placed yet: placement will claim the new size)
 * or the size is unchanged. A claim that shrinks in every dimension is
 * always accepted; one that grows must fit on its host, counting everything
 * else the ledger holds there (`capacity` null: the host is unknown, so
 * growing is refused).
 *
 * `at` orders resizes by the consumer's log (ClaimResized's `basis`): a
 * reservation (`reserve`, before a growing update decided on the consumer
 * at `basis`) takes the larger of the held and wanted sizes and is refused
 * as `stale` when the claim already has a newer basis; an exact size (after
 * an update that landed at `basis`) is skipped unless its basis is newer.
 */
export function decideResize(
  ledger: LedgerState,
  id: string,
  wanted: Claim,
  capacity: HostCapacity | null,
  at?: { readonly basis: number; readonly reserve: boolean },
): ResizeDecision {
  const held = ledger.claims.get(id);
  if (!held) return { event: null };
  const old = held.claim;
  const heldBasis = held.basis ?? 0;
  if (at && !at.reserve && at.basis <= heldBasis) return { event: null }; // a newer resize is in the ledger already
  if (at?.reserve && at.basis < heldBasis) {
    return { rejected: { code: 'stale', message: `The claim of ${id} was resized for a newer state of it (${heldBasis} > ${at.basis}).` } };
  }
  // A reservation never lowers the claim: another one on the same basis may be relying on it.
  const claim: Claim = at?.reserve
    ? { cpu: Math.max(old.cpu, wanted.cpu), memoryMiB: Math.max(old.memoryMiB, wanted.memoryMiB), diskGb: Math.max(old.diskGb, wanted.diskGb) }
    : wanted;
  const same = toMilli(old.cpu) === toMilli(claim.cpu) && old.memoryMiB === claim.memoryMiB && old.diskGb === claim.diskGb;
  // Unchanged: nothing to append, unless the basis moves on (a reservation must hold off older exact sizes).
  if (same && (!at || at.basis <= heldBasis)) return { event: null };
  const event: ClaimResized = { type: 'ClaimResized', data: { id, claim, ...(at ? { basis: at.basis, ...(at.reserve ? { reserve: true } : {}) } : {}) } };
  const grows = toMilli(claim.cpu) > toMilli(old.cpu) || claim.memoryMiB > old.memoryMiB || claim.diskGb > old.diskGb;
  // An exact size after the update is what runs now: recorded whatever the room.
  if (!grows || (at && !at.reserve)) return { event };
  const others = addUsage(usageOf(ledger, held.host), old, -1);
  if (capacity && fits(capacity, { ...others, count: others.count }, claim)) return { event };
  const u = usageOf(ledger, held.host);
  const free = capacity
    ? `${((toMilli(capacity.cpus) - u.cpuMilli + toMilli(old.cpu)) / 1000).toFixed(3)} vCPUs and ${capacity.memoryMiB - u.memoryMiB + old.memoryMiB} MiB free for it`
    : 'the host is not registered';
  return {
    rejected: {
      code: 'insufficient',
      message: `Insufficient compute resources on host ${held.host} to resize to ${claim.cpu} vCPUs and ${claim.memoryMiB} MiB: ${free}.`,
    },
  };
}

/** Hosts whose live claims exceed their capacity (should always be empty). */
export function overcommittedHosts(ledger: LedgerState, capacity: ReadonlyMap<string, HostCapacity>): string[] {
  const out: string[] = [];
  for (const [host, u] of ledger.usage) {
    const c = capacity.get(host);
    if (!c) continue;
    if (u.cpuMilli > toMilli(c.cpus) || u.memoryMiB > c.memoryMiB || u.diskGb > c.diskGb) out.push(host);
  }
  return out;
}
