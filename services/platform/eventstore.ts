/**
 * The event store port. Implementations: JetStream (the real one) and an
 * in-memory twin for unit and property tests. Both must behave identically on
 * fencing and idempotency; the shared contract test checks that.
 */
import type { AggregateKind, EventEnvelope, RecordedEvent } from '../../events/index.js';

/** The writer's view of the aggregate was stale: someone appended first. */
export class ConcurrencyError extends Error {
  readonly code = 'CONCURRENCY_CONFLICT';
  constructor(
    readonly subject: string,
    readonly expectedSeq: number,
    options?: { cause?: unknown },
  ) {
    super(`concurrent append on ${subject}: expected last sequence ${expectedSeq}`, options);
    this.name = 'ConcurrencyError';
  }
}

/** The store could not be reached or refused the write for a reason other than fencing. */
export class EventStoreUnavailableError extends Error {
  readonly code = 'EVENT_STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreUnavailableError';
  }
}

export interface AppendResult {
  /** Stream sequence of each appended (or previously appended) event, in order. */
  readonly seqs: readonly number[];
  /** True when every event was already stored under the same command id. */
  readonly duplicate: boolean;
}

export interface EventStore {
  /**
   * Appends events to one aggregate, fenced and idempotent.
   *
   * `expectedSeq` is the stream sequence of the aggregate's last event as the
   * caller saw it (0 for a new aggregate). Event i is published with
   * msgID `${commandId}/${i}`, so a retried command appends nothing twice.
   * Throws ConcurrencyError when the fence fails.
   */
  append(
    kind: AggregateKind,
    id: string,
    events: readonly EventEnvelope[],
    expectedSeq: number,
    commandId: string,
  ): Promise<AppendResult>;

  /** Every event of one aggregate with seq > afterSeq, in stream order. */
  load(kind: AggregateKind, id: string, afterSeq?: number): Promise<RecordedEvent[]>;

  /** The stream sequence of the aggregate's last event, 0 when it has none. */
  lastSeq(kind: AggregateKind, id: string): Promise<number>;
}
