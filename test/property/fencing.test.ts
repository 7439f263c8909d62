/**
 * Fencing and idempotency under real concurrency, on a real nats-server:
 * many writers, each with its own NATS connection, race to append to one
 * aggregate. Safety rules:
 * - every expected sequence has exactly one winner, and the winners form a
 *   chain 0 -> s1 -> s2 ...; the subject holds exactly the winners' events,
 *   none lost, none doubled;
 * - a successful multi-event append lands contiguously on its subject;
 * - executeCommand linearises: each appended event was decided on the state
 *   that directly precedes it;
 * - a command retried with the same id appends nothing (duplicate: true).
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, type RecordedEvent } from '../../events/index.js';
import { executeCommand, loadAggregate } from '../../services/platform/aggregate.js';
import { ConcurrencyError, type EventStore } from '../../services/platform/eventstore.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { connectNats } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { sampleEvents } from '../support/eventstore-contract.js';
import { startNats, type NatsServer } from '../support/servers.js';
import { runs } from '../support/runs.js';

const MAX_WRITERS = 16;
let nats: NatsServer;
const conns: NatsConnection[] = [];
let stores: EventStore[] = [];

beforeAll(async () => {
  nats = await startNats();
  for (let i = 0; i < MAX_WRITERS; i++) conns.push(await connectNats({ servers: nats.url, name: `writer-${i}` }));
  await ensureStream(await jetstreamManager(conns[0]!));
  stores = conns.map((nc) => createJetStreamEventStore({ nc }));
});

afterAll(async () => {
  await Promise.all(conns.map((nc) => nc.close()));
  await nats?.stop();
});

interface Win {
  readonly command: string;
  readonly expected: number;
  readonly seqs: readonly number[];
  readonly ids: readonly string[];
  readonly writer: number;
}

describe('fencing on JetStream', () => {
  it('gives each expected sequence exactly one winner, and the subject exactly the winners’ events', async () => {
    let conflicts = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: MAX_WRITERS }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        async (writers, tries, size) => {
          const id = randomUUID();
          const wins: Win[] = [];
          const losses: { expected: number; writer: number }[] = [];
          await Promise.all(
            Array.from({ length: writers }, async (_, w) => {
              const store = stores[w]!;
              for (let t = 0; t < tries; t++) {
                const expected = await store.lastSeq('container', id);
                const events = sampleEvents(id, size, `w${w}t${t}`);
                const command = `${id}/w${w}/t${t}`;
                try {
                  const r = await store.append('container', id, events, expected, command);
                  expect(r.duplicate).toBe(false);
                  wins.push({ command, expected, seqs: r.seqs, ids: events.map((e) => e.id), writer: w });
                } catch (e) {
                  if (!(e instanceof ConcurrencyError)) throw e;
                  losses.push({ expected, writer: w });
                }
              }
            }),
          );
          conflicts += losses.length;
          const stream = await stores[0]!.load('container', id);
          wins.sort((a, b) => a.seqs[0]! - b.seqs[0]!);

          // Each winner won on the sequence directly before its first event;
          // so no two winners share an expected sequence.
          const position = new Map(stream.map((e, i) => [e.id, i]));
          expect(position.size).toBe(stream.length);
          expect(wins.length).toBeGreaterThan(0);
          for (const win of wins) {
            const at = win.ids.map((i) => position.get(i));
            // Contiguous, and at the sequences the append reported.
            expect(at.every((p, j) => p !== undefined && (j === 0 || p === at[j - 1]! + 1))).toBe(true);
            expect(win.ids.map((i) => stream[position.get(i)!]!.seq)).toEqual(win.seqs);
            expect(win.expected).toBe(at[0] === 0 ? 0 : stream[at[0]! - 1]!.seq);
          }
          expect(new Set(wins.map((w) => w.expected)).size).toBe(wins.length);
          // Every loser lost to an append that took its expected sequence first.
          const taken = new Set([0, ...stream.map((e) => e.seq)].slice(0, stream.length));
          for (const l of losses) expect(taken.has(l.expected)).toBe(true);

          // Nothing but the winners' events, except (multi-event appends only;
          // 2.9 has no atomic batch) a loser's first events stored before its
          // fence failed midway: then a prefix of that loser's events.
          const winnerIds = new Set(wins.flatMap((w) => w.ids));
          const strays = stream.filter((e) => !winnerIds.has(e.id));
          if (size === 1) expect(strays).toEqual([]);
          for (const e of strays) {
            const [tag, index] = e.id.split('-') as [string, string];
            const prev = stream[position.get(e.id)! - 1];
            expect(index === '0' || prev?.id.startsWith(`${tag}-${Number(index) - 1}-`)).toBe(true);
          }

          // Retrying a won command with a stale fence appends nothing.
          const last = stream.at(-1)!.seq;
          for (const win of wins.slice(0, 4)) {
            const events = stream.filter((e) => win.ids.includes(e.id)).map(({ seq: _s, ...e }) => e);
            const again = await stores[win.writer]!.append('container', id, events, win.expected, win.command);
            expect(again).toEqual({ seqs: win.seqs, duplicate: true });
          }
          expect(await stores[0]!.lastSeq('container', id)).toBe(last);
        },
      ),
      { numRuns: runs(20) },
    );
    // Not vacuous: the writers really raced.
    expect(conflicts).toBeGreaterThan(0);
  });

  it('linearises executeCommand across writers and appends a retried command once', async () => {
    const evolve = (n: number, _e: RecordedEvent) => n + 1;
    let retried = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: MAX_WRITERS }), fc.integer({ min: 1, max: 3 }), async (writers, commandsEach) => {
        const id = randomUUID();
        const done: { command: string; seqs: readonly number[]; writer: number; decidedOn: number }[] = [];
        let exhausted = 0;
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            const store = stores[w]!;
            for (let c = 0; c < commandsEach; c++) {
              const command = `${id}/w${w}/c${c}`;
              let decidedOn = -1;
              try {
                const r = await executeCommand({
                  store,
                  kind: 'container',
                  id,
                  load: () => loadAggregate({ store, kind: 'container', id, initial: 0, evolve }),
                  // The event records the count it was decided on, in its id.
                  decide: (n) => {
                    decidedOn = n;
                    return { events: [envelope({ type: 'ContainerStartRequested', data: {} }, { id: `n${n}-${randomUUID()}`, aggregateKind: 'container', aggregateId: id }, META)] };
                  },
                  commandId: command,
                  maxRetries: 2 * MAX_WRITERS,
                });
                if (r.outcome !== 'appended') throw new Error('no rejection expected');
                expect(r.duplicate).toBe(false);
                if (r.attempts > 1) retried++;
                done.push({ command, seqs: r.seqs, writer: w, decidedOn });
              } catch (e) {
                if (!(e instanceof ConcurrencyError)) throw e;
                exhausted++;
              }
            }
          }),
        );
        const stream = await stores[0]!.load('container', id);
        // Linearisable: the k-th event was decided on a state of k events.
        expect(stream.map((e) => e.id.split('-')[0])).toEqual(stream.map((_, k) => `n${k}`));
        expect(stream).toHaveLength(done.length);
        expect(done.length + exhausted).toBe(writers * commandsEach);
        expect(new Set(done.map((d) => d.seqs[0])).size).toBe(done.length);

        // The same commands again: every one is a duplicate of itself.
        for (const d of done.slice(0, 4)) {
          const store = stores[d.writer]!;
          const r = await executeCommand({
            store,
            kind: 'container',
            id,
            load: () => loadAggregate({ store, kind: 'container', id, initial: 0, evolve }),
            decide: () => ({ events: sampleEvents(id, 1, 'retry') }),
            commandId: d.command,
          });
          expect(r).toMatchObject({ outcome: 'appended', duplicate: true, seqs: d.seqs });
        }
        expect(await stores[0]!.load('container', id)).toHaveLength(stream.length);
      }),
      { numRuns: runs(20) },
    );
    expect(retried).toBeGreaterThan(0);
  });
});

const META = {
  projectId: 'p',
  userId: 'u',
  requestId: 'req-1',
  correlationId: 'req-1',
  causationId: null,
  occurredAt: '2026-01-01T00:00:00.000Z',
} as const;
