/**
 * The in-memory twin of the JetStream event store, for unit and property
 * tests. Same semantics, checked by the shared contract test:
 *
 * - one global sequence across all subjects, starting at 1;
 * - each event is fenced on its subject's last sequence (0 when none);
 * - msgIDs (`${commandId}/${i}`) are remembered for ever (JetStream: for the
 *   duplicate window); a known msgID answers its original sequence before
 *   the fence is looked at, so a retried command is a duplicate even when
 *   its fence is stale;
 * - a multi-event append is applied event by event, as on JetStream: a fence
 *   failing at event i leaves events 0..i-1 stored;
 * - bodies are stored encoded and decoded on read, so callers never share
 *   objects with the store and malformed bodies fail as they would on the
 *   real one.
 *
 * Synchronous inside: no interleaving within one call, but callers may
 * interleave calls freely (each method is one step of the event loop).
 */
import {
  aggregateSubject,
  decodeEvent,
  encodeEvent,
  type AggregateKind,
  type EventEnvelope,
  type RecordedEvent,
} from '../../events/index.js';
import { ConcurrencyError, type AppendResult, type EventStore } from './eventstore.js';

export interface MemoryEventStore extends EventStore {
  /** Every event in stream order, optionally filtered by a subject pattern (`*`, `>`). */
  readAll(opts?: { filter?: string; fromSeq?: number }): AsyncGenerator<RecordedEvent, void, undefined>;
  /** Stores raw bytes on a subject, unfenced: lets tests put junk in the log. */
  appendRaw(subject: string, body: Uint8Array): number;
  /** The last sequence of the whole stream. */
  readonly lastStreamSeq: number;
}

interface Stored {
  readonly seq: number;
  readonly subject: string;
  readonly body: Uint8Array;
}

export function createMemoryEventStore(): MemoryEventStore {
  const log: Stored[] = [];
  const bySubject = new Map<string, Stored[]>();
  const msgIds = new Map<string, number>();

  function store(subject: string, body: Uint8Array): number {
    const rec = { seq: log.length + 1, subject, body };
    log.push(rec);
    let list = bySubject.get(subject);
    if (!list) bySubject.set(subject, (list = []));
    list.push(rec);
    return rec.seq;
  }

  const lastOf = (subject: string) => bySubject.get(subject)?.at(-1)?.seq ?? 0;

  return {
    get lastStreamSeq() {
      return log.length;
    },

    async append(kind, id, events, expectedSeq, commandId): Promise<AppendResult> {
      checkEvents(kind, id, events);
      const subject = aggregateSubject(kind, id);
      const seqs: number[] = [];
      let fence = expectedSeq;
      let duplicates = 0;
      for (let i = 0; i < events.length; i++) {
        const msgId = `${commandId}/${i}`;
        const known = msgIds.get(msgId);
        let seq: number;
        if (known !== undefined) {
          seq = known;
          duplicates++;
        } else {
          if (lastOf(subject) !== fence) throw new ConcurrencyError(subject, fence);
          seq = store(subject, encodeEvent(events[i]!));
          msgIds.set(msgId, seq);
        }
        seqs.push(seq);
        fence = seq;
      }
      return { seqs, duplicate: events.length > 0 && duplicates === events.length };
    },

    async load(kind, id, afterSeq = 0) {
      const list = bySubject.get(aggregateSubject(kind, id)) ?? [];
      return list.filter((r) => r.seq > afterSeq).map((r) => decodeEvent(r.body, r.seq));
    },

    async lastSeq(kind, id) {
      return lastOf(aggregateSubject(kind, id));
    },

    async *readAll(opts = {}) {
      const match = opts.filter === undefined ? () => true : subjectMatcher(opts.filter);
      const end = log.length;
      for (let i = Math.max(0, (opts.fromSeq ?? 1) - 1); i < end; i++) {
        const r = log[i]!;
        if (match(r.subject)) yield decodeEvent(r.body, r.seq);
      }
    },

    appendRaw(subject, body) {
      return store(subject, body);
    },
  };
}

function checkEvents(kind: AggregateKind, id: string, events: readonly EventEnvelope[]): void {
  for (const e of events) {
    if (e.aggregateKind !== kind || e.aggregateId !== id) {
      throw new TypeError(`event ${e.id} belongs to ${e.aggregateKind}/${e.aggregateId}, not ${kind}/${id}`);
    }
  }
}

/** NATS subject matching: `*` is one token, a final `>` is one or more. */
export function subjectMatcher(pattern: string): (subject: string) => boolean {
  const p = pattern.split('.');
  return (subject) => {
    const s = subject.split('.');
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '>') return s.length > i;
      if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
    }
    return s.length === p.length;
  };
}
