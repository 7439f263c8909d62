/**
 * The EventStore contract: what every implementation (JetStream, in-memory)
 * must do alike on ordering, fencing and idempotency. Register it from a test
 * file with a factory; each test uses fresh aggregate ids, so a factory may
 * hand out stores that share one stream.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envelope, type AggregateKind, type DomainEvent, type EventEnvelope } from '../../events/index.js';
import { ConcurrencyError, type EventStore } from '../../services/platform/eventstore.js';

const META = {
  projectId: 'project-1',
  userId: 'user-1',
  requestId: 'req-00000000-0000-4000-8000-000000000001',
  correlationId: 'req-00000000-0000-4000-8000-000000000001',
  causationId: null,
  occurredAt: '2026-01-01T00:00:00.000Z',
} as const;

const SAMPLE: readonly DomainEvent[] = [
  { type: 'ContainerStartRequested', data: {} },
  { type: 'ContainerStopRequested', data: { timeout: 10 } },
  { type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } },
  { type: 'ContainerPauseRequested', data: {} },
  { type: 'ContainerStarted', data: { dockerId: 'd0cker' } },
];

/** `n` valid container events for aggregate `id`, tagged so tests can tell them apart. */
export function sampleEvents(id: string, n: number, tag = 'e', kind: AggregateKind = 'container'): EventEnvelope[] {
  return Array.from({ length: n }, (_, i) =>
    envelope(SAMPLE[i % SAMPLE.length]!, { id: `${tag}-${i}-${randomUUID()}`, aggregateKind: kind, aggregateId: id }, META),
  );
}

const ids = (es: readonly { id: string }[]) => es.map((e) => e.id);

export function eventStoreContract(name: string, factory: () => EventStore | Promise<EventStore>): void {
  describe(`EventStore contract: ${name}`, () => {
    it('appends to a new aggregate with expected sequence 0', async () => {
      const store = await factory();
      const id = randomUUID();
      const events = sampleEvents(id, 3);
      const r = await store.append('container', id, events, 0, `cmd-${randomUUID()}`);
      expect(r.duplicate).toBe(false);
      expect(r.seqs).toHaveLength(3);
      expect(r.seqs[0]).toBeGreaterThan(0);
      expect([...r.seqs].sort((a, b) => a - b)).toEqual(r.seqs);
      expect(await store.lastSeq('container', id)).toBe(r.seqs[2]);
      const loaded = await store.load('container', id);
      expect(loaded.map((e) => e.seq)).toEqual(r.seqs);
      expect(loaded.map(({ seq: _seq, ...rest }) => rest)).toEqual(events);
    });

    it('appends when the fence matches the last sequence', async () => {
      const store = await factory();
      const id = randomUUID();
      const a = await store.append('container', id, sampleEvents(id, 1, 'a'), 0, `cmd-${randomUUID()}`);
      const b = await store.append('container', id, sampleEvents(id, 2, 'b'), a.seqs[0]!, `cmd-${randomUUID()}`);
      expect(b.seqs[0]).toBeGreaterThan(a.seqs[0]!);
      expect((await store.load('container', id)).map((e) => e.seq)).toEqual([...a.seqs, ...b.seqs]);
    });

    it('rejects a stale or wrong fence with ConcurrencyError and appends nothing', async () => {
      const store = await factory();
      const id = randomUUID();
      const first = await store.append('container', id, sampleEvents(id, 2), 0, `cmd-${randomUUID()}`);
      const before = await store.load('container', id);
      for (const fence of [0, first.seqs[0]!, first.seqs[1]! + 1000]) {
        const err = await store.append('container', id, sampleEvents(id, 2, 'x'), fence, `cmd-${randomUUID()}`).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConcurrencyError);
        expect((err as ConcurrencyError).expectedSeq).toBe(fence);
        expect((err as ConcurrencyError).code).toBe('CONCURRENCY_CONFLICT');
      }
      expect(await store.load('container', id)).toEqual(before);
      expect(await store.lastSeq('container', id)).toBe(first.seqs[1]);
    });

    it('fences each aggregate on its own subject only', async () => {
      const store = await factory();
      const [a, b] = [randomUUID(), randomUUID()];
      const ra = await store.append('container', a, sampleEvents(a, 1), 0, `cmd-${randomUUID()}`);
      // b is new: 0 is right for b although the stream has moved on.
      const rb = await store.append('container', b, sampleEvents(b, 1), 0, `cmd-${randomUUID()}`);
      expect(rb.seqs[0]).toBeGreaterThan(ra.seqs[0]!);
      await store.append('container', a, sampleEvents(a, 1), ra.seqs[0]!, `cmd-${randomUUID()}`);
    });

    it('de-duplicates a retried command: same sequences, duplicate: true, nothing appended, even with a stale fence', async () => {
      const store = await factory();
      const id = randomUUID();
      const cmd = `cmd-${randomUUID()}`;
      const events = sampleEvents(id, 3);
      const first = await store.append('container', id, events, 0, cmd);
      // Someone else appends after us: our fence (0) is now stale.
      const other = await store.append('container', id, sampleEvents(id, 1, 'other'), first.seqs[2]!, `cmd-${randomUUID()}`);
      for (const fence of [0, first.seqs[2]!, other.seqs[0]!]) {
        const again = await store.append('container', id, events, fence, cmd);
        expect(again).toEqual({ seqs: first.seqs, duplicate: true });
      }
      const loaded = await store.load('container', id);
      expect(loaded.map((e) => e.seq)).toEqual([...first.seqs, ...other.seqs]);
      expect(ids(loaded)).toEqual([...ids(events), loaded[3]!.id]);
    });

    it('loads one aggregate in order, after a given sequence', async () => {
      const store = await factory();
      const [a, b] = [randomUUID(), randomUUID()];
      const seqsA: number[] = [];
      let lastA = 0;
      let lastB = 0;
      for (let round = 0; round < 3; round++) {
        const ra = await store.append('container', a, sampleEvents(a, 2, `a${round}`), lastA, `cmd-${randomUUID()}`);
        const rb = await store.append('container', b, sampleEvents(b, 1, `b${round}`), lastB, `cmd-${randomUUID()}`);
        seqsA.push(...ra.seqs);
        lastA = ra.seqs.at(-1)!;
        lastB = rb.seqs.at(-1)!;
      }
      const all = await store.load('container', a);
      expect(all.map((e) => e.seq)).toEqual(seqsA);
      expect(all.every((e) => e.aggregateId === a)).toBe(true);
      expect((await store.load('container', a, seqsA[2]!)).map((e) => e.seq)).toEqual(seqsA.slice(3));
      expect((await store.load('container', a, seqsA[2]! + 1)).map((e) => e.seq)).toEqual(seqsA.filter((s) => s > seqsA[2]! + 1));
      expect(await store.load('container', a, lastA)).toEqual([]);
      expect(await store.load('container', b)).toHaveLength(3);
    });

    it('answers lastSeq 0 and load [] for an aggregate with no events', async () => {
      const store = await factory();
      const id = randomUUID();
      expect(await store.lastSeq('container', id)).toBe(0);
      expect(await store.load('container', id)).toEqual([]);
      expect(await store.lastSeq('capsule', id)).toBe(0);
    });

    it('keeps kinds apart and encodes ids into subject-safe tokens', async () => {
      const store = await factory();
      const id = `host.with spaces*and>${randomUUID()}`;
      const c = await store.append('container', id, sampleEvents(id, 1), 0, `cmd-${randomUUID()}`);
      const k = await store.append('capsule', id, [envelope({ type: 'CapsuleDeleted', data: {} }, { id: randomUUID(), aggregateKind: 'capsule', aggregateId: id }, META)], 0, `cmd-${randomUUID()}`);
      expect((await store.load('container', id)).map((e) => e.seq)).toEqual(c.seqs);
      expect((await store.load('capsule', id)).map((e) => e.seq)).toEqual(k.seqs);
      expect((await store.load('container', id))[0]!.aggregateId).toBe(id);
    });

    it('refuses events of another aggregate before appending anything', async () => {
      const store = await factory();
      const [a, b] = [randomUUID(), randomUUID()];
      await expect(store.append('container', a, [...sampleEvents(a, 1), ...sampleEvents(b, 1)], 0, `cmd-${randomUUID()}`)).rejects.toThrow(TypeError);
      expect(await store.lastSeq('container', a)).toBe(0);
    });
  });
}
