import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../../domain/host.js';
import { evolveContainer, initialContainerState } from '../../domain/container.js';
import { foldLedger, initialLedger, type LedgerClaim, type PlacementRequest } from '../../domain/placement.js';
import type { PlacementEvent, RecordedEvent } from '../../events/index.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { executeContainerCommand, loadContainer } from '../platform/commands.js';
import { specOf } from '../../test/support/container-gen.js';
import { commitBatch, refreshLedger, releaseClaims } from './ledger.js';
import { runContainerCommand, scheduleClaim } from './consumers.js';
import { ConfigError, loadConfig } from './config.js';

const host = (hostname: string, cpus: number): HostRecord => ({
  hostname, uuid: hostname, capacity: { cpus, memoryMiB: 4096, diskGb: 10 }, labels: {}, availabilityZone: 'nova', runtimes: ['runc'],
  version: '1', disabled: false, disabledReason: null, os: 'linux', osType: 'linux', architecture: 'x86_64', kernelVersion: '6',
  startedAt: '2026-01-01T00:00:00.000Z',
});
const req = (id: string, cpu = 1): PlacementRequest => ({
  kind: 'container', id, cpu, memoryMiB: 128, diskGb: 0, availabilityZone: null, hints: {}, runtime: null, requestedHost: null,
});

function world() {
  const store = createMemoryEventStore();
  let n = 0;
  const newId = () => `id-${++n}`;
  const now = () => new Date(Date.UTC(2026, 0, 1));
  return { store, newId, now, deps: { store, domain: 'default', newId, now } };
}

async function storedLedger(store: ReturnType<typeof createMemoryEventStore>) {
  return foldLedger((await store.load('placement', 'default')) as RecordedEvent<PlacementEvent>[]);
}

describe('commitBatch', () => {
  it('given a fresh ledger, commits what fits in one fenced event and reports the rest as failures', async () => {
    const { store, deps } = world();
    const ledger = initialLedger();
    const out = await commitBatch(deps, ledger, [req('a'), req('b'), req('c')], [host('h1', 2)], 'spread', 'req-1');
    expect(out.placements.map((p) => p.id)).toEqual(['a', 'b']);
    expect(out.failures.map((f) => f.request.id)).toEqual(['c']);
    expect(out.commitSeq).toBe(1);
    expect(ledger.seq).toBe(1);
    expect([...(await storedLedger(store)).claims.keys()]).toEqual(['a', 'b']);
  });

  it('given a stale ledger, meets the fence, reloads, and plans again on the fresh one', async () => {
    const { store, deps } = world();
    const fresh = initialLedger();
    await commitBatch(deps, fresh, [req('x', 1.5)], [host('h1', 2)], 'spread', 'req-1');
    const stale = initialLedger();
    const out = await commitBatch(deps, stale, [req('a', 1), req('b', 0.5)], [host('h1', 2)], 'spread', 'req-2');
    expect(out.conflicts).toBe(1);
    expect(out.placements.map((p) => p.id)).toEqual(['b']);
    expect(out.failures.map((f) => f.request.id)).toEqual(['a']);
    expect((await storedLedger(store)).usage.get('h1')!.cpuMilli).toBe(2000);
  });

  it('confirms a stale ledger before failing when nothing was placed', async () => {
    const { deps } = world();
    const other = initialLedger();
    await commitBatch(deps, other, [req('x', 2)], [host('h1', 2)], 'spread', 'req-1');
    await releaseClaims(deps, other, ['x'], 'req-2');
    // This ledger still believes h1 is full: it must not fail 'a' on that belief.
    const stale = foldLedger([{ type: 'PlacementsCommitted', data: { placements: [{ kind: 'container', id: 'x', host: 'h1', claim: { cpu: 2, memoryMiB: 128, diskGb: 0 } }] }, seq: 1 }]);
    const out = await commitBatch(deps, stale, [req('a', 2)], [host('h1', 2)], 'spread', 'req-3');
    expect(out.conflicts).toBe(1);
    expect(out.placements.map((p) => p.id)).toEqual(['a']);
  });

  it('reports consumers that already hold a claim instead of claiming them again', async () => {
    const { deps } = world();
    const ledger = initialLedger();
    await commitBatch(deps, ledger, [req('a')], [host('h1', 2)], 'spread', 'req-1');
    const out = await commitBatch(deps, ledger, [req('a'), req('b')], [host('h1', 2)], 'spread', 'req-2');
    expect(out.alreadyClaimed.map((r) => r.id)).toEqual(['a']);
    expect(out.placements.map((p) => p.id)).toEqual(['b']);
  });
});

describe('releaseClaims', () => {
  it('releases held claims once, fenced, and ignores unknown ones', async () => {
    const { store, deps } = world();
    const ledger = initialLedger();
    await commitBatch(deps, ledger, [req('a'), req('b')], [host('h1', 2)], 'spread', 'req-1');
    expect(await releaseClaims(deps, ledger, ['a', 'zzz'], 'req-2')).toEqual(['a']);
    expect(await releaseClaims(deps, ledger, ['a'], 'req-3')).toEqual([]);
    const stale = initialLedger();
    await refreshLedger(store, 'default', stale);
    expect([...stale.claims.keys()]).toEqual(['b']);
  });
});

describe('consumer commands', () => {
  const claim = (id: string, seq: number): LedgerClaim => ({ kind: 'container', id, host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 }, seq });
  const create = async (w: ReturnType<typeof world>, id: string) =>
    executeContainerCommand(w, id, { type: 'CreateContainer', spec: specOf(), run: true }, { projectId: 'p', userId: 'u', requestId: 'req-c' });

  it('the fast path appends on the known state; a stale state falls back to the ordinary path', async () => {
    const w = world();
    await create(w, 'c1');
    const known = await loadContainer(w.store, 'c1');
    const stale = evolveContainer(initialContainerState('c1'), { type: 'ContainerCreateRequested', data: { spec: specOf(), run: true }, seq: 0 });
    const r = await runContainerCommand(w, stale, 'c1', { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } }, {
      projectId: 'p', userId: 'u', requestId: 'req-s', commandId: 'sched-1',
    });
    expect(r.ok).toBe(true);
    expect(r.state.host).toBe('h1');
    expect(r.state.seq).toBeGreaterThan(known.seq);
  });

  it('scheduleClaim appends ContainerScheduled once, however often it is retried', async () => {
    const w = world();
    await create(w, 'c1');
    const deps = { ...w, domain: 'default' };
    const known = await loadContainer(w.store, 'c1');
    const a = await scheduleClaim(deps, known, claim('c1', 7), 'req-1');
    const b = await scheduleClaim(deps, known, claim('c1', 7), 'req-2');
    expect([a.result, b.result]).toEqual(['scheduled', 'scheduled']);
    expect((await w.store.load('container', 'c1')).filter((e) => e.type === 'ContainerScheduled')).toHaveLength(1);
  });

  it('scheduleClaim on a container deleted meanwhile says the claim is orphaned', async () => {
    const w = world();
    await create(w, 'c1');
    const known = await loadContainer(w.store, 'c1');
    await executeContainerCommand(w, 'c1', { type: 'DeleteContainer', stop: false, force: true }, { projectId: 'p', userId: 'u', requestId: 'req-d' });
    const r = await scheduleClaim({ ...w, domain: 'default' }, known, claim('c1', 3), 'req-1');
    expect(r.result).toBe('orphaned');
    expect(r.state.status).toBe('Deleted');
  });
});

describe('config', () => {
  it('reads the environment with defaults', () => {
    const c = loadConfig({ NATS_URL: 'nats://x:1', ETCD_ENDPOINTS: 'http://a:1, http://b:2', PLACEMENT_WEIGHER: 'pack', INSTANCE: 'p1' });
    expect(c).toMatchObject({ natsUrl: 'nats://x:1', etcdEndpoints: ['http://a:1', 'http://b:2'], weigher: 'pack', domain: 'default', instanceId: 'p1', electionTtlSeconds: 5 });
  });
  it('rejects a bad weigher and a TTL etcd cannot grant', () => {
    expect(() => loadConfig({ PLACEMENT_WEIGHER: 'random' })).toThrow(ConfigError);
    expect(() => loadConfig({ PLACEMENT_ELECTION_TTL: '1' })).toThrow(ConfigError);
  });
});
