/**
 * The audit subscriber: a durable consumer (`audit`) on every event that
 * appends each one to the hash-chained record (audit-log.ts).
 *
 * Exactly once, by stream sequence, with no gap:
 * - the record's last streamSeq is the position: at start what the stream
 *   holds beyond it is read in bulk (catchUp), then the durable is
 *   (re)created to deliver from the new streamSeq+1 (see alignDurable);
 * - a delivered event at or below the position is a redelivery: acked, not
 *   written;
 * - an event above position+1 means the messages between were not handed
 *   to us (consumeDurable terminates undecodable messages; a nak-ed event
 *   comes back after later ones): they are read from the stream by sequence
 *   and recorded first, malformed ones as such. So the record holds every
 *   sequence of the stream once, in order, whatever the delivery order;
 * - the event is acknowledged only after its entry is written (and synced,
 *   per the fsync mode).
 * A failed write is fatal (`onFatal`): the process exits and its restart
 * repairs the record's tail.
 */
import { JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ALL_EVENTS_SUBJECT, MalformedEventError, STREAM_NAME, decodeEvent, type RecordedEvent } from '../../events/index.js';
import { readBatches } from '../platform/jetstream-eventstore.js';
import type { Logger } from '../platform/log.js';
import { consumeDurable, type DurableSubscription } from '../platform/subscribe.js';
import { openAuditLog, type AuditLog, type FsyncMode } from './audit-log.js';
import type { AuditHead } from './chain.js';
import { AuditLogFailedError, AuditStreamMismatchError } from './errors.js';

export const AUDIT_DURABLE = 'audit';

export interface AuditSubscriberOptions {
  readonly nc: NatsConnection;
  readonly dir: string;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly streamName?: string;
  readonly durable?: string;
  readonly fsync?: FsyncMode;
  readonly verifyOnOpen?: boolean;
  /** Unacked events in flight (default 256); order does not depend on it. */
  readonly maxAckPending?: number;
  /** Bulk-read what the stream holds beyond the record before consuming (default true). */
  readonly catchUp?: boolean;
  /** Called once when the record can no longer be written; the caller should exit. */
  readonly onFatal?: (err: Error) => void;
}

export interface AuditSubscriber {
  /** The last entry written. */
  readonly head: AuditHead;
  stop(): Promise<void>;
}

const CONSUMER_NOT_FOUND = 10014;
const NO_MESSAGE_FOUND = 10037;

export async function startAuditSubscriber(opts: AuditSubscriberOptions): Promise<AuditSubscriber> {
  const stream = opts.streamName ?? STREAM_NAME;
  const durable = opts.durable ?? AUDIT_DURABLE;
  const log = opts.log.child({ component: 'audit' });
  const record = await openAuditLog({
    dir: opts.dir,
    clock: opts.clock,
    log,
    ...(opts.fsync ? { fsync: opts.fsync } : {}),
    ...(opts.verifyOnOpen ? { verifyOnOpen: true } : {}),
  });
  let sub: DurableSubscription | undefined;
  try {
    const jsm = await jetstreamManager(opts.nc, { checkAPI: false });
    log.info({ head: record.head, path: record.path }, 'audit record opened');
    await checkSameStream(jsm, stream, record);
    if (opts.catchUp ?? true) await catchUp(opts.nc, stream, record, log);
    await alignDurable(jsm, stream, durable, record.head, log);

    let fatal = false;
    const handler = async (e: RecordedEvent) => {
      try {
        await recordInOrder(jsm, stream, record, e, log);
      } catch (err) {
        if (err instanceof AuditLogFailedError && !fatal) {
          fatal = true;
          log.fatal({ err }, 'audit record cannot be written');
          opts.onFatal?.(err);
        }
        throw err;
      }
    };
    sub = await consumeDurable({
      nc: opts.nc,
      streamName: stream,
      durable,
      filterSubject: ALL_EVENTS_SUBJECT,
      deliverFrom: record.head.streamSeq + 1,
      handler,
      log,
      maxAckPending: opts.maxAckPending ?? 256,
    });
  } catch (e) {
    await record.close().catch(() => {});
    throw e;
  }
  const running = sub;
  return {
    get head() {
      return record.head;
    },
    async stop() {
      await running.stop();
      await record.close();
      log.info({ head: record.head }, 'audit record closed');
    },
  };
}

/**
 * Makes the durable deliver from the record's position by creating it
 * afresh there. The record, not the consumer, is the position: an existing
 * durable may have acknowledged beyond the record (restored from a backup,
 * or its unsynced tail lost in an OS crash), or hold up to maxAckPending
 * deliveries to a killed predecessor that would block new deliveries until
 * their ack wait expired. The lock on the record guarantees no other live
 * writer uses this durable (one durable name per record: AUDIT_DURABLE).
 */
async function alignDurable(jsm: JetStreamManager, stream: string, durable: string, head: AuditHead, log: Logger): Promise<void> {
  let info;
  try {
    info = await jsm.consumers.info(stream, durable);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === CONSUMER_NOT_FOUND) return;
    throw e;
  }
  const floor = info.ack_floor.stream_seq;
  if (floor > head.streamSeq) {
    log.warn(
      { recordStreamSeq: head.streamSeq, consumerAckFloor: floor },
      "the audit record is behind its durable consumer; re-reading from the record's position",
    );
  }
  await jsm.consumers.delete(stream, durable);
  log.info({ durable, from: head.streamSeq + 1, unacked: info.num_ack_pending }, 'durable consumer recreated at the record\'s position');
}

/**
 * Refuses to extend a record of another stream: the message at the record's
 * last streamSeq must be the recorded one. Otherwise the stream was replaced
 * (recreated, restored from an older backup) and its sequences mean other
 * events: recording them after this record would skip or misplace them.
 */
async function checkSameStream(jsm: JetStreamManager, stream: string, record: AuditLog): Promise<void> {
  const last = record.last;
  if (!last) return;
  const m = await jsm.streams.getMessage(stream, { seq: last.streamSeq });
  let ok = false;
  if (m) {
    if (last.event === null) ok = Buffer.from(m.data).toString('base64') === last.malformed?.body;
    else {
      try {
        ok = (JSON.parse(new TextDecoder().decode(m.data)) as { id?: unknown }).id === last.event.id;
      } catch {
        ok = false;
      }
    }
  }
  if (!ok) {
    throw new AuditStreamMismatchError(
      `stream ${stream} ${m ? 'holds another message' : 'has no message'} at sequence ${last.streamSeq}, where the audit record ${record.path} ` +
        `recorded ${last.event ? `event ${last.event.id}` : 'a malformed message'}: the stream was replaced; keep this record and start a new one (another AUDIT_DIR)`,
    );
  }
}

/**
 * Catching up: what the stream holds beyond the record is read in bulk and
 * written a batch at a time (one write, one sync per batch), far faster than
 * the consumer's one event, one sync. A message that does not decode ends the
 * bulk read; the consumer then records it (as malformed) and the rest.
 */
async function catchUp(nc: NatsConnection, stream: string, record: AuditLog, log: Logger): Promise<void> {
  const from = record.head.streamSeq + 1;
  const started = performance.now();
  let n = 0;
  try {
    for await (const batch of readBatches({ nc, streamName: stream, fromSeq: from, batch: 1024 })) {
      n += await record.appendMany(batch);
    }
  } catch (err) {
    if (!(err instanceof MalformedEventError)) throw err;
    log.warn({ err: err.message }, 'bulk catch-up stopped at a malformed message; the consumer takes over');
  }
  if (n > 0) log.info({ from, events: n, ms: Math.round(performance.now() - started), head: record.head }, 'caught up from the stream');
}

/** Records `e`, first filling any hole before it from the stream. Idempotent by sequence. */
async function recordInOrder(jsm: JetStreamManager, stream: string, record: AuditLog, e: RecordedEvent, log: Logger): Promise<void> {
  if (e.seq <= record.head.streamSeq) return; // redelivery
  for (let seq = record.head.streamSeq + 1; seq < e.seq; seq++) {
    await recordFromStream(jsm, stream, record, seq, log);
  }
  await record.append(e);
}

async function recordFromStream(jsm: JetStreamManager, stream: string, record: AuditLog, seq: number, log: Logger): Promise<void> {
  let m;
  try {
    m = await jsm.streams.getMessage(stream, { seq });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === NO_MESSAGE_FOUND) m = null;
    else throw e;
  }
  if (!m) {
    // The stream denies deletes, so this is a stream configured otherwise.
    log.error({ seq }, 'the stream has no message at this sequence; the record skips it');
    return;
  }
  let event: RecordedEvent;
  try {
    event = decodeEvent(m.data, m.seq);
  } catch (err) {
    log.error({ err, seq, subject: m.subject }, 'malformed message recorded as such');
    await record.appendMalformed(m.seq, {
      subject: m.subject,
      error: (err as Error).message,
      body: Buffer.from(m.data).toString('base64'),
    });
    return;
  }
  log.info({ seq, type: event.type }, 'recorded an event the consumer had not delivered in order');
  await record.append(event);
}
