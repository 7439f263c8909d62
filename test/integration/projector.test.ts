/**
 * The projector on a real nats-server: the read models it keeps while events
 * arrive (and across a restart of the projector in the middle) equal the
 * read models a rebuild from sequence 1 produces, and the container read
 * model equals the state folded from the log. Old delete markers are swept
 * out of the buckets, and nothing else is.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_NAME } from '../../events/index.js';
import { executeContainerCommand, loadContainer } from '../../services/platform/commands.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { connectNats } from '../../services/platform/nats.js';
import { CAPSULES_BUCKET, CONTAINERS_BUCKET, DESIRED_BUCKET, readModelKey } from '../../services/platform/readmodels.js';
import { ensureStream } from '../../services/platform/stream.js';
import { PROJECTOR_DURABLE, createProjector, resetReadModels } from '../../services/projector/projector.js';
import { sweepDeleteMarkers } from '../../services/projector/sweep.js';
import { arbHistory } from '../support/container-gen.js';
import { startNats, type NatsServer } from '../support/servers.js';

const log = pino({ level: 'warn' });
let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ servers: nats.url, name: 'projector-it' });
  await ensureStream(await jetstreamManager(nc));
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

/** Every key and value of the three read models. */
async function snapshot(): Promise<Record<string, unknown>> {
  const kvm = new Kvm(nc);
  const out: Record<string, unknown> = {};
  for (const name of [CONTAINERS_BUCKET, CAPSULES_BUCKET, DESIRED_BUCKET]) {
    const kv = await kvm.open(name);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    for (const k of keys.sort()) {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT') out[`${name}/${k}`] = e.json();
    }
  }
  return out;
}

async function caughtUp(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await jsm.consumers.info(STREAM_NAME, PROJECTOR_DURABLE).catch(() => null);
    if (info && info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq === (await jsm.streams.info(STREAM_NAME)).state.last_seq) return;
    if (Date.now() > deadline) throw new Error('projector did not catch up within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('projector', () => {
  it('a rebuild from sequence 1 equals the read models kept incrementally (with a projector restart in between)', async () => {
    const store = createJetStreamEventStore({ nc });
    const deps = { store, newId: randomUUID, now: () => new Date() };
    const histories = fc.sample(arbHistory, { numRuns: 40, seed: 20261126 });
    const ids = histories.map(() => randomUUID());
    const run = async (from: number, to: number) => {
      // Containers side by side, each one's commands in order: the projector sees them interleaved.
      await Promise.all(
        histories.slice(from, to).map(async (cmds, i) => {
          for (const cmd of cmds) {
            await executeContainerCommand(deps, ids[from + i]!, cmd, { projectId: 'p1', userId: 'u1', requestId: `req-${randomUUID()}` });
          }
        }),
      );
    };

    let projector = await createProjector({ nc, store, log });
    await run(0, 20);
    // A projector restart with events still arriving: it resumes from its durable position.
    const second = run(20, 40);
    await projector.stop();
    projector = await createProjector({ nc, store, log });
    await second;
    await caughtUp();
    const incremental = await snapshot();

    // The container read model is the state folded from the log; deleted containers have no entry.
    let live = 0;
    for (const id of ids) {
      const state = await loadContainer(store, id);
      const entry = incremental[`${CONTAINERS_BUCKET}/${readModelKey(id)}`];
      if (state.status === 'Deleted' || state.status === null) {
        expect(entry).toBeUndefined();
      } else {
        live++;
        expect(entry).toEqual(JSON.parse(JSON.stringify(state)));
      }
    }
    expect(live).toBeGreaterThan(5);
    expect(Object.keys(incremental).some((k) => k.startsWith(`${DESIRED_BUCKET}/`))).toBe(true);

    await projector.stop();
    await resetReadModels(nc);
    projector = await createProjector({ nc, store, log });
    try {
      await caughtUp();
      expect(await snapshot()).toEqual(incremental);
    } finally {
      await projector.stop();
    }
  });
});

describe('delete marker sweep', () => {
  /** The messages a KV bucket's stream holds, by key: what a snapshot reader receives. */
  async function held(bucket: string): Promise<Record<string, string>> {
    const kv = await new Kvm(nc).open(bucket);
    const out: Record<string, string> = {};
    if ((await kv.status()).values === 0) return out;
    const w = await kv.watch({ key: '>' });
    for await (const e of w) {
      out[e.key] = e.operation === 'PUT' ? e.string() : e.operation;
      if (e.delta === 0) break;
    }
    w.stop();
    return out;
  }

  it('removes markers older than the grace period, and keeps live keys, newer markers and a value written during the sweep', async () => {
    const bucket = `sweep_${randomUUID().slice(0, 8)}`;
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    await kv.put('live', '1');
    await kv.put('gone', '1');
    await kv.delete('gone');
    await kv.put('back', '1');
    await kv.delete('back');
    await kv.put('back', '2'); // written again after its delete: the marker is history
    await kv.put('racing', '1');
    await kv.delete('racing');
    expect(await held(bucket)).toEqual({ live: '1', gone: 'DEL', back: '2', racing: 'DEL' });

    // Nothing is old enough yet.
    expect(await sweepDeleteMarkers(nc, bucket, 60_000)).toEqual({ bucket, markers: 2, removed: 0 });
    expect(await held(bucket)).toEqual({ live: '1', gone: 'DEL', back: '2', racing: 'DEL' });

    // Two minutes on; `racing` is written again after the sweep read the bucket and before it purges:
    // the purge stops at the marker, so the new value stays.
    const r = await sweepDeleteMarkers(nc, bucket, 60_000, {
      now: () => Date.now() + 120_000,
      afterRead: async () => {
        await kv.put('racing', '2');
      },
    });
    expect(r.markers).toBe(2);
    // `gone`'s marker; `racing`'s went with its new value (history 1), and the purge found nothing more.
    expect(r.removed).toBe(1);
    expect(await held(bucket)).toEqual({ live: '1', back: '2', racing: '2' });
    expect((await kv.get('racing'))?.string()).toBe('2');
    await kv.destroy();
  });

  it('the projector sweeps its read-model buckets on its interval', async () => {
    const store = createJetStreamEventStore({ nc });
    await resetReadModels(nc);
    const projector = await createProjector({ nc, store, log, sweep: { everyMs: 200, markerGraceMs: 0 } });
    try {
      const desired = await new Kvm(nc).open(DESIRED_BUCKET);
      const key = `sweep-host.container.${randomUUID()}`;
      const jsm = await jetstreamManager(nc);
      // Whether the bucket's stream holds a message (value or marker) for the key; read by subject,
      // since a watch could find its snapshot purged under it by the sweep being tested.
      const holds = async () =>
        `$KV.${DESIRED_BUCKET}.${key}` in ((await jsm.streams.info(`KV_${DESIRED_BUCKET}`, { subjects_filter: `$KV.${DESIRED_BUCKET}.${key}` })).state.subjects ?? {});
      await desired.put(key, '{}');
      await desired.delete(key);
      expect(await holds()).toBe(true);
      const deadline = Date.now() + 10_000;
      while (await holds()) {
        if (Date.now() > deadline) throw new Error('the marker was not swept within 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await projector.stop();
    }
  });
});
