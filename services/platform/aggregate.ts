/**
 * Generic aggregate plumbing over the EventStore port: load-and-fold with
 * snapshots, and the fenced command loop. Knows nothing of any domain: the
 * state type, the fold and the decision come in as parameters.
 */
import type { AggregateKind, EventEnvelope, RecordedEvent } from '../../events/index.js';
import { ConcurrencyError, type EventStore } from './eventstore.js';
import type { SnapshotStore } from './snapshots.js';

export interface LoadAggregateOptions<S> {
  readonly store: EventStore;
  /** Defaults to the store's own snapshot store, when it carries one. */
  readonly snapshots?: SnapshotStore;
  readonly kind: AggregateKind;
  readonly id: string;
  /** The state before the first event. Not mutated (evolve must be pure). */
  readonly initial: S;
  readonly evolve: (state: S, event: RecordedEvent) => S;
  /** Write a snapshot when more than this many events were folded past the last one (default 50). */
  readonly snapshotEvery?: number;
  /**
   * Version of the state shape `evolve` produces. Snapshots written with
   * another version are ignored (and replaced), so a changed fold never
   * starts from a state it would not have produced (default 1).
   */
  readonly snapshotVersion?: number;
  /** Told about snapshot failures, which never fail the load. */
  readonly onSnapshotError?: (err: unknown, op: 'get' | 'put') => void;
}

export interface LoadedAggregate<S> {
  readonly state: S;
  /** Stream sequence of the last event folded into `state`; 0 for an aggregate with no events. */
  readonly seq: number;
  /** The events folded by this load (those after the snapshot, if one was used). */
  readonly events: readonly RecordedEvent[];
}

/**
 * Loads and folds one aggregate. A snapshot, when present and of the right
 * version, replaces folding the events up to its sequence. A snapshot that
 * cannot be read or written is skipped: the load falls back to the events.
 */
export async function loadAggregate<S>(opts: LoadAggregateOptions<S>): Promise<LoadedAggregate<S>> {
  const { store, kind, id, evolve } = opts;
  const snapshots = opts.snapshots ?? (store as { snapshots?: SnapshotStore }).snapshots;
  const every = opts.snapshotEvery ?? 50;
  const version = opts.snapshotVersion ?? 1;

  let state = opts.initial;
  let seq = 0;
  if (snapshots) {
    try {
      const snap = await snapshots.get<S>(kind, id);
      if (snap && snap.version === version) {
        state = snap.state;
        seq = snap.seq;
      }
    } catch (e) {
      opts.onSnapshotError?.(e, 'get');
    }
  }
  const events = await store.load(kind, id, seq);
  for (const e of events) state = evolve(state, e);
  if (events.length > 0) seq = events[events.length - 1]!.seq;
  if (snapshots && events.length > every) {
    try {
      await snapshots.put(kind, id, seq, state, version);
    } catch (e) {
      opts.onSnapshotError?.(e, 'put');
    }
  }
  return { state, seq, events };
}

/** What a decider answers: events to append, or an expected rejection (a value, not a throw). */
export type Decision<R> = { readonly events: readonly EventEnvelope[] } | { readonly rejected: R };

export interface ExecuteCommandOptions<S, R> {
  readonly store: EventStore;
  readonly kind: AggregateKind;
  readonly id: string;
  /** Loads the current state and the sequence it was folded up to (e.g. loadAggregate). */
  readonly load: () => Promise<{ readonly state: S; readonly seq: number }>;
  /** Pure: called again with the fresh state after each conflict. */
  readonly decide: (state: S, attempt: number) => Decision<R> | Promise<Decision<R>>;
  /** Idempotency key: event i is appended with msgID `${commandId}/${i}`. */
  readonly commandId: string;
  /** Conflicts retried before the ConcurrencyError is rethrown (default 5). */
  readonly maxRetries?: number;
}

export type CommandOutcome<S, R> =
  | {
      readonly outcome: 'appended';
      /** The state the decision was made on, and its sequence. */
      readonly state: S;
      readonly seq: number;
      readonly events: readonly EventEnvelope[];
      readonly seqs: readonly number[];
      /** Every event was already stored under this command id: a retried command. */
      readonly duplicate: boolean;
      readonly attempts: number;
    }
  | {
      readonly outcome: 'rejected';
      readonly state: S;
      readonly seq: number;
      readonly rejected: R;
      readonly attempts: number;
    };

/**
 * load -> decide -> append fenced on the loaded sequence. On a
 * ConcurrencyError someone appended first: reload and decide again, up to
 * maxRetries times, then rethrow it. A rejection appends nothing and is
 * returned. Other errors (store unavailable) propagate at once.
 *
 * Idempotent by commandId: running the same command again after it was
 * appended de-duplicates in the store (duplicate: true) as long as the
 * decision yields the same number of events, even though the fence is stale.
 */
export async function executeCommand<S, R>(opts: ExecuteCommandOptions<S, R>): Promise<CommandOutcome<S, R>> {
  const maxRetries = opts.maxRetries ?? 5;
  for (let attempt = 1; ; attempt++) {
    const { state, seq } = await opts.load();
    const decision = await opts.decide(state, attempt);
    if ('rejected' in decision) return { outcome: 'rejected', state, seq, rejected: decision.rejected, attempts: attempt };
    if (decision.events.length === 0) {
      return { outcome: 'appended', state, seq, events: [], seqs: [], duplicate: false, attempts: attempt };
    }
    try {
      const r = await opts.store.append(opts.kind, opts.id, decision.events, seq, opts.commandId);
      return { outcome: 'appended', state, seq, events: decision.events, seqs: r.seqs, duplicate: r.duplicate, attempts: attempt };
    } catch (e) {
      if (!(e instanceof ConcurrencyError) || attempt > maxRetries) throw e;
    }
  }
}
