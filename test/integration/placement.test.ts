/**
 * The placement service against a real nats-server and etcd: three fake hosts
 * registered in etcd under leases, two placement instances campaigning.
 * Containers created through the ordinary command path get scheduled on
 * fitting hosts (hints, zones, requested host, capacity), or fail with Zun's
 * reason; deletions release claims; the standby takes over when the leader
 * dies without resigning; a host whose lease lapses has its containers marked
 * lost; a nats-server restart is survived.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { STREAM_NAME } from '../../events/index.js';
import { Etcd3 } from 'etcd3';
import type { CapsuleSpec, ContainerSpec, PlacementEvent, RecordedEvent } from '../../events/index.js';
import type { HostRecord } from '../../domain/host.js';
import type { ContainerState } from '../../domain/container.js';
import { NO_VALID_HOST, foldLedger, overcommittedHosts, requestFromContainer, usageOf } from '../../domain/placement.js';
import { commitBatch } from '../../services/placement/ledger.js';
import { connectNats, type NatsConnection } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { executeCapsuleCommand, executeContainerCommand, loadCapsule, loadContainer } from '../../services/platform/commands.js';
import { createLogger } from '../../services/platform/log.js';
import { createPlacement, type PlacementService } from '../../services/placement/placement.js';
import { createViewSnapshots } from '../../services/placement/view-snapshot.js';
import { registerHost, type Registration } from '../../services/placement/registry.js';
import { specOf } from '../support/container-gen.js';
import { startEtcd, startNats, startServers, type EtcdServer, type NatsServer } from '../support/servers.js';

const TTL = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, f: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

function host(hostname: string, o: Partial<HostRecord> & { cpus: number; memoryMiB: number }): HostRecord {
  const { cpus, memoryMiB, ...rest } = o;
  return {
    hostname,
    uuid: randomUUID(),
    capacity: { cpus, memoryMiB, diskGb: 50 },
    labels: {},
    availabilityZone: 'nova',
    runtimes: ['runc'],
    version: 'test',
    disabled: false,
    disabledReason: null,
    os: 'linux',
    osType: 'linux',
    architecture: 'x86_64',
    kernelVersion: '6',
    startedAt: new Date().toISOString(),
    ...rest,
  };
}

const BATCH_DELAY_MS = 1_000;

describe('placement service', () => {
  let nats: NatsServer;
  let etcdServer: EtcdServer;
  let nc: NatsConnection;
  let hostsEtcd: Etcd3;
  const clients: Etcd3[] = [];
  const conns: NatsConnection[] = [];
  const regs = new Map<string, Registration>();
  const instances: PlacementService[] = [];
  const log = createLogger('placement-it', process.env['LOG_LEVEL'] ?? 'warn');
  let store: ReturnType<typeof createJetStreamEventStore>;
  const deps = () => ({ store, newId: randomUUID, now: () => new Date() });
  const user = { projectId: 'p1', userId: 'u1' };

  async function startInstance(name: string, extra: Partial<Parameters<typeof createPlacement>[0]> = {}): Promise<PlacementService> {
    const etcd = new Etcd3({ hosts: etcdServer.endpoint });
    clients.push(etcd);
    const pnc = await connectNats({ servers: nats.url, name, log });
    conns.push(pnc);
    const p = createPlacement({
      nc: pnc,
      store: createJetStreamEventStore({ nc: pnc }),
      etcd,
      log,
      clock: () => new Date(),
      newId: randomUUID,
      weigher: 'spread',
      domain: 'default',
      instanceId: name,
      electionTtlSeconds: TTL,
      // Long enough that a test can tell a request planned at once from one that waited.
      batchDelayMs: BATCH_DELAY_MS,
      ...extra,
    });
    await p.start();
    instances.push(p);
    return p;
  }

  async function create(spec: Partial<ContainerSpec>): Promise<string> {
    const id = randomUUID();
    const r = await executeContainerCommand(deps(), id, { type: 'CreateContainer', spec: specOf({ name: id.slice(0, 8), ...spec }), run: true }, {
      ...user,
      requestId: `req-${randomUUID()}`,
    });
    expect(r.ok).toBe(true);
    return id;
  }

  /** Waits until placement has decided: a host, or a scheduling failure. */
  const decided = (id: string, timeoutMs = 20_000) =>
    waitFor<ContainerState>(`container ${id} to be placed or failed`, async () => {
      const s = await loadContainer(store, id);
      return s.host !== null || s.status === 'Error' ? s : null;
    }, timeoutMs);

  async function ledger() {
    const events = (await store.load('placement', 'default')) as RecordedEvent<PlacementEvent>[];
    return foldLedger(events);
  }

  const leaders = () => instances.filter((p) => p.isLeader());

  beforeAll(async () => {
    [nats, etcdServer] = await startServers<[NatsServer, EtcdServer]>(startNats(), startEtcd());
    nc = await connectNats({ servers: nats.url, name: 'placement-it' });
    await ensureStream(await jetstreamManager(nc));
    store = createJetStreamEventStore({ nc });
    hostsEtcd = new Etcd3({ hosts: etcdServer.endpoint });
    const records = [
      host('h1', { cpus: 2, memoryMiB: 2048, labels: { ssd: 'true' } }),
      host('h2', { cpus: 4, memoryMiB: 4096, availabilityZone: 'az2' }),
      host('h3', { cpus: 1, memoryMiB: 1024, availabilityZone: '' }),
    ];
    for (const r of records) regs.set(r.hostname, await registerHost(hostsEtcd, r, TTL));
    await startInstance('pl-a');
    await startInstance('pl-b');
    await waitFor('a leader', async () => leaders().length === 1);
  });

  afterAll(async () => {
    for (const p of instances) await p.stop().catch(() => {});
    for (const r of regs.values()) await r.revoke().catch(() => {});
    for (const c of clients) c.close();
    hostsEtcd?.close();
    for (const c of conns) await c.close().catch(() => {});
    await nc?.close();
    await Promise.all([nats?.stop(), etcdServer?.stop()]);
  });

  it('schedules on fitting hosts, honouring label hints, zones and the requested host', async () => {
    const ssd = await create({ cpu: 0.5, memory: 256, hints: { 'label:ssd': 'true' } });
    const az2 = await create({ cpu: 1, memory: 512, availabilityZone: 'az2' });
    const nova = await create({ cpu: 0.5, memory: 256, availabilityZone: 'nova' });
    const pinned = await create({ cpu: 0.25, memory: 128, requestedHost: 'h2' });
    const hosts = await Promise.all([ssd, az2, nova, pinned].map((id) => decided(id)));
    expect(hosts.map((s) => s.host)).toEqual(['h1', 'h2', 'h3', 'h2']);
    for (const s of hosts) {
      expect(s.status).toBe('Creating');
      expect(s.claim).toEqual({ cpu: s.spec!.cpu, memoryMiB: s.spec!.memory, diskGb: 0 });
    }
    const l = await ledger();
    for (const s of hosts) expect(l.claims.get(s.uuid)?.host).toBe(s.host);
    expect(leaders()).toHaveLength(1);
  });

  it('group commit: a request after a quiet spell is planned at once; a burst waits for the batch and shares one commit', async () => {
    await sleep(BATCH_DELAY_MS + 100); // a quiet spell
    const commitsBefore = (await store.load('placement', 'default')).filter((e) => e.type === 'PlacementsCommitted').length;
    const t0 = performance.now();
    const first = await create({ cpu: 0.01, memory: 1, requestedHost: 'h2' });
    expect((await decided(first)).host).not.toBeNull();
    expect(performance.now() - t0).toBeLessThan(BATCH_DELAY_MS / 2);
    // Right behind it, a burst: held until the delay has passed since the last plan, then planned together.
    const burst = await Promise.all(Array.from({ length: 5 }, () => create({ cpu: 0.01, memory: 1, requestedHost: 'h2' })));
    for (const id of burst) expect((await decided(id)).host).not.toBeNull();
    const commits = (await store.load('placement', 'default')).filter((e) => e.type === 'PlacementsCommitted').length - commitsBefore;
    expect(commits).toBe(2);
  });

  it('a host an operator forced down or disabled takes no new work until it is enabled again', async () => {
    for (const settings of [{ forcedDown: true }, { disabled: true, disabledReason: 'maintenance' }]) {
      await hostsEtcd.put('zun/host-settings/h2').value(JSON.stringify(settings));
      await new Promise((r) => setTimeout(r, 300)); // the watch delivers the setting
      const refused = await decided(await create({ cpu: 0.25, memory: 128, requestedHost: 'h2' }));
      expect([refused.status, refused.statusReason]).toEqual(['Error', 'There are not enough hosts available.']);
      await hostsEtcd.delete().key('zun/host-settings/h2');
      await new Promise((r) => setTimeout(r, 300));
      expect((await decided(await create({ cpu: 0.25, memory: 128, requestedHost: 'h2' }))).host).toBe('h2');
    }
  });

  it('places a capsule by its summed claim, and releases it when the capsule is deleted', async () => {
    const id = randomUUID();
    const spec: CapsuleSpec = {
      name: 'cap', labels: {}, annotations: {}, restartPolicy: 'always', availabilityZone: 'az2', cpu: 1.5, memory: 512,
      containers: [{
        name: 'main', image: 'zun-base:latest', command: ['sleep', '3600'], workdir: null, environment: {}, imagePullPolicy: 'never',
        interactive: false, tty: false, cpu: 1.5, memory: 512, exposedPorts: [], volumeMounts: [],
      }],
      initContainers: [], volumes: [],
    };
    expect((await executeCapsuleCommand(deps(), id, { type: 'CreateCapsule', spec }, { ...user, requestId: `req-${randomUUID()}` })).ok).toBe(true);
    const placed = await waitFor('the capsule to be placed', async () => {
      const c = await loadCapsule(store, id);
      return c.host !== null ? c : null;
    });
    expect(placed.host).toBe('h2');
    expect(placed.claim).toEqual({ cpu: 1.5, memoryMiB: 512, diskGb: 0 });
    expect((await ledger()).claims.get(id)).toMatchObject({ kind: 'capsule', host: 'h2' });
    await executeCapsuleCommand(deps(), id, { type: 'DeleteCapsule' }, { ...user, requestId: `req-${randomUUID()}` });
    await executeCapsuleCommand(deps(), id, { type: 'RecordCapsuleObservation', observation: { type: 'CapsuleDeleted', data: {} } }, { ...user, requestId: `req-${randomUUID()}` });
    await waitFor('the capsule claim to be released', async () => !(await ledger()).claims.has(id));
  });

  it('fails with Zun\'s reason what fits nowhere, and never overcommits a host', async () => {
    const huge = await create({ cpu: 8, memory: 256 });
    const failed = await decided(huge);
    expect(failed.status).toBe('Error');
    expect(failed.statusReason).toBe(NO_VALID_HOST);
    expect(failed.host).toBeNull();

    // h1 has 1.5 CPUs left; ten 0.5-CPU containers that must go to h1: three fit.
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await create({ cpu: 0.5, memory: 64, hints: { 'label:ssd': 'true' } }));
    const states = await Promise.all(ids.map((id) => decided(id)));
    expect(states.filter((s) => s.host === 'h1')).toHaveLength(3);
    expect(states.filter((s) => s.status === 'Error' && s.statusReason === NO_VALID_HOST)).toHaveLength(7);
    const l = await ledger();
    expect(usageOf(l, 'h1').cpuMilli).toBe(2000);
    const caps = new Map([['h1', { cpus: 2, memoryMiB: 2048, diskGb: 50 }], ['h2', { cpus: 4, memoryMiB: 4096, diskGb: 50 }], ['h3', { cpus: 1, memoryMiB: 1024, diskGb: 50 }]]);
    expect(overcommittedHosts(l, caps)).toEqual([]);
  });

  it('releases the claim of a deleted container, and the room is used again', async () => {
    const l0 = await ledger();
    const onH1 = [...l0.claims.values()].find((c) => c.host === 'h1' && c.claim.cpu === 0.5)!;
    const ctx = { ...user, requestId: `req-${randomUUID()}` };
    await executeContainerCommand(deps(), onH1.id, { type: 'DeleteContainer', stop: false, force: true }, ctx);
    // The host actor removes it and observes the deletion.
    const r = await executeContainerCommand(deps(), onH1.id, { type: 'RecordObservation', observation: { type: 'ContainerDeleted', data: {} } }, {
      ...user,
      requestId: `req-${randomUUID()}`,
    });
    expect(r.ok).toBe(true);
    await waitFor('the claim to be released', async () => !(await ledger()).claims.has(onH1.id));
    const again = await decided(await create({ cpu: 0.5, memory: 64, hints: { 'label:ssd': 'true' } }));
    expect(again.host).toBe('h1');
  });

  it('a container deleted right after creation ends with no claim, whether it was placed first or not', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await create({ cpu: 0.1, memory: 64 }));
    for (const id of ids) {
      const r = await executeContainerCommand(deps(), id, { type: 'DeleteContainer', stop: false, force: true }, { ...user, requestId: `req-${randomUUID()}` });
      if (r.state.status === 'Deleting') {
        // Placed first: the host actor removes it and observes the deletion.
        await executeContainerCommand(deps(), id, { type: 'RecordObservation', observation: { type: 'ContainerDeleted', data: {} } }, { ...user, requestId: `req-${randomUUID()}` });
      }
      expect((await loadContainer(store, id)).status).toBe('Deleted');
    }
    await sleep(200);
    await waitFor('no claim for the deleted containers', async () => {
      const l = await ledger();
      return ids.every((id) => !l.claims.has(id));
    });
    for (const id of ids) expect((await store.load('container', id)).filter((e) => e.type === 'ContainerScheduled').length).toBeLessThanOrEqual(1);
  });

  it('a deleted container is remembered only until its claim is released, also when a lagging planner commits a claim for it after the deletion', async () => {
    // Deleted before any placement: it fits nowhere (Error), then is deleted at once (never placed).
    const id = randomUUID();
    const created = await executeContainerCommand(deps(), id, { type: 'CreateContainer', spec: specOf({ name: 'lagged', cpu: 64, memory: 64 }), run: true }, {
      ...user,
      requestId: `req-${randomUUID()}`,
    });
    expect((await decided(id)).status).toBe('Error');
    await executeContainerCommand(deps(), id, { type: 'DeleteContainer', stop: false, force: true }, { ...user, requestId: `req-${randomUUID()}` });
    expect((await loadContainer(store, id)).status).toBe('Deleted');
    // A deposed leader that planned it (as fitting) before the deletion commits now: fenced on the latest ledger, so it lands.
    const stale = requestFromContainer({ ...created.state, spec: { ...created.state.spec!, cpu: 0.1 } } as ContainerState);
    const l = await ledger();
    const out = await commitBatch({ store, domain: 'default', newId: randomUUID, now: () => new Date() }, l, [stale], [host('h2', { cpus: 4, memoryMiB: 4096, availabilityZone: 'az2' })], 'spread', `req-${randomUUID()}`);
    expect(out.placements.map((p) => p.id)).toEqual([id]);
    // The leader finds the claim's consumer deleted and releases it; nothing was scheduled.
    await waitFor('the lagging claim to be released', async () => !(await ledger()).claims.has(id));
    expect((await store.load('container', id)).filter((e) => e.type === 'ContainerScheduled')).toEqual([]);
    // With every claim of a deleted consumer released, neither the leader nor the standby remembers any deleted consumer.
    await waitFor('no tombstones left', async () => instances.filter((p) => p.isLeader() || p.stats().standbySeq > 0).every((p) => p.stats().tombstones === 0));
    for (const p of instances) expect(p.stats().tombstones, p.isLeader() ? 'leader' : 'standby').toBe(0);
  });

  it('the standby takes over within the TTL when the leader dies without resigning, from the view it folded while waiting', async () => {
    const [leader] = leaders();
    expect(leader).toBeDefined();
    const standby = instances.find((p) => p !== leader)!;
    // Warm standby: it has folded the stream as it grew (no placing).
    const { state } = await (await jetstreamManager(nc)).streams.info(STREAM_NAME);
    expect(state.last_seq).toBeGreaterThan(50);
    await waitFor('the standby to have folded the stream', async () => standby.stats().standbySeq >= state.last_seq);
    expect(standby.stats().placed).toBe(0);
    const t0 = Date.now();
    await leader!.stop({ resign: false });
    const next = await waitFor('the standby to lead', async () => instances.find((p) => p !== leader && p.isLeader()), 10_000, 20);
    const took = Date.now() - t0;
    // The dead leader's lease runs out after TTL (plus etcd's lease check granularity).
    expect(took).toBeLessThan(TTL * 1000 * 2 + 1000);
    expect(next).toBe(standby);
    const s = await decided(await create({ cpu: 1, memory: 256, availabilityZone: 'az2' }));
    expect(s.host).toBe('h2');
    expect(next.stats().placed).toBeGreaterThanOrEqual(1);
    // Its term read only what the standby had not folded (nothing was appended meanwhile), not the whole stream.
    expect(next.stats().takeoverEvents).toBeLessThan(5);
    expect(next.stats().standbySeq).toBe(0); // leading: no standby view
    // A new standby joins.
    await startInstance('pl-c');
  });

  it('marks the containers of a host whose lease lapsed as lost (Unknown)', async () => {
    const onH3 = await decided(await create({ cpu: 0.1, memory: 64, requestedHost: 'h3' }));
    expect(onH3.host).toBe('h3');
    regs.get('h3')!.lapse();
    const lost = await waitFor('the container on h3 to be Unknown', async () => {
      const s = await loadContainer(store, onH3.uuid);
      return s.status === 'Unknown' ? s : null;
    }, TTL * 1000 * 3 + 5_000);
    expect(lost.statusReason).toBe('host h3 is not reachable');
    const events = await store.load('container', onH3.uuid);
    expect(events.filter((e) => e.type === 'ContainerHostLost')).toHaveLength(1);
    // Nothing new goes to the lost host.
    const s = await decided(await create({ cpu: 0.1, memory: 64, requestedHost: 'h3' }));
    expect(s.status).toBe('Error');
  });

  it('survives a nats-server restart', async () => {
    await nats.restart();
    await waitFor('the client to reconnect', async () => {
      await jetstreamManager(nc).then((m) => m.streams.info('ZUN_EVENTS'));
      return true;
    });
    const s = await decided(await create({ cpu: 0.5, memory: 128, availabilityZone: 'az2' }), 30_000);
    expect(s.host).toBe('h2');
    expect(leaders()).toHaveLength(1);
  });

  it('survives an etcd restart: still one leader, and the registry watch resumes', async () => {
    await etcdServer.restart();
    const s = await decided(await create({ cpu: 0.5, memory: 128, availabilityZone: 'az2' }), 30_000);
    expect(s.host).toBe('h2');
    await waitFor('one leader', async () => leaders().length === 1, 20_000);
    // A host registered after the restart is seen through the resumed watch.
    const h4Etcd = new Etcd3({ hosts: etcdServer.endpoint });
    clients.push(h4Etcd);
    regs.set('h4', await waitFor('etcd to take a registration', async () => registerHost(h4Etcd, host('h4', { cpus: 2, memoryMiB: 1024 }), TTL), 20_000, 200));
    const on4 = await waitFor('a container placed on h4', async () => {
      const st = await decided(await create({ cpu: 0.1, memory: 64, requestedHost: 'h4' }));
      return st.host === 'h4' ? st : null;
    }, 30_000, 500);
    expect(on4.host).toBe('h4');
  });

  it('a malformed message in the stream does not stall a starting instance: it is skipped, and placing goes on', async () => {
    const junk = await jetstream(nc).publish(`zun.evt.container.${randomUUID()}`, 'this is not an event');
    const late = await startInstance('pl-late');
    await waitFor('the new standby to fold past the malformed message', async () => late.stats().standbySeq >= junk.seq);
    const s = await decided(await create({ cpu: 0.5, memory: 128 }));
    expect(s.host).not.toBeNull();
  });

  it('view snapshots: a fresh instance starts from the standby\'s snapshot, folds only what came after, and places and releases as one that folded everything', async () => {
    const deleteAndObserve = async (id: string) => {
      expect((await executeContainerCommand(deps(), id, { type: 'DeleteContainer', stop: false, force: true }, { ...user, requestId: `req-${randomUUID()}` })).ok).toBe(true);
      expect((await loadContainer(store, id)).status).toBe('Deleting'); // placed, and its host is up
      await executeContainerCommand(deps(), id, { type: 'RecordObservation', observation: { type: 'ContainerDeleted', data: {} } }, { ...user, requestId: `req-${randomUUID()}` });
    };
    // In the snapshot: a container placed before it.
    const early = await decided(await create({ cpu: 0.1, memory: 64 }));
    expect(early.host).not.toBeNull();
    // A standby that writes a snapshot as soon as it has folded 10 events past the last one.
    const writer = await startInstance('pl-snap', { snapshotEveryEvents: 10, snapshotMinIntervalMs: 0 });
    const { state } = await (await jetstreamManager(nc)).streams.info(STREAM_NAME);
    await waitFor('a snapshot written', async () => writer.stats().snapshotsWritten > 0 && writer.stats().standbySeq >= state.last_seq);
    // After it: a container placed, then deleted and released.
    const after = await decided(await create({ cpu: 0.1, memory: 64 }));
    expect(after.host).not.toBeNull();
    await deleteAndObserve(after.uuid);
    await waitFor('the deleted one released', async () => !(await ledger()).claims.has(after.uuid));

    const fresh = await startInstance('pl-fresh');
    await waitFor('the fresh instance to start from the snapshot', async () => fresh.stats().startedFromSnapshot > 0);
    // Its view began at the snapshot's sequence, well into the stream: it never folded what came before.
    expect(fresh.stats().startedFromSnapshot).toBeGreaterThanOrEqual(state.last_seq);
    // Only it is left to lead: everything else resigns.
    for (const p of instances) if (p !== fresh) await p.stop({ resign: true });
    await waitFor('the fresh instance to lead', async () => fresh.isLeader(), 20_000, 50);
    // It places, within capacity, and releases the claim of a container it knows from the snapshot only.
    const next = await decided(await create({ cpu: 0.1, memory: 64 }));
    expect(next.host).not.toBeNull();
    const capacity = { h1: [2, 2048], h2: [4, 4096], h3: [1, 1024], h4: [2, 1024] } as const;
    expect(overcommittedHosts(await ledger(), new Map(Object.entries(capacity).map(([h, [cpus, memoryMiB]]) => [h, host(h, { cpus, memoryMiB }).capacity])))).toEqual([]);
    expect((await ledger()).claims.has(early.uuid)).toBe(true);
    await deleteAndObserve(early.uuid);
    await waitFor('the fresh leader to release the claim', async () => !(await ledger()).claims.has(early.uuid));
  });

  it('view snapshots: a lone leader writes them too (there is no standby to), and the next instance starts from its snapshot', async () => {
    // Whatever leads now resigns: one instance is left, leading alone, writing after 10 events.
    for (const p of instances) await p.stop({ resign: true }).catch(() => {});
    const lone = await startInstance('pl-lone', { snapshotEveryEvents: 10, snapshotMinIntervalMs: 0 });
    await waitFor('the lone instance to lead', async () => lone.isLeader(), 20_000, 50);
    const snapshots = createViewSnapshots({ nc, domain: 'default' });
    const before = await snapshots.latestSeq();
    for (let i = 0; i < 6; i++) expect((await decided(await create({ cpu: 0.1, memory: 64 }))).host).not.toBeNull();
    await waitFor('the leader to write a snapshot', async () => lone.stats().snapshotsWritten > 0 && (await snapshots.latestSeq()) > before);
    expect(lone.stats().standbySeq).toBe(0); // it leads: no standby view
    const written = await snapshots.latestSeq();
    // A new one, at least the spacing (10 events) past the last; exactly 10 when the view reached it event by event.
    expect(written).toBeGreaterThanOrEqual(before + 10);
    await lone.stop({ resign: true });
    const next = await startInstance('pl-after-lone');
    await waitFor('the next instance to start from the leader\'s snapshot', async () => next.stats().startedFromSnapshot > 0);
    expect(next.stats().startedFromSnapshot).toBe(written);
    await waitFor('it to lead', async () => next.isLeader(), 20_000, 50);
    // Its view is whole: it places within capacity, with every claim made before the snapshot still held.
    expect((await decided(await create({ cpu: 0.1, memory: 64 }))).host).not.toBeNull();
  });
});
