/**
 * Durable subscribers (projector, placement, audit): a durable pull consumer
 * on the event stream whose events are handed to `handler` one at a time, in
 * stream order.
 *
 * Delivery is at least once: an event is acked after its handler resolved;
 * an ack lost to a server crash means the event comes again, so handlers
 * must be idempotent (e.g. skip events at or below a sequence they already
 * folded). Message handling maps errors once, here:
 * - handler resolved  -> ack;
 * - handler threw     -> nak with a growing delay (logged); the event is
 *   redelivered later. Events behind it keep flowing, so with
 *   maxAckPending > 1 a redelivered event arrives after later ones; pass
 *   maxAckPending: 1 where strict order under failure matters more than
 *   throughput;
 * - body undecodable  -> term (logged): a malformed event must not block
 *   the stream for ever.
 *
 * The consume loop outlives nats-server restarts: the client reconnects, the
 * pull resumes, and if the consumer itself is gone it is created again.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type ConsumerConfig, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM_NAME, decodeEvent, type RecordedEvent } from '../../events/index.js';
import type { Logger } from './log.js';

export interface ConsumeDurableOptions {
  readonly nc: NatsConnection;
  readonly streamName?: string;
  /** The durable consumer's name; its position survives restarts of both sides. */
  readonly durable: string;
  readonly filterSubject?: string;
  /** Where a new durable starts: every event (default), only new ones, or a stream sequence. Ignored when it exists. */
  readonly deliverFrom?: 'all' | 'new' | number;
  /** Handles one event at a time; exactly one of handler and batchHandler is given. */
  readonly handler?: (event: RecordedEvent) => void | Promise<void>;
  /**
   * Handles the events that have arrived together (in stream order, at most
   * maxBatch): all are acked when it resolves, all nak-ed when it throws.
   * For subscribers whose work per event is cheaper than a round trip, such
   * as the projector, which writes each read-model key once per batch.
   */
  readonly batchHandler?: (events: readonly RecordedEvent[]) => void | Promise<void>;
  /** Most events in one batchHandler call (default 256). */
  readonly maxBatch?: number;
  /**
   * Batch mode: hold the acks of handled batches up to this long (or until
   * a quarter of maxAckPending wait) and send them together, in one write
   * to the server (default 0: at once). Under a trickle of events a batch is
   * one event, and its ack was a write of its own on both sides; held, the
   * acks of many share one. A crash loses only held acks, whose events come
   * again: for idempotent handlers only.
   */
  readonly ackDelayMs?: number;
  readonly log: Logger;
  /** Redelivery when an ack does not arrive (default 30 s). Up to 64 events wait in the client buffer, so handlers must be well under a 64th of it. */
  readonly ackWaitMs?: number;
  /** Unacked events the server lets out at once (default 256). */
  readonly maxAckPending?: number;
  /** Nak delay for the nth delivery that failed (default 1 s doubling, capped at 30 s). */
  readonly nakDelayMs?: (deliveryCount: number) => number;
}

export interface DurableSubscription {
  /** Stops pulling, lets the event in hand finish, and returns. The durable stays. */
  stop(): Promise<void>;
}

const nanos = (ms: number) => ms * 1_000_000;
const defaultNakDelay = (n: number) => Math.min(30_000, 1_000 * 2 ** Math.max(0, n - 1));

export async function consumeDurable(opts: ConsumeDurableOptions): Promise<DurableSubscription> {
  const stream = opts.streamName ?? STREAM_NAME;
  const log = opts.log.child({ component: 'consumer', stream, durable: opts.durable });
  const nakDelay = opts.nakDelayMs ?? defaultNakDelay;
  const js = jetstream(opts.nc);
  const jsm = await jetstreamManager(opts.nc, { checkAPI: false });
  const maxAckPending = opts.maxAckPending ?? 256;
  if (!opts.handler === !opts.batchHandler) throw new Error('consumeDurable: give exactly one of handler and batchHandler');

  const config: Partial<ConsumerConfig> = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(opts.ackWaitMs ?? 30_000),
    max_ack_pending: maxAckPending,
    max_deliver: -1,
    ...deliverPolicy(opts.deliverFrom ?? 'all'),
    ...(opts.filterSubject ? { filter_subject: opts.filterSubject } : {}),
  };
  await ensureDurable(jsm, stream, config, log);

  let stopped = false;
  let messages: ConsumerMessages | undefined;

  // Batch mode's held acks (ackDelayMs): sent in one synchronous run, so the client writes them at once.
  const ackDelayMs = opts.ackDelayMs ?? 0;
  const ackFlushAt = Math.max(1, Math.floor(maxAckPending / 4));
  let heldAcks: JsMsg[] = [];
  let ackTimer: NodeJS.Timeout | null = null;
  function sendHeldAcks(): void {
    if (ackTimer) clearTimeout(ackTimer);
    ackTimer = null;
    const ms = heldAcks;
    heldAcks = [];
    for (const m of ms) m.ack();
  }
  function ackBatch(ms: readonly JsMsg[]): void {
    if (ackDelayMs <= 0) {
      for (const m of ms) m.ack();
      return;
    }
    heldAcks.push(...ms);
    if (heldAcks.length >= ackFlushAt) sendHeldAcks();
    else ackTimer ??= setTimeout(sendHeldAcks, ackDelayMs);
  }

  async function handle(m: JsMsg): Promise<void> {
    let event: RecordedEvent;
    try {
      event = decodeEvent(m.data, m.seq);
    } catch (err) {
      log.error({ err, seq: m.seq, subject: m.subject }, 'malformed event terminated');
      // No reason text: nats-server 2.9 only recognises a bare "+TERM" and
      // silently ignores "+TERM <reason>", redelivering the message for ever.
      m.term();
      return;
    }
    try {
      await opts.handler!(event);
    } catch (err) {
      const delay = nakDelay(m.info.deliveryCount);
      log.warn({ err, seq: m.seq, type: event.type, deliveries: m.info.deliveryCount, retryInMs: delay }, 'handler failed; event nak-ed');
      m.nak(delay);
      return;
    }
    m.ack();
  }

  /** Batch mode: decodes (terminating what is malformed), hands the rest over at once, acks or naks them together. */
  async function handleBatch(ms: readonly JsMsg[]): Promise<void> {
    const good: JsMsg[] = [];
    const events: RecordedEvent[] = [];
    for (const m of ms) {
      try {
        events.push(decodeEvent(m.data, m.seq));
        good.push(m);
      } catch (err) {
        log.error({ err, seq: m.seq, subject: m.subject }, 'malformed event terminated');
        m.term();
      }
    }
    if (events.length === 0) return;
    try {
      await opts.batchHandler!(events);
    } catch (err) {
      const deliveries = Math.max(...good.map((m) => m.info.deliveryCount));
      const delay = nakDelay(deliveries);
      log.warn({ err, seqs: [good[0]!.seq, good.at(-1)!.seq], events: good.length, deliveries, retryInMs: delay }, 'batch handler failed; events nak-ed');
      for (const m of good) m.nak(delay);
      return;
    }
    ackBatch(good);
  }

  /**
   * Batch mode's pump: messages are queued as they arrive and handed over
   * in batches of whatever has arrived, one batch at a time, in order.
   * Resolves when the messages end and the last batch is handled.
   */
  async function pumpBatches(msgs: ConsumerMessages, onMessage: () => void): Promise<void> {
    const maxBatch = opts.maxBatch ?? 256;
    const queue: JsMsg[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const wakeWorker = () => {
      const w = wake as (() => void) | null;
      wake = null;
      w?.();
    };
    // The worker never rejects unobserved: handleBatch catches the handler's
    // errors, and anything else it throws (acks and naks do not today) ends
    // this consume, like a throw in the one-at-a-time loop, and is rethrown
    // below; the queued events were not acked and come again.
    let failure: unknown = null;
    const worker = (async () => {
      for (;;) {
        if (queue.length === 0) {
          if (ended || stopped) return;
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        try {
          await handleBatch(queue.splice(0, maxBatch));
        } catch (err) {
          failure = err;
          await msgs.close().catch(() => {});
          return;
        }
      }
    })();
    try {
      for await (const m of msgs) {
        if (failure) break;
        queue.push(m);
        onMessage();
        wakeWorker();
      }
    } finally {
      ended = true;
      wakeWorker();
      await worker;
    }
    if (failure) throw failure;
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(stream, opts.durable);
        // A small client buffer: buffered events are already out on the server's
        // ack clock, so a slow handler must not sit on hundreds of them.
        // Batch mode takes up to a batch at a time.
        const buffered = opts.batchHandler ? Math.min(maxAckPending, opts.maxBatch ?? 256) : Math.min(maxAckPending, 64);
        messages = await consumer.consume({ max_messages: buffered, expires: 10_000 });
        if (stopped) break;
        watch(messages);
        if (opts.batchHandler) {
          await pumpBatches(messages, () => {
            failures = 0;
          });
        } else {
          for await (const m of messages) {
            await handle(m);
            failures = 0;
            if (stopped) break;
          }
        }
      } catch (err) {
        if (stopped) break;
        failures++;
        log.warn({ err, failures }, 'consume loop interrupted; resuming');
      } finally {
        await messages?.close().catch(() => {});
        messages = undefined;
      }
      if (stopped) break;
      await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      // The consumer may be gone (lost with a server's state): make sure it exists.
      await ensureDurable(jsm, stream, config, log).catch((err: unknown) => log.warn({ err }, 'cannot ensure durable consumer'));
    }
  }

  /** Ends the current consume when the server says the consumer is gone, so the loop recreates it. */
  function watch(msgs: ConsumerMessages): void {
    void (async () => {
      for await (const s of msgs.status()) {
        if (s.type === 'consumer_deleted' || (s.type === 'consumer_not_found' && s.count >= 3)) {
          log.warn({ status: s.type }, 'durable consumer gone; recreating');
          await msgs.close().catch(() => {});
          return;
        }
      }
    })().catch(() => {});
  }

  const done = loop();
  return {
    async stop() {
      stopped = true;
      await messages?.close().catch(() => {});
      await done;
      sendHeldAcks();
    },
  };
}

function deliverPolicy(from: 'all' | 'new' | number): Partial<ConsumerConfig> {
  if (from === 'all') return { deliver_policy: DeliverPolicy.All };
  if (from === 'new') return { deliver_policy: DeliverPolicy.New };
  return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from };
}

/**
 * Creates the durable, or accepts the existing one. Where an existing
 * durable differs in what may change (ack wait, max ack pending), it is
 * updated; its start position and filter are kept, and a different filter is
 * logged as an error because events would be missed or doubled.
 */
async function ensureDurable(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig>, log: Logger): Promise<void> {
  const name = config.durable_name!;
  let existing;
  try {
    existing = await jsm.consumers.info(stream, name);
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  if (!existing) {
    await jsm.consumers.add(stream, config);
    log.info({ config: { ...config, ack_wait: undefined } }, 'durable consumer created');
    return;
  }
  const have = existing.config;
  if ((have.filter_subject ?? '') !== (config.filter_subject ?? '')) {
    log.error({ have: have.filter_subject, want: config.filter_subject }, 'durable consumer exists with another filter; keeping it');
  }
  if (have.ack_wait !== config.ack_wait || have.max_ack_pending !== config.max_ack_pending) {
    await jsm.consumers.update(stream, name, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
