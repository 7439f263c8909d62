/**
 * The JetStream event store against a real nats-server (2.9.10 here), started
 * for this file on free ports with its own store dir: the EventStore
 * contract, the stream's configuration, load's consumer hygiene, bulk reads,
 * malformed events, the command loop, snapshots and durable subscribers,
 * including one that lives through a kill -9 of the server.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MalformedEventError, STREAM_NAME, aggregateSubject, decodeEvent, encodeEvent, envelope, kindSubject, type EventEnvelope, type RecordedEvent } from '../../events/index.js';
import { executeCommand, loadAggregate } from '../../services/platform/aggregate.js';
import { ConcurrencyError, EventStoreUnavailableError, type EventStore } from '../../services/platform/eventstore.js';
import { createJetStreamEventStore, parseAckReply, readAll, readBatches, replyBytes } from '../../services/platform/jetstream-eventstore.js';
import type { Logger } from '../../services/platform/log.js';
import { connectNats } from '../../services/platform/nats.js';
import { createSnapshotStore, snapshotKey, type SnapshotStore } from '../../services/platform/snapshots.js';
import { ensureStream } from '../../services/platform/stream.js';
import { consumeDurable } from '../../services/platform/subscribe.js';
import { eventStoreContract, sampleEvents } from '../support/eventstore-contract.js';
import { startNats, type NatsServer } from '../support/servers.js';

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let store: EventStore;

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ servers: nats.url, name: 'eventstore-it' });
  jsm = await jetstreamManager(nc);
  await ensureStream(jsm);
  store = createJetStreamEventStore({ nc });
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

eventStoreContract('jetstream', () => store);

function captureLog(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const consumerCount = async () => (await jsm.streams.info(STREAM_NAME)).state.consumer_count;

async function appendFresh(id: string, n: number, tag = 'e'): Promise<number[]> {
  const last = await store.lastSeq('container', id);
  return [...(await store.append('container', id, sampleEvents(id, n, tag), last, `cmd-${randomUUID()}`)).seqs];
}

describe('reply subject parsing', () => {
  it('reads stream sequence, delivery sequence and pending from both ack subject forms', () => {
    const want = { streamSeq: 1234567, deliverySeq: 89, pending: 0 };
    expect(parseAckReply('$JS.ACK.ZUN_EVENTS.ra1.1.1234567.89.1700000000000000000.0')).toEqual(want);
    expect(parseAckReply('$JS.ACK.ZUN_EVENTS.ra1.1.1234567.89.1700000000000000000.0', '$JS.ACK.ZUN_EVENTS.ra1.')).toEqual(want);
    expect(parseAckReply('$JS.ACK.hub.ACCHASH.ZUN_EVENTS.ra1.3.1234567.89.1700000000000000000.0')).toEqual(want);
    expect(parseAckReply('$JS.ACK.hub.ACCHASH.ZUN_EVENTS.ra1.3.1234567.89.1700000000000000000.0.tok')).toEqual(want);
    expect(parseAckReply('$JS.ACK.S.c.1.5.6.17.42')).toEqual({ streamSeq: 5, deliverySeq: 6, pending: 42 });
    expect(parseAckReply('_INBOX.abc')).toBeNull();
    expect(parseAckReply('$JS.ACK.too.short')).toBeNull();
  });
});

describe('reply subject bytes', () => {
  it('come straight from the client in use (the bulk reader\'s fast path), and equal the reply subject', async () => {
    const id = randomUUID();
    await appendFresh(id, 1);
    const inbox = createInbox();
    const got: Msg[] = [];
    const sub = nc.subscribe(inbox, { callback: (_err, m) => void got.push(m) });
    const name = `rb${id.slice(0, 8)}`;
    // A JetStream delivery: the server refuses $JS.ACK reply subjects from clients.
    await jsm.consumers.add(STREAM_NAME, {
      name, deliver_subject: inbox, filter_subject: aggregateSubject('container', id), ack_policy: AckPolicy.None, mem_storage: true,
    });
    try {
      await until('the delivery', () => got.length === 1);
      const m = got[0]!;
      expect(m.reply?.startsWith(`$JS.ACK.${STREAM_NAME}.${name}.1.`)).toBe(true);
      const bytes = replyBytes(m);
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(new TextDecoder().decode(bytes)).toBe(m.reply);
    } finally {
      sub.unsubscribe();
      await jsm.consumers.delete(STREAM_NAME, name);
    }
    const plain = await new Promise<Msg>((resolve) => {
      nc.subscribe(inbox, { max: 1, callback: (_err, m) => resolve(m) });
      nc.publish(inbox, 'no reply');
    });
    expect(replyBytes(plain)).toBeUndefined();
  });
});

describe('stream', () => {
  it('is file-backed, denies delete and purge, allows direct get, and has no limits', async () => {
    const { config } = await jsm.streams.info(STREAM_NAME);
    expect(config).toMatchObject({
      subjects: ['zun.evt.>'],
      storage: 'file',
      deny_delete: true,
      deny_purge: true,
      allow_direct: true,
      discard: 'old',
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      max_msgs_per_subject: -1,
      num_replicas: 1,
      duplicate_window: 120_000_000_000,
    });
    await expect(jsm.streams.purge(STREAM_NAME)).rejects.toThrow(/purge not permitted/);
    await expect(jsm.streams.deleteMessage(STREAM_NAME, 1)).rejects.toThrow(/delete not permitted/);
  });

  it('is ensured idempotently, and updated where it differs', async () => {
    const a = await ensureStream(jsm);
    expect(a.config.duplicate_window).toBe(120_000_000_000);
    const b = await ensureStream(jsm, { duplicateWindowMs: 60_000 });
    expect(b.config.duplicate_window).toBe(60_000_000_000);
    const c = await ensureStream(jsm);
    expect(c.config.duplicate_window).toBe(120_000_000_000);
    expect(c.state.last_seq).toBe(a.state.last_seq);
  });

  it('treats expected last subject sequence 0 as "no message on this subject yet"', async () => {
    const js = jetstream(nc);
    const id = randomUUID();
    const subject = aggregateSubject('container', id);
    const [a, b] = sampleEvents(id, 2).map(encodeEvent);
    const first = await js.publish(subject, a, { expect: { lastSubjectSequence: 0 }, msgID: randomUUID() });
    expect(first.duplicate).toBe(false);
    await expect(js.publish(subject, b, { expect: { lastSubjectSequence: 0 }, msgID: randomUUID() })).rejects.toMatchObject({ code: 10071 });
  });
});

describe('load', () => {
  it('reads an aggregate among many in about 2 ms, by back-pointers or by consumer, and leaves no consumer behind', async () => {
    const ids = Array.from({ length: 20 }, () => randomUUID());
    // Interleaved, as aggregates are in a live stream.
    for (let round = 0; round < 10; round++) await Promise.all(ids.map((id) => appendFresh(id, 1, `r${round}`)));
    const byConsumer = createJetStreamEventStore({ nc, chainHops: 1 });
    for (const [name, s] of [['back-pointers', store], ['consumer', byConsumer]] as const) {
      const times: number[] = [];
      for (let i = 0; i < 100; i++) {
        const id = ids[i % ids.length]!;
        const t = performance.now();
        const events = await s.load('container', id);
        times.push(performance.now() - t);
        expect(events.map((e) => e.id.split('-')[0])).toEqual(Array.from({ length: 10 }, (_, k) => `r${k}`));
      }
      times.sort((a, b) => a - b);
      console.log(`load of a 10-event aggregate (${name}): median ${times[50]!.toFixed(2)} ms, p90 ${times[90]!.toFixed(2)} ms`);
      expect(times[50]).toBeLessThan(20);
    }
    await until('load consumers gone', async () => (await consumerCount()) === 0, 3_000);
  });

  it('reads the same events whichever way, from any afterSeq', async () => {
    const id = randomUUID();
    for (let i = 0; i < 7; i++) await appendFresh(id, 1 + (i % 3));
    const all = await store.load('container', id);
    expect(all).toHaveLength(13);
    for (const hops of [1, 2, 5, 12, 13, 100]) {
      const s = createJetStreamEventStore({ nc, chainHops: hops });
      expect(await s.load('container', id)).toEqual(all);
      for (const k of [0, 3, 11, 12]) expect(await s.load('container', id, all[k]!.seq)).toEqual(all.slice(k + 1));
      expect(await s.load('container', id, all[3]!.seq + 1)).toEqual(all.filter((e) => e.seq > all[3]!.seq + 1));
    }
  });

  it('falls back to a consumer when an event carries no back-pointer', async () => {
    const id = randomUUID();
    const subject = aggregateSubject('container', id);
    const first = await appendFresh(id, 2);
    // Published outside the store: valid, but unfenced.
    const [loose] = sampleEvents(id, 1, 'loose');
    const raw = await jetstream(nc).publish(subject, encodeEvent(loose!));
    await store.append('container', id, sampleEvents(id, 2, 'after'), raw.seq, `cmd-${randomUUID()}`);
    const events = await store.load('container', id);
    expect(events.map((e) => e.id.split('-')[0])).toEqual(['e', 'e', 'loose', 'after', 'after']);
    expect(events[0]!.seq).toBe(first[0]);
    expect((await store.load('container', id, first[1]!)).map((e) => e.id.split('-')[0])).toEqual(['loose', 'after', 'after']);
    await until('consumers gone', async () => (await consumerCount()) === 0, 3_000);
  });

  it('answers an aggregate without events from a direct get, creating no consumer', async () => {
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      expect(await store.load('container', randomUUID())).toEqual([]);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`load of an aggregate with no events: median ${times[25]!.toFixed(3)} ms`);
    expect(await consumerCount()).toBe(0);
  });

  it('reads only what follows afterSeq', async () => {
    const id = randomUUID();
    const seqs = await appendFresh(id, 6);
    expect((await store.load('container', id, seqs[3]!)).map((e) => e.seq)).toEqual(seqs.slice(4));
  });
});

describe('readAll', () => {
  it('reads the whole stream in order, in pipelined batches, and cleans up', async () => {
    const ids = Array.from({ length: 7 }, () => randomUUID());
    for (let round = 0; round < 5; round++) await Promise.all(ids.map((id) => appendFresh(id, 2)));
    const { state } = await jsm.streams.info(STREAM_NAME);
    const progress: number[] = [];
    const seqs: number[] = [];
    for await (const e of readAll({ nc, batch: 7, onProgress: (p) => progress.push(p.count) })) seqs.push(e.seq);
    expect(seqs).toHaveLength(state.messages);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    expect(seqs.at(-1)).toBe(state.last_seq);
    expect(progress.at(-1)).toBe(state.messages);

    const batches: RecordedEvent[][] = [];
    for await (const b of readBatches({ nc })) batches.push(b);
    expect(batches.flat().map((e) => e.seq)).toEqual(seqs);
    await until('readAll consumers gone', async () => (await consumerCount()) === 0, 3_000);
  });

  it('reads a subject filter from a sequence, and stops where the stream stood when it began', async () => {
    const id = randomUUID();
    const seqs = await appendFresh(id, 5);
    const got: number[] = [];
    for await (const e of readAll({ nc, filter: aggregateSubject('container', id), fromSeq: seqs[1]! })) {
      got.push(e.seq);
      // Appends during the read are not part of it.
      if (got.length === 1) await appendFresh(id, 1);
    }
    expect(got).toEqual(seqs.slice(1));
    const kinds = new Set<string>();
    for await (const e of readAll({ nc, filter: kindSubject('capsule') })) kinds.add(e.aggregateKind);
    expect([...kinds]).toEqual(['capsule']);
  });

  it('hands out batches of at most 256 events, decoded to the envelopes that were appended', async () => {
    const id = randomUUID();
    const subject = aggregateSubject('container', id);
    // 700 events published as fast as the server takes them (no fences), some
    // with a correlation and a cause of their own, so both body forms occur.
    const sent: EventEnvelope[] = Array.from({ length: 700 }, (_, i) =>
      envelope({ type: 'ContainerStarted', data: { dockerId: `d${i}` } }, { id: `bulk-${i}`, aggregateKind: 'container', aggregateId: id }, {
        projectId: 'p', userId: 'u', requestId: `req-${i}`, correlationId: i % 3 ? `req-${i}` : 'req-root', causationId: i % 5 ? null : `bulk-${i - 1}`,
        occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      }),
    );
    const js = jetstream(nc);
    await Promise.all(sent.map((e) => js.publish(subject, encodeEvent(e))));
    const sizes: number[] = [];
    const events: RecordedEvent[] = [];
    for await (const b of readBatches({ nc, filter: subject, batch: 500 })) {
      sizes.push(b.length);
      events.push(...b);
      // A slow reader: the rest arrives meanwhile and is taken in one run.
      if (sizes.length === 1) await sleep(300);
    }
    expect(sizes.every((n) => n >= 1 && n <= 256)).toBe(true);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq)).toBe(true);
    expect(events.map(({ seq: _seq, ...rest }) => rest).sort((a, b) => Number(a.id.slice(5)) - Number(b.id.slice(5)))).toEqual(sent);
  });

  it('deletes its consumer when the reader stops early', async () => {
    let n = 0;
    for await (const _ of readAll({ nc, batch: 3 })) if (++n === 5) break;
    expect(n).toBe(5);
    await until('readAll consumer gone', async () => (await consumerCount()) === 0, 3_000);
  });
});

describe('executeCommand on JetStream', () => {
  it('reloads and decides again when another writer appended first', async () => {
    const id = randomUUID();
    await appendFresh(id, 2);
    const rival = createJetStreamEventStore({ nc });
    const seen: number[] = [];
    const r = await executeCommand({
      store,
      kind: 'container',
      id,
      load: () => loadAggregate({ store, kind: 'container', id, initial: 0, evolve: (n) => n + 1 }),
      decide: async (n, attempt) => {
        seen.push(n);
        if (attempt === 1) await rival.append('container', id, sampleEvents(id, 1, 'rival'), await rival.lastSeq('container', id), `rival-${id}`);
        return { events: sampleEvents(id, 1, 'mine') };
      },
      commandId: `cmd-${id}`,
    });
    expect(seen).toEqual([2, 3]);
    expect(r).toMatchObject({ outcome: 'appended', attempts: 2, duplicate: false });
    const events = await store.load('container', id);
    expect(events.map((e) => e.id.split('-')[0])).toEqual(['e', 'e', 'rival', 'mine']);
  });

  it('rethrows the ConcurrencyError after maxRetries', async () => {
    const id = randomUUID();
    const err = await executeCommand({
      store,
      kind: 'container',
      id,
      load: async () => ({ state: null, seq: await store.lastSeq('container', id) }),
      decide: async () => {
        await appendFresh(id, 1, 'rival');
        return { events: sampleEvents(id, 1) };
      },
      commandId: `cmd-${id}`,
      maxRetries: 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(await store.load('container', id)).toHaveLength(2);
  });
});

describe('snapshots', () => {
  let snapshots: SnapshotStore;
  beforeAll(() => {
    snapshots = createSnapshotStore({ nc, bucket: 'zun_snapshots_it' });
  });

  it('round-trips through the KV bucket under <kind>.<token(id)>', async () => {
    const id = `host a.b ${randomUUID()}`;
    expect(await snapshots.get('container', id)).toBeNull();
    await snapshots.put('container', id, 42, { status: 'Running', n: [1, 2] }, 3);
    expect(await snapshots.get('container', id)).toEqual({ seq: 42, state: { status: 'Running', n: [1, 2] }, version: 3 });
    const kv = await new Kvm(nc).open('zun_snapshots_it');
    expect((await kv.get(snapshotKey('container', id)))?.json()).toEqual({ v: 3, seq: 42, state: { status: 'Running', n: [1, 2] } });
  });

  it('lets loadAggregate skip folded history, and fall back when the snapshot is unreadable', async () => {
    const id = randomUUID();
    const seqs = await appendFresh(id, 12);
    const evolve = (s: { n: number; ids: string[] }, e: RecordedEvent) => ({ n: s.n + 1, ids: [...s.ids, e.id] });
    const initial = { n: 0, ids: [] as string[] };
    const first = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 5 });
    expect(first.state.n).toBe(12);
    expect(await snapshots.get('container', id)).toMatchObject({ seq: seqs[11] });
    const more = await appendFresh(id, 2);
    const second = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 5 });
    expect(second.events.map((e) => e.seq)).toEqual(more);
    expect(second.state).toEqual({ n: 14, ids: (await store.load('container', id)).map((e) => e.id) });
    expect(second.seq).toBe(more[1]);

    // Junk in the bucket: the load ignores it and folds everything.
    const kv = await new Kvm(nc).open('zun_snapshots_it');
    await kv.put(snapshotKey('container', id), 'not json');
    const errors: string[] = [];
    const third = await loadAggregate({ store, snapshots, kind: 'container', id, initial, evolve, snapshotEvery: 50, onSnapshotError: (_e, op) => errors.push(op) });
    expect(third.state).toEqual(second.state);
    expect(third.events).toHaveLength(14);
    expect(errors).toEqual(['get']);
  });
});

describe('malformed events', () => {
  it('fail a load with MalformedEventError naming the sequence; a durable consumer terms them and goes on', async () => {
    const id = randomUUID();
    const subject = aggregateSubject('container', id);
    const good1 = await appendFresh(id, 1);
    const junk = await jetstream(nc).publish(subject, 'this is not an event');
    const good2 = await store.append('container', id, sampleEvents(id, 1), junk.seq, `cmd-${randomUUID()}`);

    const err = await store.load('container', id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedEventError);
    expect((err as Error).message).toContain(`sequence ${junk.seq}`);
    await expect(async () => {
      for await (const _ of readAll({ nc, filter: subject }));
    }).rejects.toThrow(MalformedEventError);
    // readBatches with onMalformed: reported and left out, the read goes on.
    const skipped: number[] = [];
    const read: number[] = [];
    for await (const b of readBatches({ nc, filter: subject, onMalformed: (err, seq) => (expect(err).toBeInstanceOf(MalformedEventError), skipped.push(seq)) })) {
      read.push(...b.map((e) => e.seq));
    }
    expect(skipped).toEqual([junk.seq]);
    expect(read).toEqual([good1[0], good2.seqs[0]]);
    await until('consumers gone after failed reads', async () => (await consumerCount()) === 0, 3_000);

    const { log, lines } = captureLog();
    const seen: number[] = [];
    const sub = await consumeDurable({ nc, durable: `malformed-${id.slice(0, 8)}`, filterSubject: subject, handler: (e) => void seen.push(e.seq), log });
    try {
      await until('both good events handled', () => seen.length === 2);
      expect(seen).toEqual([good1[0], good2.seqs[0]]);
      const terminated = lines().filter((l) => l['msg'] === 'malformed event terminated');
      expect(terminated).toHaveLength(1);
      expect(terminated[0]).toMatchObject({ seq: junk.seq, level: 50 });
      await until('everything acked or termed', async () => {
        const info = await jsm.consumers.info(STREAM_NAME, `malformed-${id.slice(0, 8)}`);
        return info.num_ack_pending === 0 && info.num_pending === 0 && info.num_redelivered === 0;
      });
    } finally {
      await sub.stop();
    }
  });
});

describe('consumeDurable', () => {
  it('hands events over in stream order, and redelivers an event whose handler threw', async () => {
    const ids = [randomUUID(), randomUUID()];
    const from = (await jsm.streams.info(STREAM_NAME)).state.last_seq + 1;
    const { log, lines } = captureLog();
    const seen: number[] = [];
    let failedOnce = false;
    const sub = await consumeDurable({
      nc,
      durable: `order-${ids[0]!.slice(0, 8)}`,
      deliverFrom: from,
      nakDelayMs: () => 50,
      maxAckPending: 1,
      log,
      handler: (e) => {
        if (!failedOnce && seen.length === 3) {
          failedOnce = true;
          throw new Error('transient');
        }
        seen.push(e.seq);
      },
    });
    try {
      const appended: number[] = [];
      for (let i = 0; i < 4; i++) for (const id of ids) appended.push(...(await appendFresh(id, 2)));
      await until('all handled', () => seen.length === appended.length);
      expect(seen).toEqual(appended);
      expect(lines().filter((l) => l['msg'] === 'handler failed; event nak-ed')).toHaveLength(1);
    } finally {
      await sub.stop();
    }
  });

  it('batch mode: hands over what arrived together, in order; the events of a batch that threw come again', async () => {
    const id = randomUUID();
    const from = (await jsm.streams.info(STREAM_NAME)).state.last_seq + 1;
    const durable = `batch-${id.slice(0, 8)}`;
    const { log, lines } = captureLog();
    const batches: number[][] = [];
    let failedOnce = false;
    let failed: number[] = [];
    const gate = deferredGate();
    const sub = await consumeDurable({
      nc,
      durable,
      deliverFrom: from,
      nakDelayMs: () => 50,
      maxBatch: 16,
      log,
      batchHandler: async (events) => {
        const seqs = events.map((e) => e.seq);
        // The first batch waits until everything is appended, so the rest queue up behind it.
        if (batches.length === 0) await gate.wait;
        if (!failedOnce && batches.length === 1) {
          failedOnce = true;
          failed = seqs;
          throw new Error('transient');
        }
        batches.push(seqs);
      },
    });
    try {
      const appended: number[] = [];
      for (let i = 0; i < 40; i++) appended.push(...(await appendFresh(i === 0 ? id : randomUUID(), 1)));
      gate.open();
      await until('all handled', () => batches.flat().length >= appended.length);
      // Every event once (the failed batch was not recorded; its events came again, after later ones), each batch in stream order.
      expect([...batches.flat()].sort((a, b) => a - b)).toEqual(appended);
      for (const b of batches) expect(b).toEqual([...b].sort((x, y) => x - y));
      // Queued events came together, at most maxBatch at a time: the batch after the gated one held
      // what had queued up behind it. (How the nak-ed events come again, together or one by one, is
      // the server's timing, so the number of batches after it is not pinned.)
      expect(failed.length).toBeGreaterThan(1);
      expect(batches.length).toBeLessThan(appended.length);
      expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(16);
      expect(lines().filter((l) => l['msg'] === 'batch handler failed; events nak-ed')).toHaveLength(1);
      await until('everything acked', async () => {
        const info = await jsm.consumers.info(STREAM_NAME, durable);
        return info.num_ack_pending === 0 && info.num_pending === 0;
      });
    } finally {
      await sub.stop();
      await jsm.consumers.delete(STREAM_NAME, durable).catch(() => {});
    }
  });

  it('batch mode with ackDelayMs: holds acks and sends them together, after the delay or at stop', async () => {
    const from = (await jsm.streams.info(STREAM_NAME)).state.last_seq + 1;
    const durable = `held-acks-${randomUUID().slice(0, 8)}`;
    const { log } = captureLog();
    const handled: number[] = [];
    const ackPending = async () => (await jsm.consumers.info(STREAM_NAME, durable)).num_ack_pending;
    const open = (ackDelayMs: number) =>
      consumeDurable({ nc, durable, deliverFrom: from, ackDelayMs, log, batchHandler: (events) => void handled.push(...events.map((e) => e.seq)) });
    let sub = await open(1_500);
    try {
      const appended: number[] = [];
      for (let i = 0; i < 5; i++) {
        appended.push(...(await appendFresh(randomUUID(), 1)));
        await until(`event ${i} handled`, () => handled.length === appended.length);
      }
      // Five batches handled one by one, none acked yet: the acks wait for the delay.
      expect(await ackPending()).toBe(5);
      await until('the held acks sent together', async () => (await ackPending()) === 0, 5_000);
      // A stop sends what is held, however long the delay.
      await sub.stop();
      sub = await open(60_000);
      appended.push(...(await appendFresh(randomUUID(), 1)));
      await until('the last event handled', () => handled.length === appended.length);
      expect(await ackPending()).toBe(1);
      await sub.stop();
      await until('acked at stop', async () => (await ackPending()) === 0, 2_000);
      expect(handled).toEqual(appended);
    } finally {
      await sub.stop();
      await jsm.consumers.delete(STREAM_NAME, durable).catch(() => {});
    }
  });

  it('needs exactly one of handler and batchHandler', async () => {
    const { log } = captureLog();
    await expect(consumeDurable({ nc, durable: 'neither', log })).rejects.toThrow('exactly one of handler and batchHandler');
  });

  it.each(['one at a time', 'in batches'] as const)('loses no acknowledged event across a kill -9 and restart of nats-server (%s)', async (mode) => {
    const from = (await jsm.streams.info(STREAM_NAME)).state.last_seq + 1;
    const { log, lines } = captureLog();
    const handled = new Map<number, number>();
    const count = (e: { seq: number }) => handled.set(e.seq, (handled.get(e.seq) ?? 0) + 1);
    const sub = await consumeDurable({
      nc,
      durable: mode === 'one at a time' ? 'restart-survivor' : 'restart-survivor-batches',
      deliverFrom: from,
      log,
      ...(mode === 'one at a time'
        ? {
            handler: async (e) => {
              count(e);
              await sleep(1);
            },
          }
        : {
            batchHandler: async (events) => {
              for (const e of events) count(e);
              await sleep(1);
            },
          }),
    });
    const ids = Array.from({ length: 10 }, () => randomUUID());
    const acked: number[] = [];
    const appendRetrying = async (id: string) => {
      for (;;) {
        try {
          acked.push(...(await appendFresh(id, 1)));
          return;
        } catch (e) {
          if (!(e instanceof EventStoreUnavailableError)) throw e;
          await sleep(100);
        }
      }
    };
    try {
      for (let round = 0; round < 20; round++) await Promise.all(ids.map(appendRetrying));
      await until('some handled', () => handled.size >= 20);
      await nats.kill9();
      await sleep(300);
      await nats.restart();
      for (let round = 0; round < 10; round++) await Promise.all(ids.map(appendRetrying));
      await until('every acknowledged event handled', () => acked.every((s) => handled.has(s)), 60_000);
      const redelivered = [...handled.values()].filter((n) => n > 1).length;
      console.log(`restart: ${acked.length} acked events all handled; ${redelivered} handled twice (at least once)`);
      expect(handled.size).toBe(acked.length);
      expect(lines().some((l) => l['level'] === 60)).toBe(false);
    } finally {
      await sub.stop();
      if (mode === 'in batches') await jsm.consumers.delete(STREAM_NAME, 'restart-survivor-batches').catch(() => {});
    }
  });

  it('lets readAll carry on in order through a kill -9 and restart', async () => {
    await Promise.all(Array.from({ length: 15 }, () => appendFresh(randomUUID(), 10)));
    const { state } = await jsm.streams.info(STREAM_NAME);
    // The stream holds the junk event of the malformed test: read past it.
    const decode = (b: Uint8Array, seq: number) => {
      try {
        return decodeEvent(b, seq);
      } catch {
        return { seq } as RecordedEvent;
      }
    };
    const before: number[] = [];
    for await (const e of readAll({ nc, filter: kindSubject('container'), decode })) before.push(e.seq);
    const seqs: number[] = [];
    let killed = false;
    for await (const e of readAll({ nc, filter: kindSubject('container'), batch: 10, idleTimeoutMs: 1_000, decode })) {
      seqs.push(e.seq);
      if (seqs.length === 100) {
        killed = true;
        await nats.kill9();
        await nats.restart();
      }
    }
    expect(killed).toBe(true);
    const missing = before.filter((x) => !seqs.includes(x));
    const extra = seqs.filter((x) => !before.includes(x));
    if (missing.length || extra.length) console.log('MISSING', missing, 'EXTRA', extra, 'last', state.last_seq, (await jsm.streams.info(STREAM_NAME)).state);
    expect(seqs).toEqual(before);
    expect(seqs.at(-1)).toBeLessThanOrEqual(state.last_seq);
  });

  it('leaves the store usable after the restart', async () => {
    const id = randomUUID();
    await appendFresh(id, 3);
    expect(await store.load('container', id)).toHaveLength(3);
    await until('consumers gone', async () => (await consumerCount()) <= 3, 3_000); // the three durables
  });
});

function deferredGate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}
