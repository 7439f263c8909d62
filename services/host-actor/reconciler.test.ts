/**
 * What a reconcile pass asks of Docker and of the log, on the memory event
 * store and the Docker and network twins: what it may take from its own
 * calls' answers instead of looking again, and what it must still look at
 * (drift, a stale cached image, a stale view of the log).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { NetworkRef } from '../../events/network.js';
import { executeContainerCommand, loadContainer } from '../platform/commands.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { specOf } from '../../test/support/container-gen.js';
import { RuntimeError, RuntimeErrorCode, type ContainerRuntime } from './docker.js';
import { createImagePresence } from './images.js';
import { createMemoryRuntime } from './memory-runtime.js';
import { createMemoryNetworkDriver } from './network/memory.js';
import { createReconciler, isEcho, NETWORK_ATTACH_ATTEMPTS, newWorkerMemory } from './reconciler.js';
import { deriveContainerActions } from '../../domain/actions.js';
import { createHostResources, type HostResources } from './resources.js';

const HOST = 'node-1';
const UUID = '6e0b6a0e-3f4c-4f7b-a1a9-2c7d4b1e9f00';
const silent = pino({ level: 'silent' });
const NET: NetworkRef = { id: 'net-a', neutronNetId: 'net-a', name: 'a', projectId: 'p1', cidr: '10.9.1.0/24', gateway: '10.9.1.1' };

function setup(o: { networks?: boolean; networkRecheckMs?: number; refuseConnect?: string } = {}) {
  const store = createMemoryEventStore();
  const rt = createMemoryRuntime();
  let imageLooks = 0;
  const runtime: ContainerRuntime = { ...rt, imagePresent: (image) => (imageLooks++, rt.imagePresent(image)) };
  let n = 0;
  const newId = () => `id-${++n}`;
  let now = 1_000;
  const clock = () => new Date(now);
  const deps = { store, newId, now: clock };
  const ctx = () => ({ projectId: 'p1', userId: 'u1', requestId: `req-${newId()}` });
  let networkLooks = 0;
  let resources: HostResources | null = null;
  const network = createMemoryNetworkDriver({ runtime: rt, host: HOST });
  if (o.networks) {
    const real = createHostResources({ hostname: HOST, store, newId, clock, log: silent, network });
    resources = {
      ...real,
      connectedNetworks: (...a) => (networkLooks++, real.connectedNetworks(...a)),
      // A network whose connects Docker refuses, every time.
      connect: async (ref, net) => {
        if (net.resolved?.id === o.refuseConnect) throw new Error(`Docker refused to connect ${ref.dockerId} to ${o.refuseConnect}`);
        return real.connect(ref, net);
      },
    };
  }
  const images = createImagePresence(runtime, { now: () => now, ttlMs: 5_000 });
  const rec = createReconciler({
    hostname: HOST, store, runtime, log: silent, clock, newId, resources, images,
    ...(o.networkRecheckMs !== undefined ? { networkRecheckMs: o.networkRecheckMs } : {}),
  });
  const cmdOn = (uuid: string, c: Parameters<typeof executeContainerCommand>[2]) => executeContainerCommand(deps, uuid, c, ctx());
  const cmd = (c: Parameters<typeof executeContainerCommand>[2]) => cmdOn(UUID, c);
  return {
    store, rt, rec, cmd, network,
    advance: (ms: number) => (now += ms),
    pass: async (mem = newWorkerMemory(), full = false, uuid = UUID) => rec.pass(await loadContainer(store, uuid), mem, silent, { full }),
    looks: () => ({ find: rt.calls.filter((c) => c.op === 'find').length, image: imageLooks, network: networkLooks }),
    place: async (spec = specOf(), uuid = UUID) => {
      await cmdOn(uuid, { type: 'CreateContainer', spec, run: true });
      await cmdOn(uuid, { type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    },
  };
}

describe('what a pass asks of Docker', () => {
  it('create with run: one look before the create; the create and start answers stand for the looks after them', async () => {
    const t = setup();
    await t.place();
    const out = await t.pass();
    expect(out.state.status).toBe('Running');
    expect(t.rt.calls.map((c) => c.op)).toEqual(['find', 'create', 'start']);
    expect(t.rt.containers()[0]!.state).toBe('running');
    // The next trigger looks again (level-based), once, and finds nothing to do.
    expect((await t.pass()).retryInMs).toBeNull();
    expect(t.looks().find).toBe(2);
  });

  it('after the host\'s listing, a new uuid is not looked up: create and start only; a container a crashed predecessor made is adopted by the name conflict', async () => {
    const t = setup();
    t.rec.sawListing([]);
    await t.place();
    expect((await t.pass()).state.status).toBe('Running');
    expect(t.rt.calls.map((c) => c.op)).toEqual(['create', 'start']);
    // Another uuid whose container exists, unrecorded and unlisted (its create was in flight when a predecessor died).
    const u2 = '7f1c7b1f-0000-4000-8000-0000000000a2';
    await t.place(specOf(), u2);
    const before = t.rt.containers().length;
    const made = await t.rt.create({ host: HOST, uuid: u2, spec: (await loadContainer(t.store, u2)).spec!, image: 'zun-base:latest', generation: 0, binds: [], endpoint: null });
    expect(t.rt.containers()).toHaveLength(before + 1);
    const out = await t.pass(newWorkerMemory(), false, u2);
    expect(out.state.status).toBe('Running');
    expect(out.state.observed.dockerId).toBe(made);
    expect(t.rt.containers()).toHaveLength(before + 1); // adopted, not duplicated
  });

  it('a container that dies right after its start is observed by the pass its exit event runs', async () => {
    const t = setup();
    await t.place();
    const mem = newWorkerMemory();
    await t.pass(mem);
    t.rt.drift.exit(t.rt.containers()[0]!.id, 3);
    const out = await t.pass(mem);
    expect(out.state.status).toBe('Stopped');
    expect(out.state.observed.exitCode).toBe(3);
  });

  it('a stop behind its back is drift: the next pass records it', async () => {
    const t = setup();
    await t.place();
    const mem = newWorkerMemory();
    await t.pass(mem);
    t.rt.drift.stop(t.rt.containers()[0]!.id);
    expect((await t.pass(mem)).state.status).toBe('Stopped');
  });

  it('commit: carried out by the pass and recorded with the image id; a refused one is recorded against its generation, the container unchanged', async () => {
    const t = setup();
    await t.place();
    const mem = newWorkerMemory();
    await t.pass(mem);
    await t.cmd({ type: 'CommitContainer', repository: 'team/web', tag: 'v1', imageUuid: 'img-1' });
    await t.pass(mem);
    t.rt.failNext('commit', new RuntimeError(RuntimeErrorCode.docker, 'no space left on device', 500));
    await t.cmd({ type: 'CommitContainer', repository: 'team/web', tag: 'v2', imageUuid: 'img-2' });
    const out = await t.pass(mem);
    expect(t.rt.calls.filter((c) => c.op === 'commit')).toHaveLength(2);
    expect(t.rt.images.has('team/web:v1')).toBe(true);
    expect([out.state.status, out.state.statusReason, out.state.observed.commitDone, out.state.desired.commits]).toEqual(['Running', null, 2, []]);
    const events = (await t.store.load('container', UUID)).map((e) => [e.type, e.data]).filter(([type]) => type !== 'ContainerCommitRequested');
    expect(events.slice(-2)).toEqual([
      ['ContainerCommitted', { generation: 1, repository: 'team/web', tag: 'v1', imageUuid: 'img-1', imageId: 'sha256:img1' }],
      ['ContainerCommitFailed', { generation: 2, reason: 'no space left on device' }],
    ]);
    // Done: the next pass commits nothing again.
    expect((await t.pass(mem)).retryInMs).toBeNull();
    expect(t.rt.calls.filter((c) => c.op === 'commit')).toHaveLength(2);
  });

  it('the echo of our own start is dropped once; other events and later ones are news', async () => {
    const t = setup();
    await t.place();
    const mem = newWorkerMemory();
    await t.pass(mem);
    expect(isEcho(mem, 'start', 1_000)).toBe(true);
    expect(isEcho(mem, 'start', 1_000)).toBe(false); // consumed
    expect(isEcho(mem, 'create', 1_000)).toBe(false); // not subscribed to (docker.ts, DRIFT_EVENTS)
    expect(isEcho(mem, 'die', 1_000)).toBe(false);
    expect(isEcho(mem, 'start', 1_000 + 60_000)).toBe(false); // expired
  });

  it('image presence is asked once for a burst; an image removed meanwhile is asked again before the create fails', async () => {
    const t = setup();
    const [u2, u3, u4] = ['7f1c7b1f-0000-4000-8000-000000000002', '7f1c7b1f-0000-4000-8000-000000000003', '7f1c7b1f-0000-4000-8000-000000000004'];
    await t.place();
    await t.place(specOf(), u2);
    expect((await t.pass()).state.status).toBe('Running');
    expect((await t.pass(newWorkerMemory(), false, u2)).state.status).toBe('Running');
    expect(t.looks().image).toBe(1);
    // The image goes behind the cache's back: the create fails, the answer is dropped, Docker is asked again.
    t.rt.images.delete('zun-base:latest');
    await t.place(specOf(), u3);
    const out = await t.pass(newWorkerMemory(), false, u3);
    expect(out.state.status).toBe('Error');
    expect(out.state.statusReason).toMatch(/Image zun-base:latest could not be found on host node-1/);
    expect(t.looks().image).toBe(2);
    // Imported again: used at once (absence is never cached).
    t.rt.images.add('zun-base:latest');
    await t.place(specOf(), u4);
    expect((await t.pass(newWorkerMemory(), false, u4)).state.status).toBe('Running');
    expect(t.looks().image).toBe(3);
  });
});

describe('what a pass asks of the log', () => {
  it('records on the state it holds when that is the latest, and decides again on the log when it is not', async () => {
    const t = setup();
    await t.place();
    await t.pass();
    const stale = await loadContainer(t.store, UUID);
    t.rt.drift.exit(t.rt.containers()[0]!.id, 1);
    // Someone appends meanwhile: the state the pass starts from is behind the log.
    expect((await t.cmd({ type: 'UpdateContainer', patch: { name: 'renamed' } })).ok).toBe(true);
    const out = await t.rec.pass(stale, newWorkerMemory(), silent);
    // The fence refused the stale view; decided again on the log, which has the rename.
    expect(out.state.status).toBe('Stopped');
    expect(out.state.spec?.name).toBe('renamed');
    expect(out.state).toEqual(await loadContainer(t.store, UUID));
    const types = (await t.store.load('container', UUID)).map((e) => e.type);
    expect(types.filter((x) => x === 'ContainerExited')).toHaveLength(1);
  });

  it('the state it returns equals the log folded from scratch', async () => {
    const t = setup({ networks: true });
    await t.place(specOf({ nets: [{ network: 'net-a', resolved: NET }] }));
    const out = await t.pass();
    expect(out.state).toEqual(await loadContainer(t.store, UUID));
  });
});

describe('what a pass asks of the networks', () => {
  const spec = () => specOf({ nets: [{ network: 'net-a', resolved: NET }] });

  it('looked at once the container converged; not again while neither it nor its log changes, unless a full pass finds it stale', async () => {
    const t = setup({ networks: true, networkRecheckMs: 30_000 });
    await t.place(spec());
    const mem = newWorkerMemory();
    const out = await t.pass(mem);
    expect(out.state.networks?.['net-a']?.addresses).toHaveLength(1);
    expect(t.looks().network).toBe(1);
    await t.pass(mem);
    await t.pass(mem, true); // a full pass soon after: still fresh
    expect(t.looks().network).toBe(1);
    t.advance(30_000);
    await t.pass(mem); // not full: waits for the resync
    expect(t.looks().network).toBe(1);
    await t.pass(mem, true);
    expect(t.looks().network).toBe(2);
    // A change in the log (a stop and a start) looks again.
    await t.cmd({ type: 'StopContainer', timeout: 1 });
    await t.pass(mem);
    await t.cmd({ type: 'StartContainer' });
    await t.pass(mem);
    expect(t.looks().network).toBeGreaterThan(2);
  });

  it(`a network_attach whose connects keep failing is given up after ${NETWORK_ATTACH_ATTEMPTS} tries: recorded, its action an Error, not tried again`, async () => {
    const NET_B: NetworkRef = { ...NET, id: 'net-b', neutronNetId: 'net-b', name: 'b', cidr: '10.9.2.0/24', gateway: '10.9.2.1' };
    const t = setup({ networks: true, refuseConnect: 'net-b' });
    await t.place(spec());
    const mem = newWorkerMemory();
    expect((await t.pass(mem)).state.status).toBe('Running');
    await t.cmd({ type: 'AttachNetwork', net: { network: 'b', resolved: NET_B } });
    const failures = async () => (await t.store.load('container', UUID)).filter((e) => e.type === 'ContainerNetworkAttachFailed');
    for (let i = 1; i < NETWORK_ATTACH_ATTEMPTS; i++) {
      expect((await t.pass(mem)).retryInMs).not.toBeNull();
      expect(await failures()).toHaveLength(0);
    }
    const out = await t.pass(mem);
    expect(out.retryInMs).toBeNull();
    expect((await failures()).map((e) => e.data)).toEqual([{ network: 'net-b', reason: expect.stringContaining('Docker refused') }]);
    expect(out.state.status).toBe('Running');
    const [, attach] = deriveContainerActions(UUID, await t.store.load('container', UUID));
    expect(attach).toMatchObject({ action: 'network_attach', message: expect.stringContaining('Docker refused') });
    expect(attach!.finishTime).not.toBeNull();
    const tries = () => t.network.calls.filter((c) => c.op === 'connect').length;
    const before = tries();
    await t.pass(mem, true);
    expect(tries()).toBe(before);
    expect(await failures()).toHaveLength(1);
  });

  it('a stopped container\'s networks are left alone: no connects, no retries (they are its configuration until it runs)', async () => {
    const t = setup({ networks: true, networkRecheckMs: 0 });
    await t.place(spec());
    const mem = newWorkerMemory();
    await t.pass(mem);
    await t.cmd({ type: 'StopContainer', timeout: 1 });
    expect((await t.pass(mem)).state.status).toBe('Stopped');
    const connects = () => t.network.calls.filter((c) => c.op === 'connect').length;
    const before = connects();
    for (let i = 0; i < 3; i++) expect((await t.pass(mem, true)).retryInMs).toBeNull();
    expect(connects()).toBe(before);
  });

  it('a network of the create request is not given up: its connects go on with back-off', async () => {
    const NET_C: NetworkRef = { ...NET, id: 'net-c', neutronNetId: 'net-c', name: 'c', cidr: '10.9.3.0/24', gateway: '10.9.3.1' };
    const t = setup({ networks: true, refuseConnect: 'net-c' });
    await t.place(specOf({ nets: [{ network: 'net-a', resolved: NET }, { network: 'c', resolved: NET_C }] }));
    const mem = newWorkerMemory();
    for (let i = 0; i < NETWORK_ATTACH_ATTEMPTS + 2; i++) expect((await t.pass(mem)).retryInMs).not.toBeNull();
    expect((await t.store.load('container', UUID)).filter((e) => e.type === 'ContainerNetworkAttachFailed')).toHaveLength(0);
  });

  it('a network disconnected behind its back is connected again by the full pass', async () => {
    const t = setup({ networks: true, networkRecheckMs: 0 });
    await t.place(spec());
    const mem = newWorkerMemory();
    await t.pass(mem);
    const id = t.rt.containers()[0]!.id;
    await t.network.disconnect({ dockerId: id, uuid: UUID }, { id: 'net-a', name: 'a', projectId: 'p1' });
    await t.pass(mem); // an unrelated trigger: the networks are not looked at
    expect(t.network.calls.filter((c) => c.op === 'connect')).toHaveLength(0);
    await t.pass(mem, true);
    expect(t.network.calls.filter((c) => c.op === 'connect')).toHaveLength(1);
    expect([...t.network.networks().get('net-a')!.connected.keys()]).toEqual([id]);
  });
});
