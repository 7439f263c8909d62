/**
 * Quotas (zun/common/quota.py, DbQuotaDriver), pure.
 *
 * Limits of a project, most specific first: the project's own limit (set by
 * an admin), else the `default` quota class's, else the configured default
 * (zun/conf/quota.py: containers 40, memory 51200 MiB, cpu 20, disk 100 GB).
 * -1 means unlimited. A quota class's limits are its own, else the
 * configured defaults.
 *
 * Usage is what the project's live containers hold: their count and the sum
 * of their cpu, memory and disk. A request is over quota on every resource
 * where limit >= 0 and limit < usage + delta (QUOTAS.limit_check), and is
 * refused with OverQuota naming those resources, sorted.
 *
 * The `quota` aggregate also carries reservations (see events/quota.ts):
 * `projectUsage` combines the read model's view of the project with the
 * reservations still in force, so a container admitted a moment ago counts
 * even before the read model shows it.
 */
import type { RecordedEvent } from '../events/index.js';
import {
  QuotaResources,
  type QuotaClassEvent,
  type QuotaEvent,
  type QuotaLimits,
  type QuotaResource,
  type QuotaUsage,
} from '../events/quota.js';

export type { QuotaLimits, QuotaResource, QuotaUsage };
export { QuotaResources };

export type FullQuotaLimits = { readonly [K in QuotaResource]: number };

/** zun/conf/quota.py defaults. */
export const ZUN_DEFAULT_QUOTAS: FullQuotaLimits = { containers: 40, memory: 50 * 1024, disk: 100, cpu: 20 };

/** The quota class whose limits replace the configured defaults. */
export const DEFAULT_QUOTA_CLASS = 'default';

export interface Reservation {
  readonly usage: QuotaUsage;
  readonly expiresAt: string;
}

export interface QuotaState {
  readonly projectId: string;
  /** Stream sequence of the last event folded; 0 for none. */
  readonly seq: number;
  /** The project's own limits (only the resources an admin set). */
  readonly limits: QuotaLimits;
  /** Reservations not yet lapsed, by container id. Plain object: snapshots are JSON. */
  readonly reservations: Readonly<Record<string, Reservation>>;
}

export const initialQuotaState = (projectId: string): QuotaState => ({ projectId, seq: 0, limits: {}, reservations: {} });

/** Drops reservations that lapsed before `at` (an event's own time: no clock is read). */
function prune(reservations: Readonly<Record<string, Reservation>>, at: string): Readonly<Record<string, Reservation>> {
  const t = Date.parse(at);
  let out: Record<string, Reservation> | null = null;
  for (const [id, r] of Object.entries(reservations)) {
    if (Date.parse(r.expiresAt) < t) {
      out ??= { ...reservations };
      delete out[id];
    }
  }
  return out ?? reservations;
}

/** The fold. Pure and total. */
export function evolveQuota(state: QuotaState, e: RecordedEvent<QuotaEvent>): QuotaState {
  const reservations = prune(state.reservations, e.occurredAt);
  switch (e.type) {
    case 'QuotaLimitsSet':
      return { ...state, seq: e.seq, reservations, limits: { ...state.limits, ...e.data.limits } };
    case 'QuotaLimitsDeleted':
      return { ...state, seq: e.seq, reservations, limits: {} };
    case 'QuotaUsageReserved':
      return {
        ...state,
        seq: e.seq,
        reservations: { ...reservations, [e.data.containerId]: { usage: e.data.usage, expiresAt: e.data.expiresAt } },
      };
    default:
      return { ...state, seq: (e as RecordedEvent).seq, reservations };
  }
}

export interface QuotaClassState {
  readonly name: string;
  readonly seq: number;
  readonly limits: QuotaLimits;
}

export const initialQuotaClassState = (name: string): QuotaClassState => ({ name, seq: 0, limits: {} });

export function evolveQuotaClass(state: QuotaClassState, e: RecordedEvent<QuotaClassEvent>): QuotaClassState {
  switch (e.type) {
    case 'QuotaClassLimitsSet':
      return { ...state, seq: e.seq, limits: { ...state.limits, ...e.data.limits } };
    default:
      return { ...state, seq: (e as RecordedEvent).seq };
  }
}

// ---- limits ------------------------------------------------------------------------------

/** get_defaults: the `default` class's limits over the configured ones. */
export function defaultLimits(configured: FullQuotaLimits, defaultClass: QuotaLimits): FullQuotaLimits {
  return fill((r) => defaultClass[r] ?? configured[r]);
}

/** get_class_quotas: the class's limits over the configured ones. */
export function classLimits(configured: FullQuotaLimits, cls: QuotaLimits): FullQuotaLimits {
  return fill((r) => cls[r] ?? configured[r]);
}

/** get_project_quotas: the project's limits over the defaults. */
export function projectLimits(defaults: FullQuotaLimits, project: QuotaLimits): FullQuotaLimits {
  return fill((r) => project[r] ?? defaults[r]);
}

/** In Zun's resource order: containers, memory, disk, cpu. */
function fill(f: (r: QuotaResource) => number): FullQuotaLimits {
  return { containers: f('containers'), memory: f('memory'), disk: f('disk'), cpu: f('cpu') };
}

/** The changes a PUT would make: only resources whose limit differs. Empty: nothing to append. */
export function limitChanges(current: QuotaLimits, requested: QuotaLimits): QuotaLimits {
  const out: { [K in QuotaResource]?: number } = {};
  for (const r of QuotaResources) {
    const v = requested[r];
    if (v !== undefined && current[r] !== v) out[r] = v;
  }
  return out;
}

// ---- usage ----------------------------------------------------------------------------------

export type FullUsage = FullQuotaLimits;

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** What a container's authoritative state says about it, for a reserved id. */
export type Confirmed =
  | { readonly kind: 'absent' }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'live'; readonly usage: QuotaUsage };

/**
 * The project's usage.
 *
 * - `listed`: live containers of the project in the read model (eventually
 *   consistent), by id;
 * - `reservations`: the quota aggregate's reservations still in force;
 * - `confirmed(id)`: for each reserved id, its state in the event log.
 *
 * A reserved container counts as the larger of what the log shows and what
 * was reserved (a create not yet appended counts as reserved; an update not
 * yet applied counts at the larger size); a deleted one counts nothing.
 * Every other listed container counts as listed. Never less than the truth
 * as long as the read model lags by less than the reservation window.
 */
export function projectUsage(
  listed: ReadonlyMap<string, QuotaUsage>,
  reservations: Readonly<Record<string, Reservation>>,
  confirmed: (id: string) => Confirmed,
): FullUsage {
  let containers = 0;
  let cpu = 0;
  let memory = 0;
  let disk = 0;
  const add = (u: QuotaUsage) => {
    containers += 1;
    cpu += u.cpu;
    memory += u.memory;
    disk += u.disk;
  };
  for (const [id, u] of listed) if (!Object.hasOwn(reservations, id)) add(u);
  for (const [id, r] of Object.entries(reservations)) {
    const c = confirmed(id);
    if (c.kind === 'deleted') continue;
    if (c.kind === 'absent') add(r.usage);
    else add({ cpu: Math.max(c.usage.cpu, r.usage.cpu), memory: Math.max(c.usage.memory, r.usage.memory), disk: Math.max(c.usage.disk, r.usage.disk) });
  }
  return { containers, memory, disk, cpu: round3(cpu) };
}

/** Reservations in force at `now` (ISO). */
export function activeReservations(state: QuotaState, now: string): Readonly<Record<string, Reservation>> {
  return prune(state.reservations, now);
}

/**
 * limit_check on usage + delta for all four resources; the resources over
 * quota, sorted (Zun's `overs`). Empty when the request fits.
 */
export function overQuota(limits: FullQuotaLimits, usage: FullUsage, delta: FullUsage): QuotaResource[] {
  const overs: QuotaResource[] = [];
  for (const r of QuotaResources) {
    const total = round3(usage[r] + delta[r]);
    if (limits[r] >= 0 && limits[r] < total) overs.push(r);
  }
  return overs.sort();
}

/** OverQuota's message: `Quota exceeded for resources: ['containers', 'cpu']`. */
export function overQuotaMessage(overs: readonly QuotaResource[]): string {
  return `Quota exceeded for resources: [${overs.map((o) => `'${o}'`).join(', ')}]`;
}

/** Usage with `usages=true`: {resource: {limit, in_use}} in Zun's order. */
export function withUsages(limits: FullQuotaLimits, usage: FullUsage): { readonly [K in QuotaResource]: { readonly limit: number; readonly in_use: number } } {
  return {
    containers: { limit: limits.containers, in_use: usage.containers },
    memory: { limit: limits.memory, in_use: usage.memory },
    disk: { limit: limits.disk, in_use: usage.disk },
    cpu: { limit: limits.cpu, in_use: usage.cpu },
  };
}
