/**
 * Networks, volumes and capsules in the host actor, on the memory event store
 * with the Docker, network and volume twins: the sequences are checked for
 * order, idempotency (a pass run again after a crash at any step) and for
 * leaving nothing behind.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CapsuleContainerSpec, CapsuleSpec, ContainerSpec } from '../../events/index.js';
import type { NetworkRef } from '../../events/network.js';
import { executeCapsuleCommand, executeContainerCommand, loadCapsule, loadContainer } from '../platform/commands.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { executeVolumeCommand, loadVolume } from '../resources/commands.js';
import { specOf } from '../../test/support/container-gen.js';
import { createCapsuleReconciler, newCapsuleMemory } from './capsule-reconciler.js';
import { LABELS, memberCreateOptions, SANDBOX_COMMAND } from './docker.js';
import { createMemoryRuntime } from './memory-runtime.js';
import { createMemoryNetworkDriver } from './network/memory.js';
import { createReconciler, mountsOf, newWorkerMemory } from './reconciler.js';
import { CrashPoint, createHostResources } from './resources.js';
import { ConfigError, loadConfig } from './config.js';
import { createMemoryBindFileStore, createMemoryVolumeDriver } from './volume/memory.js';

const HOST = 'node-1';
const UUID = '6e0b6a0e-3f4c-4f7b-a1a9-2c7d4b1e9f00';
const CAPSULE = '0c6a7f7e-5a1b-4f0e-9b51-3c2d7a1e0b11';
const silent = pino({ level: 'silent' });
const NET: NetworkRef = { id: 'net-a', neutronNetId: 'net-a', name: 'a', projectId: 'p1', cidr: '10.9.1.0/24', gateway: '10.9.1.1' };
const NET_B: NetworkRef = { ...NET, id: 'net-b', neutronNetId: 'net-b', name: 'b', cidr: '10.9.2.0/24', gateway: '10.9.2.1' };

class Crash extends Error {}

function setup(opts: { crashAt?: CrashPoint } = {}) {
  const store = createMemoryEventStore();
  const rt = createMemoryRuntime();
  const network = createMemoryNetworkDriver({ runtime: rt, host: HOST });
  const volumes = createMemoryVolumeDriver();
  const bindFiles = createMemoryBindFileStore();
  let n = 0;
  const newId = () => `id-${++n}`;
  let now = 0;
  const clock = () => new Date(now);
  const deps = { store, newId, now: clock };
  const ctx = () => ({ projectId: 'p1', userId: 'u1', requestId: `req-${newId()}` });
  const crashAt = { point: opts.crashAt ?? null };
  const resources = createHostResources({
    hostname: HOST, store, newId, clock, log: silent, network, volumes, bindFiles,
    crash: (p) => {
      if (p === crashAt.point) {
        crashAt.point = null; // once: the restarted actor goes on
        throw new Crash(p);
      }
    },
  });
  const rec = createReconciler({ hostname: HOST, store, runtime: rt, log: silent, clock, newId, resources });
  const caps = createCapsuleReconciler({ hostname: HOST, store, runtime: rt, log: silent, clock, newId, resources });
  const volume = async (id: string, o: { name?: string; autoRemove?: boolean } = {}) => {
    await executeVolumeCommand(deps, id, { type: 'CreateVolume', name: o.name ?? '', projectId: 'p1', sizeGb: 1, autoRemove: o.autoRemove ?? false }, ctx());
  };
  return {
    store, rt, network, volumes, bindFiles, resources, volume, advance: (ms: number) => (now += ms),
    cmd: (c: Parameters<typeof executeContainerCommand>[2]) => executeContainerCommand(deps, UUID, c, ctx()),
    pass: async (mem = newWorkerMemory()) => rec.pass(await loadContainer(store, UUID), mem, silent),
    capsule: (c: Parameters<typeof executeCapsuleCommand>[2]) => executeCapsuleCommand(deps, CAPSULE, c, ctx()),
    capsulePass: async (mem = newCapsuleMemory()) => caps.pass(await loadCapsule(store, CAPSULE), mem, silent),
  };
}

const placed = async (t: ReturnType<typeof setup>, spec: ContainerSpec, run = true) => {
  await t.cmd({ type: 'CreateContainer', spec, run });
  await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
};

describe('containers with networks and volumes', () => {
  const spec = () =>
    specOf({
      nets: [{ network: 'net-a', v4FixedIp: '10.9.1.10', resolved: NET }],
      mounts: [
        { type: 'volume', source: 'data', destination: '/data', volumeId: 'vol-1' },
        { type: 'volume', size: 1, destination: '/scratch', volumeId: 'vol-2' },
        { type: 'bind', source: 'aGVsbG8K', destination: '/etc/inj', volumeId: `${UUID}-file-2` },
      ],
    });

  it('volumes are made and mounted, and the first network given, before the Docker create; addresses are recorded', async () => {
    const t = setup();
    await t.volume('vol-1', { name: 'data' });
    await t.volume('vol-2', { autoRemove: true });
    await placed(t, spec());
    const out = await t.pass();
    expect(out.state.status).toBe('Running');
    const [c] = t.rt.containers();
    expect(c!.binds).toEqual(['/mem/mnt/vol-1:/data', '/mem/mnt/vol-2:/scratch', `/mem/mnt/${UUID}-file-2/${UUID}-file-2:/etc/inj`]);
    expect(c!.networkMode).toBe(`zun-net-a-${HOST}`);
    // Made and mounted before the create; checked again (no-ops) before the start.
    expect(t.volumes.calls.filter((x) => x.id === 'vol-1').map((x) => x.op)).toEqual(['create', 'attach', 'mount', 'create', 'attach', 'mount']);
    expect((await loadVolume(t.store, 'vol-1')).attachments).toEqual({ [UUID]: HOST });
    expect(out.state.networks).toEqual({ 'net-a': { neutronNetId: 'net-a', addresses: [expect.objectContaining({ addr: '10.9.1.10', version: 4 })] } });
    // Another pass changes nothing.
    const events = (await t.store.load('container', UUID)).length;
    expect((await t.pass()).retryInMs).toBeNull();
    expect(await t.store.load('container', UUID)).toHaveLength(events);
  });

  it('network_attach connects, network_detach disconnects, each recorded once', async () => {
    const t = setup();
    await t.volume('vol-1');
    await t.volume('vol-2', { autoRemove: true });
    await placed(t, spec());
    await t.pass();
    await t.cmd({ type: 'AttachNetwork', net: { network: 'net-b', resolved: NET_B } });
    let s = (await t.pass()).state;
    expect(Object.keys(s.networks ?? {}).sort()).toEqual(['net-a', 'net-b']);
    expect(t.network.calls.filter((c) => c.op === 'connect')).toHaveLength(1);
    await t.cmd({ type: 'DetachNetwork', network: 'net-a' });
    s = (await t.pass()).state;
    expect(Object.keys(s.networks ?? {})).toEqual(['net-b']);
    const events = await t.store.load('container', UUID);
    const types = events.map((e) => e.type);
    // net-a, the create's network, was recorded with the start; net-b, attached later, on its own.
    const started = events.filter((e) => e.type === 'ContainerStarted');
    expect(started.map((e) => (e.data as { networks?: { network: string }[] }).networks?.map((n) => n.network))).toEqual([['net-a']]);
    expect(events.filter((e) => e.type === 'ContainerNetworkAttached').map((e) => (e.data as { network: string }).network)).toEqual(['net-b']);
    expect(types.filter((x) => x === 'ContainerNetworkDetached')).toHaveLength(1);
  });

  it('delete: the container goes, then its volumes are let go of (the size one deleted, the named one kept), then ContainerDeleted', async () => {
    const t = setup();
    await t.volume('vol-1', { name: 'data' });
    await t.volume('vol-2', { autoRemove: true });
    await placed(t, spec());
    await t.pass();
    await t.cmd({ type: 'DeleteContainer', stop: true, force: false });
    const out = await t.pass();
    expect(out.state.status).toBe('Deleted');
    expect(t.rt.containers()).toEqual([]);
    const kept = await loadVolume(t.store, 'vol-1');
    expect(kept.status).toBe('Available');
    expect(kept.attachments).toEqual({});
    expect(t.volumes.volumes().get('vol-1')).toMatchObject({ exists: true, device: null, mounted: false });
    expect((await loadVolume(t.store, 'vol-2')).status).toBe('Deleted');
    expect(t.volumes.volumes().has('vol-2')).toBe(false);
    expect(t.bindFiles.files.size).toBe(0);
    // The unused network goes after the grace period, not before.
    await t.resources.collectNetworks(1_000, 5_000);
    expect(t.network.networks().size).toBe(1);
    await t.resources.collectNetworks(10_000, 5_000);
    expect(t.network.networks().size).toBe(0);
  });

  it('a stopped container keeps its network: collected only once no container, running or stopped, is on it', async () => {
    const t = setup();
    await t.volume('vol-1', { name: 'data' });
    await t.volume('vol-2', { autoRemove: true });
    await placed(t, spec());
    await t.pass();
    await t.cmd({ type: 'StopContainer', timeout: 1 });
    expect((await t.pass()).state.status).toBe('Stopped');
    // Docker would let the network go (no endpoint), and the container's next start would fail on it.
    await t.resources.collectNetworks(1_000, 5_000);
    await t.resources.collectNetworks(10_000, 5_000);
    expect(t.network.networks().size).toBe(1);
    await t.cmd({ type: 'StartContainer' });
    expect((await t.pass()).state.status).toBe('Running');
  });

  it.each(Object.values(CrashPoint))('a crash after %s: the pass run again converges with one device, one mount, one network', async (point) => {
    const t = setup({ crashAt: point });
    await t.volume('vol-1');
    await t.volume('vol-2', { autoRemove: true });
    await placed(t, spec());
    await expect(t.pass()).rejects.toThrow(Crash);
    const out = await t.pass(); // a new actor: fresh memory
    expect(out.state.status).toBe('Running');
    expect(t.rt.containers()).toHaveLength(1);
    expect(t.network.networks().size).toBe(1);
    expect([...t.volumes.volumes().values()].every((v) => v.device !== null && v.mounted)).toBe(true);
    const attached = (await t.store.load('volume', 'vol-1')).filter((e) => e.type === 'VolumeAttached');
    expect(attached).toHaveLength(1);
  });

  it('a local volume that lives on another host is refused with a reason, not made empty here', async () => {
    const t = setup();
    await t.volume('vol-1');
    await executeVolumeCommand({ store: t.store, newId: () => 'x1', now: () => new Date(0) }, 'vol-1', { type: 'AttachVolume', host: 'node-9', consumer: 'old' }, { projectId: 'p1', userId: 'u', requestId: 'req-x' });
    await executeVolumeCommand({ store: t.store, newId: () => 'x2', now: () => new Date(0) }, 'vol-1', { type: 'DetachVolume', host: 'node-9', consumer: 'old' }, { projectId: 'p1', userId: 'u', requestId: 'req-y' });
    await placed(t, specOf({ mounts: [{ type: 'volume', source: 'data', destination: '/data', volumeId: 'vol-1' }] }));
    const out = await t.pass();
    expect(out.state.status).toBe('Error');
    expect(out.state.statusReason).toMatch(/local volume of host node-9/);
    expect(t.volumes.calls).toEqual([]);
  });

  it('mountsOf skips mounts written before volumes were resolved', () => {
    expect(mountsOf(specOf({ mounts: [{ type: 'volume', source: 'x', destination: '/x' }] }))).toEqual([]);
  });
});

const member = (name: string, o: Partial<CapsuleContainerSpec> = {}): CapsuleContainerSpec => ({
  name, image: 'zun-base:latest', command: ['sleep', '3600'], workdir: null, environment: {}, imagePullPolicy: 'ifnotpresent',
  interactive: false, tty: false, cpu: null, memory: null, exposedPorts: [], volumeMounts: [], uuid: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`, ...o,
});

function capsuleSpec(): CapsuleSpec {
  return {
    name: 'pod', labels: {}, annotations: {}, restartPolicy: 'always', availabilityZone: null, cpu: 0, memory: 0,
    initContainers: [member('init0', { command: ['true'], volumeMounts: [{ name: 'work', mountPath: '/work', readOnly: false }] })],
    containers: [member('web', { volumeMounts: [{ name: 'work', mountPath: '/srv', readOnly: true }] }), member('side')],
    volumes: [{ name: 'work', volumeId: null, size: 1, autoRemove: true, volumeUuid: 'vol-c' }],
    nets: [{ network: 'net-a', resolved: NET }],
  };
}

describe('capsules on the host', () => {
  it('sandbox with the network, init containers to completion, then the containers in its namespaces with the shared volume', async () => {
    const t = setup();
    await t.volume('vol-c', { autoRemove: true });
    await t.capsule({ type: 'CreateCapsule', spec: capsuleSpec() });
    await t.capsule({ type: 'ScheduleCapsule', host: HOST, claim: { cpu: 0, memoryMiB: 0, diskGb: 0 } });
    const mem = newCapsuleMemory();
    let out = await t.capsulePass(mem);
    // The init container is running: the pass waits for it.
    expect(out.state.status).toBe('Created');
    const init = t.rt.containers().find((c) => c.labels[LABELS.capsuleRole] === 'init')!;
    const sandbox = t.rt.containers().find((c) => c.labels[LABELS.capsuleRole] === 'sandbox')!;
    expect(sandbox.networkMode).toBe(`zun-net-a-${HOST}`);
    expect(init.networkMode).toBe(`container:${sandbox.id}`);
    expect(init.ipcMode).toBe(`container:${sandbox.id}`);
    expect(init.binds).toEqual(['/mem/mnt/vol-c:/work']);
    t.rt.drift.exit(init.id, 0);
    out = await t.capsulePass(mem);
    expect(out.state.status).toBe('Running');
    expect(out.state.initDone).toBe(true);
    const web = t.rt.containers().find((c) => c.labels[LABELS.capsuleMember] === 'web')!;
    expect(web.binds).toEqual(['/mem/mnt/vol-c:/srv:ro']);
    expect(Object.keys(out.state.networks ?? {})).toEqual(['net-a']);
    // The volume is attached once, for the capsule, however many members bind it.
    expect((await loadVolume(t.store, 'vol-c')).attachments).toEqual({ [CAPSULE]: HOST });
    expect(t.volumes.calls.filter((c) => c.op === 'attach')).toHaveLength(2);

    // A member that dies is restarted (Always), its exit recorded.
    t.rt.drift.exit(web.id, 1);
    t.advance(60_000);
    out = await t.capsulePass(mem);
    expect(out.state.members?.['web']).toEqual({ running: true, exitCode: 1, exits: 1 });

    await t.capsule({ type: 'DeleteCapsule' });
    out = await t.capsulePass(mem);
    expect(out.state.status).toBe('Deleted');
    expect(t.rt.containers()).toEqual([]);
    expect((await loadVolume(t.store, 'vol-c')).status).toBe('Deleted');
    expect(t.volumes.volumes().size).toBe(0);
  });

  it('sandbox create options: the base image sleeping, a shareable IPC namespace; members join both namespaces', () => {
    const base = { host: HOST, capsuleUuid: CAPSULE, environment: {}, workdir: null, tty: false, interactive: false, exposedPorts: ['80/tcp'], cpu: null, memory: null, binds: [] };
    const sb = memberCreateOptions({ ...base, uuid: CAPSULE, role: 'sandbox', member: '', image: 'zun-base:latest', command: SANDBOX_COMMAND, hostname: 'pod', endpoint: { networkMode: 'zun-x', endpointsConfig: { 'zun-x': {} }, macAddress: null, addresses: [] }, sandboxId: null });
    expect(sb.HostConfig).toMatchObject({ NetworkMode: 'zun-x', IpcMode: 'shareable', Init: true });
    expect(sb.Hostname).toBe('pod');
    expect(sb.Labels).toMatchObject({ [LABELS.capsule]: CAPSULE, [LABELS.container]: CAPSULE, [LABELS.capsuleRole]: 'sandbox' });
    const m = memberCreateOptions({ ...base, uuid: 'm1', role: 'container', member: 'web', image: 'zun-base:latest', command: ['httpd'], hostname: 'pod', endpoint: null, sandboxId: 'sb1' });
    expect(m.HostConfig).toMatchObject({ NetworkMode: 'container:sb1', IpcMode: 'container:sb1' });
    expect(m).not.toHaveProperty('Hostname');
    expect(m).not.toHaveProperty('ExposedPorts');
  });
});

describe('config of networks, volumes and the crash hook', () => {
  it('reads the drivers, the sandbox image and CRASH_AFTER (a known point only)', () => {
    const c = loadConfig({ HOST_NAME: 'h1', STATE_DIR: 'rel/dir', CRASH_AFTER: 'volume-attached' });
    expect(c.network).toEqual({ driver: 'bridge', isolate: true });
    expect(c.volume).toMatchObject({ driver: 'local-block' });
    expect(c.volume.stateDir.startsWith('/')).toBe(true);
    expect(c.sandboxImage).toBe('zun-base:latest');
    expect(c.crashAfter).toBe('volume-attached');
    expect(loadConfig({ HOST_NAME: 'h1', CRASH_AFTER: '' }).crashAfter).toBeNull();
    expect(() => loadConfig({ HOST_NAME: 'h1', CRASH_AFTER: 'somewhere' })).toThrow(ConfigError);
  });
});
