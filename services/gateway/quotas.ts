/**
 * Quotas for the gateway: limits from the event log (aggregates `quota` and
 * `quota_class`), usage from the read model plus the reservations, and the
 * admission of container creates and cpu/memory updates.
 *
 * Admission is authoritative, not best-effort: it is a fenced command on the
 * project's `quota` aggregate. It loads the aggregate (limits and the
 * reservations still in force), counts the project's usage, and appends a
 * QuotaUsageReserved fenced on the aggregate's last sequence. Two concurrent
 * admissions of one project cannot both pass on the same view: the second
 * append fails its fence, is decided again on the new state (which now holds
 * the first reservation) and is refused if the two together exceed a limit.
 *
 * Usage needs the read model: while it is unavailable (the projector has not
 * made its bucket yet) admissions fail closed with its 503, unless every
 * limit of the project is -1 (then nothing is counted or reserved).
 *
 * The reads before the decision (the defaults; whether anything is limited)
 * go through the gateway's lookup cache (lookup-cache.ts): they are as fresh
 * as the last quota event to reach this gateway. The decision itself loads
 * afresh and is fenced.
 *
 * What it does not cover: a container the read model still does not show
 * once its reservation has lapsed (RESERVATION window, default 60 s) is not
 * counted. That needs the projector to be behind by more than the window.
 * A reservation whose create then failed counts until it lapses (the
 * conservative side).
 */
import { decideContainer } from '../../domain/container-decider.js';
import type { ContainerState } from '../../domain/container.js';
import {
  activeReservations,
  classLimits,
  defaultLimits,
  DEFAULT_QUOTA_CLASS,
  evolveQuota,
  evolveQuotaClass,
  initialQuotaClassState,
  initialQuotaState,
  limitChanges,
  overQuota,
  overQuotaMessage,
  projectLimits,
  projectUsage,
  type Confirmed,
  type FullQuotaLimits,
  type FullUsage,
  type QuotaClassState,
  type QuotaLimits,
  type QuotaState,
  type QuotaUsage,
} from '../../domain/quota.js';
import { envelope, type AggregateKind, type ContainerSpec, type DomainEvent, type EventEnvelope, type RecordedEvent } from '../../events/index.js';
import type { QuotaClassEvent, QuotaEvent } from '../../events/quota.js';
import { executeCommand, loadAggregate } from '../platform/aggregate.js';
import { loadContainer } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import { createKeyedLock } from '../platform/keyed-lock.js';
import type { Logger } from '../platform/log.js';
import type { AuthContext } from './auth.js';
import { fromRejection, OverQuota, type ZunError } from './errors.js';
import { noLookupCache, type LookupCache } from './lookup-cache.js';
import type { ContainerReadModel } from './readmodel.js';
import type { ContainerPatch } from './validate.js';

export interface QuotaServiceOptions {
  readonly store: EventStore;
  readonly readModel: ContainerReadModel;
  readonly log: Logger;
  readonly now: () => Date;
  readonly newId: () => string;
  /** The configured defaults (zun/conf/quota.py). */
  readonly defaults: FullQuotaLimits;
  /** How long a reservation counts without the read model (default 60 s). */
  readonly reservationMs?: number;
  /** For the reads before a decision (the defaults, whether anything is limited): lookup-cache.ts. */
  readonly lookups?: LookupCache;
}

/** Who asks, for the envelopes: the caller and the request id. */
export interface Requester {
  readonly ctx: AuthContext;
  readonly requestId: string;
}

export interface QuotaService {
  defaults(): Promise<FullQuotaLimits>;
  classLimits(name: string): Promise<FullQuotaLimits>;
  projectLimits(projectId: string): Promise<FullQuotaLimits>;
  usage(projectId: string): Promise<FullUsage>;
  setProjectLimits(who: Requester, projectId: string, limits: QuotaLimits): Promise<FullQuotaLimits>;
  deleteProjectLimits(who: Requester, projectId: string): Promise<void>;
  setClassLimits(who: Requester, name: string, limits: QuotaLimits): Promise<FullQuotaLimits>;
  /** Container create: reserves the container's usage in the caller's project, or throws OverQuota. */
  admitCreate(who: Requester, containerId: string, usage: QuotaUsage): Promise<void>;
  /**
   * PATCH with cpu or memory: Zun's state check first (a refused update
   * appends nothing), then the reservation of the new size, or OverQuota.
   * Nothing to do for a patch without cpu and memory.
   */
  admitUpdate(who: Requester, container: ContainerState, patch: ContainerPatch): Promise<void>;
}

export const usageOfSpec = (spec: ContainerSpec | null): QuotaUsage => ({ cpu: spec?.cpu ?? 0, memory: spec?.memory ?? 0, disk: spec?.disk ?? 0 });
export const usageOf = (s: ContainerState): QuotaUsage => usageOfSpec(s.spec);

const ZERO: FullUsage = { containers: 0, memory: 0, disk: 0, cpu: 0 };

export function createQuotaService(opts: QuotaServiceOptions): QuotaService {
  const { store, readModel, newId } = opts;
  const reservationMs = opts.reservationMs ?? 60_000;
  const log = opts.log.child({ component: 'quotas' });
  const withProjectLock = createKeyedLock();

  const loadQuota = (projectId: string) =>
    loadAggregate<QuotaState>({
      store,
      kind: 'quota',
      id: projectId,
      initial: initialQuotaState(projectId),
      evolve: (s, e) => evolveQuota(s, e as RecordedEvent<QuotaEvent>),
    });
  const loadClass = (name: string) =>
    loadAggregate<QuotaClassState>({
      store,
      kind: 'quota_class',
      id: name,
      initial: initialQuotaClassState(name),
      evolve: (s, e) => evolveQuotaClass(s, e as RecordedEvent<QuotaClassEvent>),
    });

  const lookups = opts.lookups ?? noLookupCache;
  const defaults = async () =>
    defaultLimits(opts.defaults, (await lookups.get('quota_class', DEFAULT_QUOTA_CLASS, () => loadClass(DEFAULT_QUOTA_CLASS))).state.limits);

  function envelopes(kind: AggregateKind, id: string, who: Requester, events: readonly DomainEvent[], at: Date = opts.now()): EventEnvelope[] {
    const occurredAt = at.toISOString();
    return events.map((e) =>
      envelope(e, { id: newId(), aggregateKind: kind, aggregateId: id }, {
        projectId: who.ctx.projectId,
        userId: who.ctx.userId,
        requestId: who.requestId,
        correlationId: who.requestId,
        causationId: null,
        occurredAt,
      }),
    ) as EventEnvelope[];
  }

  /** The project's usage on a loaded quota state (reservations in force at `at`). */
  async function usageOn(projectId: string, state: QuotaState, at: Date = opts.now()): Promise<FullUsage> {
    const reservations = activeReservations(state, at.toISOString());
    const listed = new Map((await readModel.listContainers({ projectId })).map((s) => [s.uuid, usageOf(s)] as const));
    const confirmed = new Map<string, Confirmed>();
    await Promise.all(
      Object.keys(reservations).map(async (id) => {
        const s = await loadContainer(store, id);
        confirmed.set(
          id,
          s.status === null ? { kind: 'absent' } : s.status === 'Deleted' ? { kind: 'deleted' } : { kind: 'live', usage: usageOf(s) },
        );
      }),
    );
    return projectUsage(listed, reservations, (id) => confirmed.get(id) ?? { kind: 'absent' });
  }

  const unlimited = (limits: FullQuotaLimits) => Object.values(limits).every((l) => l < 0);

  async function reserve(who: Requester, projectId: string, containerId: string, usage: QuotaUsage, delta: FullUsage): Promise<void> {
    // Outside the lock, at once, from the lookup cache: the defaults
    // (quota_class) and the project's limits. A project with nothing limited
    // counts and reserves nothing, so it takes no lock and appends nothing
    // (as the decision below would conclude). Limits set meanwhile are no
    // more racy than before: setting limits never took this lock.
    const [limitsBase, quota] = await Promise.all([defaults(), lookups.get('quota', projectId, () => loadQuota(projectId))]);
    if (unlimited(projectLimits(limitsBase, quota.state.limits))) return;
    // One admission per project at a time in this gateway: concurrent creates
    // in one project would otherwise race each other on the quota fence.
    return withProjectLock(projectId, () => reserveLocked(who, projectId, containerId, usage, delta, limitsBase));
  }

  async function reserveLocked(
    who: Requester,
    projectId: string,
    containerId: string,
    usage: QuotaUsage,
    delta: FullUsage,
    limitsBase: FullQuotaLimits,
  ): Promise<void> {
    // One reading of the clock per admission: the usage, the expiry and the envelope agree.
    const at = opts.now();
    const out = await executeCommand<QuotaState, ZunError>({
      store,
      kind: 'quota',
      id: projectId,
      commandId: `${who.requestId}/quota`,
      load: () => loadQuota(projectId),
      decide: async (state) => {
        const limits = projectLimits(limitsBase, state.limits);
        // Nothing is limited: nothing to count, nothing to reserve (and no need of the read model).
        if (unlimited(limits)) return { events: [] };
        const current = await usageOn(projectId, state, at);
        const overs = overQuota(limits, current, delta);
        if (overs.length > 0) {
          log.info({ projectId, containerId, overs, limits, usage: current, delta }, 'over quota');
          return { rejected: new OverQuota(overQuotaMessage(overs)) };
        }
        const expiresAt = new Date(at.getTime() + reservationMs).toISOString();
        return { events: envelopes('quota', projectId, who, [{ type: 'QuotaUsageReserved', data: { containerId, usage, expiresAt } }], at) };
      },
    });
    if (out.outcome === 'rejected') throw out.rejected;
  }

  return {
    defaults,
    async classLimits(name) {
      return classLimits(opts.defaults, (await loadClass(name)).state.limits);
    },
    async projectLimits(projectId) {
      const [d, q] = await Promise.all([defaults(), loadQuota(projectId)]);
      return projectLimits(d, q.state.limits);
    },
    async usage(projectId) {
      return usageOn(projectId, (await loadQuota(projectId)).state);
    },
    async setProjectLimits(who, projectId, limits) {
      const out = await executeCommand<QuotaState, never>({
        store,
        kind: 'quota',
        id: projectId,
        commandId: who.requestId,
        load: () => loadQuota(projectId),
        decide: (state) => {
          const changes = limitChanges(state.limits, limits);
          return { events: Object.keys(changes).length === 0 ? [] : envelopes('quota', projectId, who, [{ type: 'QuotaLimitsSet', data: { limits: changes } }]) };
        },
      });
      const merged = { ...out.state.limits, ...limits };
      return projectLimits(await defaults(), merged);
    },
    async deleteProjectLimits(who, projectId) {
      await executeCommand<QuotaState, never>({
        store,
        kind: 'quota',
        id: projectId,
        commandId: who.requestId,
        load: () => loadQuota(projectId),
        decide: (state) => ({
          events: Object.keys(state.limits).length === 0 ? [] : envelopes('quota', projectId, who, [{ type: 'QuotaLimitsDeleted', data: {} }]),
        }),
      });
    },
    async setClassLimits(who, name, limits) {
      const out = await executeCommand<QuotaClassState, never>({
        store,
        kind: 'quota_class',
        id: name,
        commandId: who.requestId,
        load: () => loadClass(name),
        decide: (state) => {
          const changes = limitChanges(state.limits, limits);
          return { events: Object.keys(changes).length === 0 ? [] : envelopes('quota_class', name, who, [{ type: 'QuotaClassLimitsSet', data: { limits: changes } }]) };
        },
      });
      return classLimits(opts.defaults, { ...out.state.limits, ...limits });
    },
    async admitCreate(who, containerId, usage) {
      await reserve(who, who.ctx.projectId, containerId, usage, { containers: 1, ...usage });
    },
    async admitUpdate(who, container, patch) {
      if (patch.cpu === undefined && patch.memory === undefined) return;
      const d = decideContainer({ type: 'UpdateContainer', patch }, container);
      if ('rejected' in d) throw fromRejection(d.rejected, container.uuid);
      const old = usageOf(container);
      const next: QuotaUsage = { cpu: patch.cpu ?? old.cpu, memory: patch.memory ?? old.memory, disk: old.disk };
      // Charged to the container's project. (Zun counts the caller's project, which differs
      // only when an admin resizes another project's container.)
      await reserve(who, container.projectId ?? who.ctx.projectId, container.uuid, next, { ...ZERO, cpu: next.cpu - old.cpu, memory: next.memory - old.memory });
    },
  };
}
