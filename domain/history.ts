/**
 * The fold of a whole history: every container, capsule and placement ledger
 * of an interleaved event log, in stream order, optionally verified event by
 * event against the machines, optionally cut off at a time or a sequence.
 *
 * Pure: no I/O, no clock. Used by replay tooling (zunctl replay, state,
 * diff), recorded-history tests, and anything else that needs the cluster as
 * the log says it is (or was).
 *
 * Verification is the verifying fold of state-machines/, done incrementally
 * so one pass over an interleaved log checks every aggregate: an event the
 * machine does not accept in the aggregate's current state is a violation;
 * it is reported and then folded anyway (as verifyContainerFold does), so
 * the resulting state is always the fast fold's.
 *
 * Cut-off at a time T: an aggregate's events are folded in stream order up
 * to its first event that occurred after T; that event and all later events
 * of the same aggregate are left out. Per-aggregate prefixes (not a filter on
 * occurredAt) keep every aggregate's history causally whole even when writer
 * clocks disagree a little. occurredAt is the writer's clock at append time.
 */
import type { AggregateKind, CapsuleEvent, ContainerEvent, ContainerEventType, PlacementEvent, RecordedEvent } from '../events/index.js';
import { evolveContainer, initialContainerState, rewritesDesiredEntry, type ContainerState } from './container.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from './capsule.js';
import { applyLedgerEvent, initialLedger, type MutableLedger } from './placement.js';
import { containerAccepts, type MachineStatus } from '../state-machines/container.js';
import { capsuleAccepts } from '../state-machines/capsule.js';

export type AggregateState = ContainerState | CapsuleState;

export interface HistoryViolation {
  readonly seq: number;
  readonly kind: 'container' | 'capsule';
  readonly id: string;
  readonly type: string;
  /** The status the aggregate was in (New before its create). */
  readonly from: MachineStatus;
  readonly occurredAt: string;
}

/**
 * One event of one aggregate through the fast fold and, with `verify`, the
 * machine's legality check. `state` is the aggregate's state before `e`.
 */
export function stepAggregate(
  kind: 'container' | 'capsule',
  state: AggregateState,
  e: RecordedEvent,
  verify: boolean,
): { readonly state: AggregateState; readonly legal: boolean } {
  if (kind === 'container') {
    const s = state as ContainerState;
    const ev = e as RecordedEvent<ContainerEvent>;
    const legal = !verify || containerAccepts(s, ev);
    return { state: evolveContainer(s, ev), legal };
  }
  const s = state as CapsuleState;
  const ev = e as RecordedEvent<CapsuleEvent>;
  const legal = !verify || capsuleAccepts(s, ev);
  return { state: evolveCapsule(s, ev), legal };
}

export function initialAggregateState(kind: 'container' | 'capsule', id: string): AggregateState {
  return kind === 'container' ? initialContainerState(id) : initialCapsuleState(id);
}

export interface HistoryFoldOptions {
  /** Run every container and capsule event through its machine. */
  readonly verify?: boolean;
  /** Cut off at this time (epoch ms): see the module comment. */
  readonly atMs?: number;
  /** Fold only events with a stream sequence at or below this. */
  readonly toSeq?: number;
}

export interface HistoryCounts {
  /** Events folded (after cut-offs). */
  readonly events: number;
  /** Events seen but left out by a cut-off. */
  readonly skipped: number;
  readonly byKind: Readonly<Record<string, number>>;
  /** Events of an aggregate kind this fold does not know: counted, not folded. */
  readonly unknownKind: number;
}

export interface HistoryFold {
  /** Folds the next event (stream order). Returns the violation it caused, if any. */
  apply(e: RecordedEvent): HistoryViolation | null;
  readonly containers: ReadonlyMap<string, ContainerState>;
  readonly capsules: ReadonlyMap<string, CapsuleState>;
  /**
   * Each container's state as of its last event that rewrites the desired
   * entry (`rewritesDesiredEntry`): what `zun_desired` must hold for it.
   */
  readonly containersDesired: ReadonlyMap<string, ContainerState>;
  /** Placement ledgers by scheduling domain (the placement aggregate id). */
  readonly ledgers: ReadonlyMap<string, MutableLedger>;
  readonly violations: readonly HistoryViolation[];
  /** Stream sequence of the last event folded (0 before any). */
  readonly seq: number;
  counts(): HistoryCounts;
}

export function createHistoryFold(opts: HistoryFoldOptions = {}): HistoryFold {
  const verify = opts.verify ?? false;
  const atMs = opts.atMs;
  const toSeq = opts.toSeq ?? Infinity;
  const containers = new Map<string, ContainerState>();
  const capsules = new Map<string, CapsuleState>();
  const containersDesired = new Map<string, ContainerState>();
  const ledgers = new Map<string, MutableLedger>();
  /** `${kind}:${id}` of aggregates past the cut-off time. */
  const frozen = new Set<string>();
  const violations: HistoryViolation[] = [];
  const byKind: Record<string, number> = {};
  let events = 0;
  let skipped = 0;
  let unknownKind = 0;
  let seq = 0;

  function cutOff(kind: AggregateKind, e: RecordedEvent): boolean {
    if (e.seq > toSeq) return true;
    if (atMs === undefined) return false;
    const key = `${kind}:${e.aggregateId}`;
    if (frozen.has(key)) return true;
    if (Date.parse(e.occurredAt) > atMs) {
      frozen.add(key);
      return true;
    }
    return false;
  }

  return {
    containers,
    capsules,
    containersDesired,
    ledgers,
    violations,
    get seq() {
      return seq;
    },
    counts: () => ({ events, skipped, byKind: { ...byKind }, unknownKind }),
    apply(e) {
      const kind = e.aggregateKind as string;
      if (kind !== 'container' && kind !== 'capsule' && kind !== 'placement') {
        unknownKind++;
        return null;
      }
      if (cutOff(kind, e)) {
        skipped++;
        return null;
      }
      events++;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      seq = e.seq;
      if (kind === 'placement') {
        let l = ledgers.get(e.aggregateId);
        if (!l) ledgers.set(e.aggregateId, (l = initialLedger()));
        applyLedgerEvent(l, e as RecordedEvent<PlacementEvent>);
        return null;
      }
      const map = (kind === 'container' ? containers : capsules) as Map<string, AggregateState>;
      const before = map.get(e.aggregateId) ?? initialAggregateState(kind, e.aggregateId);
      const { state, legal } = stepAggregate(kind, before, e, verify);
      map.set(e.aggregateId, state);
      if (kind === 'container' && rewritesDesiredEntry(e.type as ContainerEventType)) containersDesired.set(e.aggregateId, state as ContainerState);
      if (legal) return null;
      const v: HistoryViolation = {
        seq: e.seq,
        kind,
        id: e.aggregateId,
        type: e.type,
        from: before.status ?? 'New',
        occurredAt: e.occurredAt,
      };
      violations.push(v);
      return v;
    },
  };
}

/** Folds a whole history at once. */
export function foldHistory(events: Iterable<RecordedEvent>, opts: HistoryFoldOptions = {}): HistoryFold {
  const f = createHistoryFold(opts);
  for (const e of events) f.apply(e);
  return f;
}
