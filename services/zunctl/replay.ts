/**
 * Replay reports: the state after each event of one aggregate, and the
 * summary of a whole-log verification. Pure (the CLI does the reading).
 */
import type { RecordedEvent } from '../../events/index.js';
import type { ContainerState } from '../../domain/container.js';
import type { CapsuleState } from '../../domain/capsule.js';
import {
  initialAggregateState,
  stepAggregate,
  type AggregateState,
  type HistoryFold,
  type HistoryViolation,
} from '../../domain/history.js';

export interface ReplayStep {
  readonly seq: number;
  readonly occurredAt: string;
  readonly type: string;
  readonly userId: string;
  readonly requestId: string;
  /** Status before the event (New before the create). */
  readonly from: string;
  readonly status: string | null;
  readonly taskState: string | null;
  readonly host: string | null;
  /** False when the machine does not accept the event in `from` (only with verify). */
  readonly legal: boolean;
}

export interface AggregateReplay {
  readonly kind: 'container' | 'capsule';
  readonly id: string;
  readonly verified: boolean;
  readonly steps: readonly ReplayStep[];
  /** Events left out by --to-seq / --at. */
  readonly skipped: number;
  readonly final: AggregateState;
  readonly violations: readonly HistoryViolation[];
}

export interface ReplayOptions {
  readonly verify?: boolean;
  readonly toSeq?: number;
  readonly atMs?: number;
}

/**
 * Replays one aggregate's events (in stream order) and reports the state after
 * each. A cut-off stops at the first event past it: later ones are skipped.
 */
export function replayAggregate(kind: 'container' | 'capsule', id: string, events: readonly RecordedEvent[], opts: ReplayOptions = {}): AggregateReplay {
  const verify = opts.verify ?? false;
  let state = initialAggregateState(kind, id);
  const steps: ReplayStep[] = [];
  const violations: HistoryViolation[] = [];
  let skipped = 0;
  for (const e of events) {
    if (skipped > 0 || (opts.toSeq !== undefined && e.seq > opts.toSeq) || (opts.atMs !== undefined && Date.parse(e.occurredAt) > opts.atMs)) {
      skipped++;
      continue;
    }
    const from = state.status ?? 'New';
    const r = stepAggregate(kind, state, e, verify);
    state = r.state;
    if (!r.legal) violations.push({ seq: e.seq, kind, id, type: e.type, from, occurredAt: e.occurredAt });
    steps.push({
      seq: e.seq,
      occurredAt: e.occurredAt,
      type: e.type,
      userId: e.userId,
      requestId: e.requestId,
      from,
      status: state.status,
      taskState: state.taskState,
      host: state.host,
      legal: r.legal,
    });
  }
  return { kind, id, verified: verify, steps, skipped, final: state, violations };
}

export interface HistorySummary {
  readonly lastSeq: number;
  readonly events: number;
  readonly eventsByKind: Readonly<Record<string, number>>;
  readonly unknownKind: number;
  readonly skipped: number;
  readonly aggregates: { readonly containers: number; readonly capsules: number; readonly ledgers: number };
  readonly containerStatuses: Readonly<Record<string, number>>;
  readonly capsuleStatuses: Readonly<Record<string, number>>;
  readonly verified: boolean;
  readonly violations: readonly HistoryViolation[];
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
}

function countStatuses(states: Iterable<ContainerState | CapsuleState>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of states) {
    const k = s.status ?? 'New';
    out[k] = (out[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function summarizeHistory(fold: HistoryFold, opts: { verified: boolean; elapsedMs: number }): HistorySummary {
  const c = fold.counts();
  return {
    lastSeq: fold.seq,
    events: c.events,
    eventsByKind: c.byKind,
    unknownKind: c.unknownKind,
    skipped: c.skipped,
    aggregates: { containers: fold.containers.size, capsules: fold.capsules.size, ledgers: fold.ledgers.size },
    containerStatuses: countStatuses(fold.containers.values()),
    capsuleStatuses: countStatuses(fold.capsules.values()),
    verified: opts.verified,
    violations: fold.violations,
    elapsedMs: Math.round(opts.elapsedMs),
    eventsPerSecond: opts.elapsedMs > 0 ? Math.round((c.events + c.skipped) / (opts.elapsedMs / 1000)) : 0,
  };
}
