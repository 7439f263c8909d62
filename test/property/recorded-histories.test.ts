/**
 * Recorded histories (test/histories/*.jsonl, `zunctl export` files) must keep
 * folding to the states recorded next to them: a change to the fold, the
 * machines, the codec or the upcasters that alters the meaning of a stored
 * history fails here. See test/histories/README.md for where they come from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CapsuleEvent, ContainerEvent, RecordedEvent } from '../../events/index.js';
import { foldHistory } from '../../domain/history.js';
import { verifyContainerFold } from '../../state-machines/container.js';
import { verifyCapsuleFold } from '../../state-machines/capsule.js';
import { createMemoryEventStore } from '../../services/platform/memory-eventstore.js';
import { loadCapsule, loadContainer } from '../../services/platform/commands.js';
import { parseExportDetailed } from '../../services/zunctl/eventlog.js';

const DIR = join(import.meta.dirname, '..', 'histories');
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.jsonl'))
  .map((f) => f.slice(0, -'.jsonl'.length))
  .sort();

interface Expected {
  events: number;
  lastSeq: number;
  containers: Record<string, unknown>;
  capsules: Record<string, unknown>;
  ledgers: Record<string, { seq: number; claims: unknown[] }>;
  checkpoints: { at: string; containers: Record<string, unknown>; capsules: Record<string, unknown> }[];
}

/**
 * Container state fields added after a history was recorded, with the value
 * that means "nothing of that kind happened": a recorded state lacking them
 * is read with them. Only neutral defaults belong here; a change of meaning
 * must fail the comparison.
 */
const ADDED_CONTAINER_FIELDS = {
  desired: { commitGen: 0, commits: [] },
  observed: { commitDone: 0 },
} as const;

function upcastContainerState(s: unknown): unknown {
  const c = s as { desired?: Record<string, unknown>; observed?: Record<string, unknown> };
  if (!c?.desired || !c.observed) return s;
  return { ...c, desired: { ...ADDED_CONTAINER_FIELDS.desired, ...c.desired }, observed: { ...ADDED_CONTAINER_FIELDS.observed, ...c.observed } };
}
const upcastContainers = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).map(([id, st]) => [id, upcastContainerState(st)]));

describe('recorded histories', () => {
  it('are there to replay', () => {
    expect(names.length).toBeGreaterThanOrEqual(3);
  });

  for (const name of names) {
    describe(name, () => {
      const events = parseExportDetailed(readFileSync(join(DIR, `${name}.jsonl`), 'utf8')).map((l) => l.event);
      const recorded = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as Expected;
      const expected: Expected = {
        ...recorded,
        containers: upcastContainers(recorded.containers),
        checkpoints: recorded.checkpoints.map((cp) => ({ ...cp, containers: upcastContainers(cp.containers) })),
      };

      it('decodes, in stream order, with the recorded count', () => {
        expect(events).toHaveLength(expected.events);
        expect(events.at(-1)!.seq).toBe(expected.lastSeq);
      });

      it('folds to the recorded final states, with no illegal transition', () => {
        const f = foldHistory(events, { verify: true });
        expect(f.violations).toEqual([]);
        expect(Object.fromEntries(f.containers)).toEqual(expected.containers);
        expect(Object.fromEntries(f.capsules)).toEqual(expected.capsules);
        for (const [domain, l] of Object.entries(expected.ledgers)) {
          const ledger = f.ledgers.get(domain)!;
          expect(ledger.seq).toBe(l.seq);
          expect([...ledger.claims.values()].sort((a, b) => a.id.localeCompare(b.id))).toEqual(l.claims);
        }
      });

      it('the verifying fold of each aggregate agrees with the fast fold', () => {
        for (const id of Object.keys(expected.containers)) {
          const own = events.filter((e) => e.aggregateId === id) as RecordedEvent<ContainerEvent>[];
          const v = verifyContainerFold(id, own);
          expect(v.violations).toEqual([]);
          expect(v.state).toEqual(expected.containers[id]);
        }
        for (const id of Object.keys(expected.capsules)) {
          const v = verifyCapsuleFold(id, events.filter((e) => e.aggregateId === id) as RecordedEvent<CapsuleEvent>[]);
          expect(v.violations).toEqual([]);
          expect(v.state).toEqual(expected.capsules[id]);
        }
      });

      it('replayed at each checkpoint time, equals what was loaded then', () => {
        expect(expected.checkpoints.length).toBeGreaterThan(2);
        for (const cp of expected.checkpoints) {
          const f = foldHistory(events, { atMs: Date.parse(cp.at) });
          for (const [id, state] of Object.entries(cp.containers)) expect(f.containers.get(id), `${id} at ${cp.at}`).toEqual(state);
          for (const [id, state] of Object.entries(cp.capsules)) expect(f.capsules.get(id), `${id} at ${cp.at}`).toEqual(state);
        }
      });

      it('imported into a fresh store, loads to the same states', async () => {
        const store = createMemoryEventStore();
        for (const e of events) {
          const { seq: _s, ...env } = e;
          await store.append(e.aggregateKind, e.aggregateId, [env as never], await store.lastSeq(e.aggregateKind, e.aggregateId), e.id);
        }
        for (const [id, state] of Object.entries(expected.containers)) expect(await loadContainer(store, id)).toEqual(state);
        for (const [id, state] of Object.entries(expected.capsules)) expect(await loadCapsule(store, id)).toEqual(state);
      });
    });
  }
});
