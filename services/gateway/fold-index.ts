/**
 * A private, exact index of one kind of aggregate, kept by folding the log
 * incrementally: each query first reads the events of that kind appended
 * since the last one (subject filter, from the last sequence folded + 1),
 * then answers from memory. So a query costs one read of what is new, not a
 * fold of the kind's whole history, and still sees everything appended
 * before it began (a projection read model may trail the log; this does not).
 *
 * For kinds the gateway looks up by name or scans, that are few but whose
 * histories grow (networks with their ports, registries). Concurrent
 * queries share one read.
 */
import { kindSubject, type AggregateKind, type RecordedEvent } from '../../events/index.js';

/** Reads events in stream order by subject filter, from a stream sequence on. */
export type ReadEventsFrom = (opts: { filter: string; fromSeq?: number }) => AsyncIterable<RecordedEvent>;

export interface FoldIndex<S> {
  /** Every aggregate of the kind as the log has it now (deleted ones included: the caller filters). */
  states(): Promise<ReadonlyMap<string, S>>;
}

export function createFoldIndex<S>(opts: {
  readonly readEvents: ReadEventsFrom;
  readonly kind: AggregateKind;
  readonly initial: (id: string) => S;
  readonly evolve: (s: S, e: RecordedEvent) => S;
}): FoldIndex<S> {
  const states = new Map<string, S>();
  let seq = 0;
  /** The read in progress, and the one queued behind it for the queries that arrived during it. */
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  async function catchUp(): Promise<void> {
    for await (const e of opts.readEvents({ filter: kindSubject(opts.kind), ...(seq > 0 ? { fromSeq: seq + 1 } : {}) })) {
      if (e.seq <= seq) continue;
      states.set(e.aggregateId, opts.evolve(states.get(e.aggregateId) ?? opts.initial(e.aggregateId), e));
      seq = e.seq;
    }
  }

  /**
   * A read that begins after this call: the running one may have begun
   * before the caller's query, so callers during it share the next one.
   */
  function read(): Promise<void> {
    if (!running) {
      running = catchUp().finally(() => (running = null));
      return running;
    }
    queued ??= running
      .catch(() => {})
      .then(() => {
        queued = null;
        return read();
      });
    return queued;
  }

  return {
    async states() {
      await read();
      return states;
    },
  };
}
