/**
 * The EventStore on NATS JetStream: one stream, one subject per aggregate.
 *
 * - append: one publish per event, fenced with `expect.lastSubjectSequence`
 *   (the caller's expected sequence for the first event, the previous event's
 *   sequence for the next) and de-duplicated with msgID `${commandId}/${i}`.
 *   The server checks the msgID before the fence, so a retried command gets
 *   its original sequences back (`duplicate: true`) even with a stale fence.
 *   A multi-event append is not atomic on nats-server 2.9 (no batch publish):
 *   when a fence fails after event 0 was stored, event 0 stays and a retry of
 *   the same command id de-duplicates it.
 * - load: a `last_by_subj` direct get first (one round trip; it answers
 *   "nothing new" without creating anything). Then the aggregate's events
 *   are walked backwards: every event was stored with the fence header
 *   `Nats-Expected-Last-Subject-Sequence`, which the server checked equals
 *   the subject's previous sequence, so each event points at the one before
 *   it; a direct get by sequence follows each pointer. Up to `chainHops`
 *   events are read that way; an older remainder (or the whole range, when
 *   an event carries no pointer) is read through one ephemeral,
 *   memory-backed push consumer filtered on the subject and deleted after.
 *   Why not always the consumer: on nats-server 2.9 a filtered consumer
 *   walks each file block linearly from one match to the next, so its cost
 *   grows with the events of other aggregates interleaved between ours
 *   (measured: a 10-event aggregate spread over 200k events, 4 ms by
 *   consumer, 1.1-1.6 ms by pointers); a get by sequence costs the same
 *   whatever the stream holds.
 * - readAll / readBatches: a bulk reader in stream order over the whole
 *   stream or a subject filter: an ephemeral pull consumer with large
 *   pipelined batches, restarted from the last sequence seen if it goes away
 *   (server restart) or a gap shows, like an ordered consumer. It reads what
 *   the stream held when it started.
 *
 * Stored bodies are `encodeEvent` JSON; every read path decodes with
 * `decodeEvent`, so a malformed body surfaces as MalformedEventError naming
 * its sequence.
 */
import { createInbox, nuid, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import {
  MalformedEventError,
  STREAM_NAME,
  aggregateSubject,
  decodeEvent,
  encodeEvent,
  type AggregateKind,
  type EventEnvelope,
  type RecordedEvent,
} from '../../events/index.js';
import { ConcurrencyError, EventStoreUnavailableError, type AppendResult, type EventStore } from './eventstore.js';
import type { SnapshotStore } from './snapshots.js';

export interface JetStreamEventStoreOptions {
  readonly nc: NatsConnection;
  readonly streamName?: string;
  /** Carried for loadAggregate, which uses it when given no snapshot store of its own. */
  readonly snapshots?: SnapshotStore;
  /** Per publish / API call; also how long a load may wait for its events (default 5 s). */
  readonly timeoutMs?: number;
  /** Events a load reads by following back-pointers before it uses a consumer (default 16). */
  readonly chainHops?: number;
}

export interface JetStreamEventStore extends EventStore {
  readonly streamName: string;
  readonly snapshots: SnapshotStore | undefined;
}

const nanos = (ms: number) => ms * 1_000_000;
/** How long the server keeps a consumer this module lost track of (connection gone mid-read). */
const ORPHAN_CONSUMER_TTL_MS = 10_000;

export function createJetStreamEventStore(opts: JetStreamEventStoreOptions): JetStreamEventStore {
  const { nc } = opts;
  const stream = opts.streamName ?? STREAM_NAME;
  const timeout = opts.timeoutMs ?? 5_000;
  const chainHops = Math.max(1, opts.chainHops ?? 16);
  const js: JetStreamClient = jetstream(nc, { timeout });
  let jsmP: Promise<JetStreamManager> | undefined;
  const jsm = () => (jsmP ??= jetstreamManager(nc, { checkAPI: false, timeout }));

  async function lastSeqOf(subject: string): Promise<number> {
    try {
      const m = await (await jsm()).direct.getMessage(stream, { last_by_subj: subject });
      return m ? m.seq : 0;
    } catch (cause) {
      throw unavailable(`cannot read the last sequence of ${subject}`, cause);
    }
  }

  return {
    streamName: stream,
    snapshots: opts.snapshots,

    async append(kind, id, events, expectedSeq, commandId): Promise<AppendResult> {
      checkEvents(kind, id, events);
      const subject = aggregateSubject(kind, id);
      const seqs: number[] = [];
      let fence = expectedSeq;
      let duplicates = 0;
      for (let i = 0; i < events.length; i++) {
        let ack;
        try {
          ack = await js.publish(subject, encodeEvent(events[i]!), {
            msgID: `${commandId}/${i}`,
            expect: { lastSubjectSequence: fence },
            timeout,
          });
        } catch (cause) {
          if (
            cause instanceof JetStreamApiError &&
            (cause.code === JetStreamApiCodes.StreamWrongLastSequence ||
              cause.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
          ) {
            throw new ConcurrencyError(subject, fence, { cause });
          }
          throw unavailable(`append to ${subject} failed`, cause);
        }
        if (ack.stream !== stream) {
          throw new EventStoreUnavailableError(`subject ${subject} is captured by stream ${ack.stream}, not ${stream}`);
        }
        if (ack.duplicate) duplicates++;
        seqs.push(ack.seq);
        fence = ack.seq;
      }
      return { seqs, duplicate: events.length > 0 && duplicates === events.length };
    },

    async load(kind, id, afterSeq = 0) {
      const subject = aggregateSubject(kind, id);
      const api = await jsm();
      let newest: StoredMsg | null;
      try {
        newest = await api.direct.getMessage(stream, { last_by_subj: subject });
      } catch (cause) {
        throw unavailable(`cannot read the last event of ${subject}`, cause);
      }
      if (!newest || newest.seq <= afterSeq) return [];

      // Newest first, following the fence pointers.
      const tail: RawMsg[] = [{ seq: newest.seq, data: newest.data }];
      let prev = previousSeq(newest);
      try {
        while (prev !== undefined && prev > afterSeq && tail.length < chainHops) {
          const m = await api.direct.getMessage(stream, { seq: prev });
          if (!m || m.subject !== subject) {
            prev = undefined;
            break;
          }
          tail.push({ seq: m.seq, data: m.data });
          prev = previousSeq(m);
        }
      } catch (cause) {
        throw unavailable(`cannot read the events of ${subject}`, cause);
      }
      let raw: RawMsg[];
      if (prev === undefined) {
        // An event without a pointer (not appended by a store): read the whole range.
        raw = await readSubject(nc, api, stream, subject, afterSeq + 1, newest.seq, timeout);
      } else {
        tail.reverse();
        raw = prev > afterSeq ? [...(await readSubject(nc, api, stream, subject, afterSeq + 1, prev, timeout)), ...tail] : tail;
      }
      // Decoded after any consumer is gone, so a malformed event cannot leak one.
      return raw.map((r) => decodeEvent(r.data, r.seq));
    },

    lastSeq(kind, id) {
      return lastSeqOf(aggregateSubject(kind, id));
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

const FENCE_HEADER = 'Nats-Expected-Last-Subject-Sequence';

/**
 * The sequence of the event before `m` on its subject: the fence it was
 * appended with, which the server verified. 0 for an aggregate's first event;
 * undefined when `m` was published without a fence.
 */
function previousSeq(m: StoredMsg): number | undefined {
  const v = m.header?.get(FENCE_HEADER);
  if (!v) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 && n < m.seq ? n : undefined;
}

function unavailable(what: string, cause: unknown): EventStoreUnavailableError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new EventStoreUnavailableError(`${what}: ${detail}`, { cause });
}

interface RawMsg {
  readonly seq: number;
  readonly data: Uint8Array;
}

/** Messages taken from a PullCursor: `bodies[i]` was stored at stream sequence `seqs[i]`. */
interface RawRun {
  readonly seqs: number[];
  readonly bodies: Uint8Array[];
}

/**
 * Delivery metadata parsed from a JetStream reply subject, written into one
 * reused object (this runs once per event on the bulk read path: no
 * allocation, no split). Forms:
 *   $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
 *   $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>]
 */
const ack = { streamSeq: 0, deliverySeq: 0, pending: 0 };
const DOT = 46;

/**
 * Parses a reply subject into `ack`. `prefix` is `$JS.ACK.<stream>.<consumer>.`,
 * the form nats-server 2.9 uses without a domain; anything else takes the
 * general path.
 */
function parseAckSubject(reply: string, prefix: string): boolean {
  let i: number;
  if (reply.startsWith(prefix)) {
    i = prefix.length;
  } else {
    if (!reply.startsWith('$JS.ACK.')) return false;
    let tokens = 1;
    for (let d = reply.indexOf('.'); d !== -1; d = reply.indexOf('.', d + 1)) tokens++;
    if (tokens !== 9 && tokens !== 11 && tokens !== 12) return false;
    // Skip to the <delivered> token: after 4 dots, or 6 with domain and account hash.
    i = 0;
    for (let skip = tokens === 9 ? 4 : 6; skip > 0; skip--) i = reply.indexOf('.', i) + 1;
  }
  const end = reply.length;
  while (i < end && reply.charCodeAt(i) !== DOT) i++; // <delivered>
  let n = 0;
  let c: number;
  for (i++; i < end && (c = reply.charCodeAt(i)) !== DOT; i++) n = n * 10 + (c - 48);
  ack.streamSeq = n;
  n = 0;
  for (i++; i < end && (c = reply.charCodeAt(i)) !== DOT; i++) n = n * 10 + (c - 48);
  ack.deliverySeq = n;
  for (i++; i < end && reply.charCodeAt(i) !== DOT; i++); // <timestamp>
  n = 0;
  for (i++; i < end && (c = reply.charCodeAt(i)) !== DOT; i++) n = n * 10 + (c - 48);
  ack.pending = n;
  return true;
}

/** parseAckSubject for tests and tools: a fresh object, or null when `reply` is no JetStream ack subject. */
export function parseAckReply(reply: string, prefix = ''): { streamSeq: number; deliverySeq: number; pending: number } | null {
  return parseAckSubject(reply, prefix || '\u0000') ? { ...ack } : null;
}

/**
 * A delivered message's reply subject as the bytes it arrived in, when the
 * client keeps them (nats.js 3: `MsgImpl._msg.reply`); undefined otherwise,
 * and for status messages, which have none. Reading the bytes skips a UTF-8
 * decode and a string per event on the bulk read path; callers fall back to
 * `m.reply` when this is undefined, so a client that changes its internals
 * costs speed, not correctness (a test pins the fast path to the client in use).
 */
export function replyBytes(m: Msg): Uint8Array | undefined {
  const r = (m as unknown as { _msg?: { reply?: unknown } })._msg?.reply;
  return r instanceof Uint8Array ? r : undefined;
}

/**
 * parseAckSubject for a reply subject in bytes that starts with `prefix`
 * (`$JS.ACK.<stream>.<consumer>.` as bytes); false for any other form, which
 * the caller then parses as a string.
 */
function parseAckBytes(reply: Uint8Array, prefix: Uint8Array): boolean {
  const p = prefix.length;
  const end = reply.length;
  if (end <= p) return false;
  for (let j = p - 1; j >= 0; j--) if (reply[j] !== prefix[j]) return false;
  let i = p;
  while (i < end && reply[i] !== DOT) i++; // <delivered>
  let n = 0;
  let c: number;
  for (i++; i < end && (c = reply[i]!) !== DOT; i++) n = n * 10 + (c - 48);
  ack.streamSeq = n;
  n = 0;
  for (i++; i < end && (c = reply[i]!) !== DOT; i++) n = n * 10 + (c - 48);
  ack.deliverySeq = n;
  for (i++; i < end && reply[i] !== DOT; i++); // <timestamp>
  n = 0;
  for (i++; i < end && (c = reply[i]!) !== DOT; i++) n = n * 10 + (c - 48);
  ack.pending = n;
  return true;
}

/** A short random name: consumer names travel in every delivered message's reply subject. */
function shortName(prefix: string): string {
  return `${prefix}${nuid.next().slice(-10)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * Reads one subject's messages from `fromSeq` up to and including `lastSeq`
 * (which must exist on the subject) through a push consumer that starts
 * delivering as it is created: one round trip for the create, the delete is
 * not waited for.
 */
async function readSubject(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  fromSeq: number,
  lastSeq: number,
  timeoutMs: number,
): Promise<RawMsg[]> {
  const name = shortName('ld');
  const ackPrefix = `$JS.ACK.${stream}.${name}.`;
  const inbox = createInbox();
  const out: RawMsg[] = [];
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let expectDelivery = 1;
      const fail = (e: Error) => reject(e);
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => fail(new EventStoreUnavailableError(`load of ${subject} stalled after ${out.length} events (timeout ${timeoutMs} ms)`)),
          timeoutMs,
        );
      };
      arm();
      sub = nc.subscribe(inbox, {
        callback: (err: Error | null, m: Msg) => {
          if (err) return fail(unavailable(`load of ${subject} failed`, err));
          if (!m.reply || !parseAckSubject(m.reply, ackPrefix)) return; // a status message; this consumer asks for none
          const seq = ack.streamSeq;
          if (ack.deliverySeq !== expectDelivery || seq < fromSeq || seq > lastSeq) {
            return fail(new EventStoreUnavailableError(`load of ${subject}: unexpected delivery ${ack.deliverySeq} of seq ${seq}`));
          }
          expectDelivery++;
          out.push({ seq, data: m.data });
          if (seq === lastSeq) resolve();
          else arm();
        },
      });
      const config: Partial<ConsumerConfig> = {
        name,
        deliver_subject: inbox,
        filter_subject: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: fromSeq,
        ack_policy: AckPolicy.None,
        max_deliver: 1,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(ORPHAN_CONSUMER_TTL_MS),
      };
      jsm.consumers.add(stream, config).catch((cause) => fail(unavailable(`load of ${subject}: cannot create a consumer`, cause)));
    });
  } finally {
    clearTimeout(timer);
    sub?.unsubscribe();
    // Deleted whether or not the create's answer arrived: a create that
    // succeeded late must not linger until its inactive threshold.
    jsm.consumers.delete(stream, name).catch(() => {});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Bulk reads

export interface ReadAllOptions {
  readonly nc: NatsConnection;
  readonly streamName?: string;
  /** A subject filter (wildcards allowed); the whole stream when absent. */
  readonly filter?: string;
  /** First stream sequence to read (default 1). */
  readonly fromSeq?: number;
  /** Called after each batch with the last sequence read and the count so far. */
  readonly onProgress?: (p: ReadProgress) => void;
  /** Messages per pull request; two are kept in flight (default 4096). */
  readonly batch?: number;
  /** Fail when nothing (not even a heartbeat) arrives for this long (default 10 s). */
  readonly idleTimeoutMs?: number;
  /** Consumer restarts allowed after a server restart or a gap (default 5). */
  readonly maxRestarts?: number;
  /** Body decoder (default decodeEvent); must throw MalformedEventError like it. */
  readonly decode?: (body: Uint8Array, seq: number) => RecordedEvent;
  /**
   * Given, a malformed event is handed to it and left out of the batches
   * instead of ending the read (readBatches only): for readers that must not
   * stall on one bad message, as the durable subscribers do not.
   */
  readonly onMalformed?: (err: MalformedEventError, seq: number) => void;
}

export interface ReadProgress {
  readonly seq: number;
  readonly count: number;
  /** Events still to read, as the server counts them. */
  readonly pending: number;
}

/**
 * Every event of the stream (or filter) in stream order, as it stood when the
 * read began. Hands out readBatches' arrays one event at a time from a plain
 * iterator: ~0.07 µs an event, where an async generator's `yield*` costs ~0.3.
 * Breaking out of the loop closes the read (and deletes its consumer).
 */
export function readAll(opts: ReadAllOptions): AsyncIterableIterator<RecordedEvent> {
  const batches = readBatches(opts);
  let batch: RecordedEvent[] = [];
  let i = 0;
  const done = (): IteratorResult<RecordedEvent> => ({ value: undefined, done: true });
  const it: AsyncIterableIterator<RecordedEvent> = {
    next() {
      if (i < batch.length) return Promise.resolve({ value: batch[i++]!, done: false });
      return batches.next().then((r) => {
        if (r.done) return done();
        batch = r.value;
        i = 0;
        return it.next();
      });
    },
    return() {
      batch = [];
      return batches.return(undefined).then(done);
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

/**
 * Events per yielded batch: a run taken from the cursor is decoded and handed
 * out in slices this long, so the events decoded ahead of the fold stay few
 * (they die young instead of surviving a scavenge).
 */
const YIELD_CHUNK = 256;

/**
 * readAll in batches (of at most YIELD_CHUNK events): the fast form for
 * replays and projector rebuilds, which pays one await per batch instead of
 * one per event. Decoding happens here, in the caller's loop, so a slow fold
 * slows the pulls down too.
 */
export async function* readBatches(opts: ReadAllOptions): AsyncGenerator<RecordedEvent[], void, undefined> {
  const stream = opts.streamName ?? STREAM_NAME;
  const batch = opts.batch ?? 4096;
  const idleMs = opts.idleTimeoutMs ?? 10_000;
  const maxRestarts = opts.maxRestarts ?? 5;
  const decode = opts.decode ?? decodeEvent;
  const jsm = await jetstreamManager(opts.nc, { checkAPI: false });

  // The read ends at the last event (matching the filter) when it began.
  // Not at "nothing pending": nats-server 2.9's filtered pending counts can
  // be off for a while after a restart (seen: 5 too many).
  let target: number;
  try {
    if (opts.filter === undefined || opts.filter === '>') {
      target = (await jsm.streams.info(stream)).state.last_seq;
    } else {
      target = (await jsm.direct.getMessage(stream, { last_by_subj: opts.filter }))?.seq ?? 0;
    }
  } catch (cause) {
    throw unavailable(`cannot read stream ${stream}`, cause);
  }
  let next = Math.max(1, opts.fromSeq ?? 1);
  let count = 0;
  let restarts = 0;
  while (next <= target) {
    const cursor = new PullCursor(opts.nc, jsm, stream, opts.filter, next, batch, idleMs);
    try {
      await cursor.open();
      for (;;) {
        const { seqs, bodies } = await cursor.take();
        let stop = false;
        for (let from = 0; from < seqs.length && !stop; from += YIELD_CHUNK) {
          const end = Math.min(seqs.length, from + YIELD_CHUNK);
          const out: RecordedEvent[] = new Array(end - from);
          let n = 0;
          let last = 0;
          for (let j = from; j < end; j++) {
            const seq = seqs[j]!;
            if (seq > target) {
              stop = true;
              break;
            }
            last = seq;
            if (!opts.onMalformed) {
              out[n++] = decode(bodies[j]!, seq);
              continue;
            }
            let e: RecordedEvent;
            try {
              e = decode(bodies[j]!, seq);
            } catch (err) {
              if (!(err instanceof MalformedEventError)) throw err;
              opts.onMalformed(err, seq);
              continue;
            }
            out[n++] = e;
          }
          out.length = n;
          if (last > 0) next = last + 1;
          if (n > 0) {
            count += n;
            opts.onProgress?.({ seq: next - 1, count, pending: cursor.pending });
            yield out;
          }
        }
        if (stop || next > target) return;
        restarts = 0;
      }
    } catch (e) {
      if (!(e instanceof CursorLost) || ++restarts > maxRestarts) {
        throw e instanceof CursorLost ? unavailable(`reading stream ${stream} failed at seq ${next}`, e) : e;
      }
      await sleep(Math.min(2_000, 100 * 2 ** restarts));
    } finally {
      cursor.close();
    }
  }
}

/** The cursor cannot go on; reopen it from the last sequence seen. */
class CursorLost extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CursorLost';
  }
}

/**
 * One ephemeral pull consumer read in order. Two pull requests of `batch`
 * messages are kept in flight; a new one is sent when what was received but
 * not yet taken plus what is still requested falls below one batch, so a slow
 * reader holds back the server instead of buffering the stream.
 */
class PullCursor {
  readonly name = shortName('ra');
  private readonly ackPrefix: string;
  private readonly ackPrefixBytes: Uint8Array;
  private readonly inbox = createInbox();
  private sub: Subscription | undefined;
  /** Received, not yet taken: stream sequences and bodies, side by side (no object per event). */
  private seqs: number[] = [];
  private bodies: Uint8Array[] = [];
  private requested = 0;
  private deliveries = 0;
  private lastStreamSeq = 0;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private activity = 0;
  private seenActivity = -1;
  private idleTicks = 0;
  private readonly enc = new TextEncoder();
  /** The server's count of events after the last one received (a hint: see readBatches). */
  pending = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly filter: string | undefined,
    private readonly startSeq: number,
    private readonly batch: number,
    private readonly idleMs: number,
  ) {
    this.ackPrefix = `$JS.ACK.${stream}.${this.name}.`;
    this.ackPrefixBytes = this.enc.encode(this.ackPrefix);
  }

  async open(): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      name: this.name,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.startSeq,
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(Math.max(ORPHAN_CONSUMER_TTL_MS, this.idleMs * 2)),
    };
    if (this.filter !== undefined && this.filter !== '>') config.filter_subject = this.filter;
    let ci;
    try {
      ci = await this.jsm.consumers.add(this.stream, config);
    } catch (cause) {
      throw new CursorLost(`cannot create a consumer on ${this.stream}`, { cause });
    }
    this.pending = ci.num_pending;
    this.sub = this.nc.subscribe(this.inbox, { callback: (err, m) => this.onMsg(err, m) });
    this.idleTimer = setInterval(() => this.checkIdle(), Math.max(50, this.idleMs / 4));
    this.maybePull();
  }

  /** The next run of messages, in order; waits for at least one. The caller knows where to stop. */
  async take(): Promise<RawRun> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.seqs.length > 0) {
        const out = { seqs: this.seqs, bodies: this.bodies };
        this.seqs = [];
        this.bodies = [];
        this.maybePull();
        return out;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  close(): void {
    clearInterval(this.idleTimer);
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.jsm.consumers.delete(this.stream, this.name).catch(() => {});
  }

  private onMsg(err: Error | null, m: Msg): void {
    if (this.failure) return;
    if (err) return this.fail(new CursorLost('subscription failed', { cause: err }));
    this.activity++;
    const rb = replyBytes(m);
    if (rb === undefined || !parseAckBytes(rb, this.ackPrefixBytes)) {
      const reply = m.reply;
      if (!reply) return this.onStatus(m);
      if (!parseAckSubject(reply, this.ackPrefix)) return;
    }
    if (ack.deliverySeq !== this.deliveries + 1 || ack.streamSeq <= this.lastStreamSeq) {
      return this.fail(new CursorLost(`gap: delivery ${ack.deliverySeq} after ${this.deliveries}`));
    }
    this.deliveries = ack.deliverySeq;
    this.lastStreamSeq = ack.streamSeq;
    this.pending = ack.pending;
    this.requested--;
    this.seqs.push(ack.streamSeq);
    this.bodies.push(m.data);
    // The reader resumes on a microtask, after the rest of this socket read is parsed.
    this.resume();
  }

  /** A status message: 100 idle heartbeat, 404/408 a pull request ended short. */
  private onStatus(m: Msg): void {
    const h = m.headers;
    const code = h?.code ?? 0;
    if (code === 404 || code === 408) {
      const left = Number(h?.get('Nats-Pending-Messages') ?? 0);
      this.requested = Math.max(0, this.requested - (left > 0 ? left : this.batch));
      this.maybePull();
    } else if (code >= 400) {
      // 409: consumer deleted (server restart) or a limit; anything else is unexpected too.
      this.fail(new CursorLost(`consumer ${this.name}: ${code} ${h?.description ?? ''}`));
    }
  }

  private resume(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private maybePull(): void {
    // Two batches cap what may pile up unread. Requests left over at the end
    // die with the consumer.
    while (this.sub && this.requested + this.seqs.length < this.batch * 2) {
      this.requested += this.batch;
      this.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.name}`,
        this.enc.encode(JSON.stringify({ batch: this.batch, expires: nanos(this.idleMs * 3), idle_heartbeat: nanos(Math.max(500, this.idleMs / 4)) })),
        { reply: this.inbox },
      );
    }
  }

  /**
   * Idle only counts while a pull request is outstanding: then the server
   * sends messages or heartbeats. A reader that is slow to take() has no
   * request out and is never idle.
   */
  private checkIdle(): void {
    if (this.requested <= 0 || this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.idleTicks = 0;
      return;
    }
    if (++this.idleTicks >= 4) this.fail(new CursorLost(`no message or heartbeat for ${this.idleMs} ms`));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    clearInterval(this.idleTimer);
    this.resume();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
