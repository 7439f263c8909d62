import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { executeContainerCommand, loadContainer } from '../platform/commands.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { specOf } from '../../test/support/container-gen.js';
import { containerOfKey } from './actor.js';
import { ConfigError, loadConfig, parseLabels } from './config.js';
import { LABELS, RuntimeError, RuntimeErrorCode, createOptions, demux, isOurs, toRuntimeError } from './docker.js';
import { createMemoryRuntime } from './memory-runtime.js';
import { createReconciler, newWorkerMemory } from './reconciler.js';
import { hostUuid } from './registry.js';
import { handleRpc, hostRpcSubject, parseSince, shlexSplit, zunStats } from './rpc.js';

const HOST = 'node-1';
const UUID = '6e0b6a0e-3f4c-4f7b-a1a9-2c7d4b1e9f00';
const silent = pino({ level: 'silent' });

describe('config', () => {
  it('reads defaults and overrides', () => {
    const c = loadConfig({ HOST_NAME: 'h1', HOST_CPUS: '4', HOST_LABELS: 'ssd=true, rack=r1', RESYNC_SECONDS: '2' });
    expect(c.hostname).toBe('h1');
    expect(c.capacity).toEqual({ cpus: 4, memoryMiB: null, diskGb: null });
    expect(c.labels).toEqual({ ssd: 'true', rack: 'r1' });
    expect(c.availabilityZone).toBe('nova');
    expect(c.resyncSeconds).toBe(2);
    expect(c.desiredRelistSeconds).toBe(300);
    expect(loadConfig({ DESIRED_RELIST_SECONDS: '0' }).desiredRelistSeconds).toBe(0);
    expect(c.leaseTtlSeconds).toBe(10);
    expect(c.allowImagePull).toBe(false);
  });

  it('rejects nonsense with a named error', () => {
    expect(() => loadConfig({ HOST_CPUS: 'many' })).toThrow(ConfigError);
    expect(() => parseLabels('novalue')).toThrow(ConfigError);
  });
});

describe('docker mapping', () => {
  it('create options: our labels win over the user, Init, NanoCpus, Memory, name zun-<uuid>', () => {
    const spec = specOf({
      cpu: 0.5,
      memory: 64,
      labels: { app: 'web', [LABELS.host]: 'spoofed' },
      environment: { A: '1' },
      workdir: '/tmp',
      hostname: 'box',
      exposedPorts: ['80/tcp', '53/udp', '8080'],
      healthcheck: { test: 'true', interval: 2, retries: 3, timeout: 1 },
      interactive: true,
      tty: true,
    });
    const o = createOptions({ host: HOST, uuid: UUID, spec, image: 'zun-base:latest', generation: 2 });
    expect(o.name).toBe(`zun-${UUID}`);
    expect(o.Labels).toEqual({
      app: 'web',
      [LABELS.managed]: 'true',
      [LABELS.host]: HOST,
      [LABELS.container]: UUID,
      [LABELS.generation]: '2',
    });
    expect(o.HostConfig).toMatchObject({ Init: true, NanoCpus: 500_000_000, Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, NetworkMode: 'bridge' });
    expect(o.HostConfig).not.toHaveProperty('RestartPolicy');
    expect(o.HostConfig).not.toHaveProperty('AutoRemove');
    expect(o).toMatchObject({ Cmd: ['sleep', '3600'], Env: ['A=1'], WorkingDir: '/tmp', Hostname: 'box', Tty: true, OpenStdin: true });
    expect(o.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '8080/tcp': {} });
    expect(o.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'true'], Interval: 2e9, Retries: 3, Timeout: 1e9 });
  });

  it('ownership is by labels and host', () => {
    const labels = { [LABELS.managed]: 'true', [LABELS.host]: HOST, [LABELS.container]: UUID };
    expect(isOurs(labels, HOST, UUID)).toBe(true);
    expect(isOurs(labels, 'node-2', UUID)).toBe(false);
    expect(isOurs({ ...labels, [LABELS.managed]: 'false' }, HOST)).toBe(false);
    expect(isOurs(undefined, HOST)).toBe(false);
  });

  it('demultiplexes Docker log frames in order', () => {
    const frame = (kind: number, text: string) => {
      const body = Buffer.from(text);
      const h = Buffer.alloc(8);
      h[0] = kind;
      h.writeUInt32BE(body.length, 4);
      return Buffer.concat([h, body]);
    };
    const buf = Buffer.concat([frame(1, 'out1\n'), frame(2, 'err1\n'), frame(1, 'out2\n')]);
    expect(demux(buf, false)).toEqual({ stdout: 'out1\nout2\n', stderr: 'err1\n', combined: 'out1\nerr1\nout2\n' });
    expect(demux(Buffer.from('raw tty'), true).combined).toBe('raw tty');
  });

  it('maps dockerode errors to codes', () => {
    expect(toRuntimeError({ statusCode: 404, json: { message: 'No such image: x' } }, 'x').code).toBe(RuntimeErrorCode.imageNotFound);
    expect(toRuntimeError({ statusCode: 404, json: { message: 'No such container: x' } }, 'x').code).toBe(RuntimeErrorCode.notFound);
    // A start refused for a network the container's configuration names: a failure of the start, not a container that is gone.
    const network = toRuntimeError({ statusCode: 404, json: { message: 'network f5c3243959bf not found' } }, 'x');
    expect(network).toMatchObject({ code: RuntimeErrorCode.docker, message: 'network f5c3243959bf not found' });
    expect(toRuntimeError({ statusCode: 409, json: { message: 'is already paused' } }, 'x').code).toBe(RuntimeErrorCode.conflict);
    expect(toRuntimeError({ statusCode: 500, json: { message: 'boom' } }, 'x')).toMatchObject({ code: RuntimeErrorCode.docker, message: 'boom' });
    expect(toRuntimeError(Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }), 'x').code).toBe(RuntimeErrorCode.unavailable);
  });
});

describe('desired keys and host ids', () => {
  it('maps keys of this host only', () => {
    expect(containerOfKey('a.b', `a=2Eb.container.${UUID}`)).toBe(UUID);
    expect(containerOfKey('a.b', `a=2Eb.capsule.${UUID}`)).toBeNull();
    expect(containerOfKey('other', `a=2Eb.container.${UUID}`)).toBeNull();
  });

  it('host uuid is stable and version 5 shaped; the rpc subject is token-safe', () => {
    expect(hostUuid('node-1')).toBe(hostUuid('node-1'));
    expect(hostUuid('node-1')).not.toBe(hostUuid('node-2'));
    expect(hostUuid('node-1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(hostRpcSubject('my.host name')).toBe('zun.host.my=2Ehost=20name.rpc');
  });
});

describe('rpc', () => {
  async function withContainer() {
    const rt = createMemoryRuntime();
    const id = await rt.create({ host: HOST, uuid: UUID, spec: specOf(), image: 'zun-base:latest', generation: 0 });
    await rt.start({ host: HOST, uuid: UUID, dockerId: id });
    return rt;
  }

  it('answers for its own containers only', async () => {
    const rt = await withContainer();
    expect(await handleRpc({ op: 'top', uuid: UUID }, { hostname: HOST, runtime: rt })).toEqual({
      ok: true,
      result: { Titles: ['PID', 'CMD'], Processes: [['1', 'sleep 3600']] },
    });
    expect(await handleRpc({ op: 'top', uuid: UUID }, { hostname: 'node-2', runtime: rt })).toEqual({
      ok: false,
      error: { code: 'CONTAINER_NOT_FOUND', message: `Container ${UUID} could not be found.` },
    });
  });

  it('exec splits a command string like a shell', async () => {
    const rt = await withContainer();
    const r = await handleRpc({ op: 'exec', uuid: UUID, command: `sh -c 'echo "a b"'` }, { hostname: HOST, runtime: rt });
    expect(r).toMatchObject({ ok: true, result: { output: 'sh -c echo "a b"\n', exit_code: 0 } });
  });

  it('bad requests are coded, not thrown', async () => {
    const rt = await withContainer();
    expect(await handleRpc({ op: 'logs', uuid: UUID, tail: 'x' }, { hostname: HOST, runtime: rt })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await handleRpc({ op: 'nope', uuid: UUID } as never, { hostname: HOST, runtime: rt })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('stats in Zun shape', () => {
    const s = zunStats('web', {
      cpu_stats: { cpu_usage: { total_usage: 50 }, system_cpu_usage: 1000 },
      memory_stats: { usage: 12 * 1024 * 1024, limit: 64 * 1024 * 1024, stats: { total_inactive_file: 4 * 1024 * 1024 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 10 }, { op: 'Write', value: 3 }, { op: 'read', value: 1 }] },
      networks: { eth0: { rx_bytes: 5, tx_bytes: 7 } },
    });
    expect(s).toEqual({
      CONTAINER: 'web',
      'CPU %': 5,
      'MEM USAGE(MiB)': 8,
      'MEM LIMIT(MiB)': 64,
      'MEM %': 12.5,
      'BLOCK I/O(B)': '11/3',
      'NET I/O(B)': '5/7',
    });
  });

  it('shlex and since parsing', () => {
    expect(shlexSplit(`ls -l "my dir" 'x y' a\\ b`)).toEqual(['ls', '-l', 'my dir', 'x y', 'a b']);
    expect(() => shlexSplit(`echo "open`)).toThrow();
    expect(parseSince(1700000000)).toBe(1700000000);
    expect(parseSince('1700000000')).toBe(1700000000);
    expect(parseSince('2026-01-02 03:04:05,500')).toBe(Date.UTC(2026, 0, 2, 3, 4, 5, 500) / 1000);
    expect(parseSince(null)).toBeNull();
  });
});

describe('reconciler (memory event store, Docker twin)', () => {
  function setup() {
    const store = createMemoryEventStore();
    const rt = createMemoryRuntime();
    let n = 0;
    const newId = () => `id-${++n}`;
    let now = 0;
    const clock = () => new Date(now);
    const deps = { store, newId, now: clock };
    const ctx = () => ({ projectId: 'p1', userId: 'u1', requestId: `req-${newId()}` });
    const rec = createReconciler({ hostname: HOST, store, runtime: rt, log: silent, clock, newId });
    const pass = async (mem = newWorkerMemory(), uuid = UUID) => rec.pass(await loadContainer(store, uuid), mem, silent);
    const cmdOn = (uuid: string, c: Parameters<typeof executeContainerCommand>[2]) => executeContainerCommand(deps, uuid, c, ctx());
    const cmd = (c: Parameters<typeof executeContainerCommand>[2]) => cmdOn(UUID, c);
    return { store, rt, pass, cmd, cmdOn, advance: (ms: number) => (now += ms) };
  }

  it('create with run: one pass takes it to Running, appending only Started (with the Docker id) and our ids', async () => {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf(), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const out = await t.pass();
    expect(out.retryInMs).toBeNull();
    expect(out.state.status).toBe('Running');
    const events = await t.store.load('container', UUID);
    expect(events.map((e) => e.type)).toEqual(['ContainerCreateRequested', 'ContainerScheduled', 'ContainerStarted']);
    expect(t.rt.containers()).toHaveLength(1);
    expect(events[2]!.data).toEqual({ dockerId: t.rt.containers()[0]!.id });
    expect(events[2]!.projectId).toBe('p1');
    expect(events[2]!.requestId).toMatch(/^req-/);
    // a second pass (another trigger) changes nothing
    expect((await t.pass()).retryInMs).toBeNull();
    expect(await t.store.load('container', UUID)).toHaveLength(3);
  });

  it('create without run: recorded as Created, and not started', async () => {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf(), run: false });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const out = await t.pass();
    expect(out.retryInMs).toBeNull();
    expect(out.state.status).toBe('Created');
    const events = await t.store.load('container', UUID);
    expect(events.map((e) => e.type)).toEqual(['ContainerCreateRequested', 'ContainerScheduled', 'ContainerCreated']);
    expect(t.rt.containers().map((c) => c.state)).toEqual(['created']);
  });

  it('create with run whose start fails: the container is recorded as created, then the failure (Error), as before', async () => {
    const t = setup();
    t.rt.failNext('start', new RuntimeError(RuntimeErrorCode.docker, 'cannot start: boom', 500));
    await t.cmd({ type: 'CreateContainer', spec: specOf(), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const out = await t.pass();
    expect(out.retryInMs).not.toBeNull();
    expect(out.state.status).toBe('Error');
    expect(out.state.statusReason).toBe('cannot start: boom');
    expect(out.state.observed.dockerId).toBe(t.rt.containers()[0]!.id);
    const types = (await t.store.load('container', UUID)).map((e) => e.type);
    expect(types).toEqual(['ContainerCreateRequested', 'ContainerScheduled', 'ContainerCreated', 'ContainerOperationFailed']);
    // A failed operation is not retried by itself (Zun): the next pass leaves the Error as it is.
    const again = await t.pass();
    expect(again.state.status).toBe('Error');
    expect(await t.store.load('container', UUID)).toHaveLength(4);
    expect(t.rt.containers().map((c) => c.state)).toEqual(['created']);
  });

  it('a missing image is an Error with a reason, recorded once however often it is retried', async () => {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf({ image: 'nope:1', imagePullPolicy: 'ifnotpresent' }), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const out = await t.pass();
    expect(out.state.status).toBe('Error');
    expect(out.state.statusReason).toMatch(/Image nope:1 could not be found on host node-1/);
    await t.pass();
    expect((await t.store.load('container', UUID)).filter((e) => e.type === 'ContainerOperationFailed')).toHaveLength(1);
  });

  it('pull policy always with the image present: the failed pull is fine', async () => {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf({ imagePullPolicy: 'always' }), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    expect((await t.pass()).state.status).toBe('Running');
    expect(t.rt.calls.some((c) => c.op === 'pull')).toBe(true);
  });

  it('Docker unreachable: nothing is recorded, the pass throws for a retry', async () => {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf(), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    t.rt.failNext('create', new RuntimeError(RuntimeErrorCode.unavailable, 'connect ENOENT'));
    await expect(t.pass()).rejects.toThrow('ENOENT');
    expect(await t.store.load('container', UUID)).toHaveLength(2);
    expect((await t.pass()).state.status).toBe('Running');
  });

  /** A container with restart policy always, running; its worker memory and Docker id. */
  async function runningAlways() {
    const t = setup();
    await t.cmd({ type: 'CreateContainer', spec: specOf({ restartPolicy: { name: 'always', maximumRetryCount: 0 } }), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const mem = newWorkerMemory();
    await t.pass(mem);
    return { t, mem, id: t.rt.containers()[0]!.id };
  }

  it('a restart policy crash loop is backed off; a user start is not', async () => {
    const { t, mem, id } = await runningAlways();
    t.rt.drift.exit(id, 1);
    expect((await t.pass(mem)).state.status).toBe('Running'); // first restart: immediate
    t.advance(100);
    t.rt.drift.exit(id, 1);
    const backedOff = await t.pass(mem); // died again within 10 s: wait 250 ms
    expect(backedOff.state.status).toBe('Stopped');
    expect(backedOff.retryInMs).toBe(150);
    t.advance(150);
    expect((await t.pass(mem)).state.status).toBe('Running');
    t.advance(100);
    t.rt.drift.exit(id, 1);
    expect((await t.pass(mem)).retryInMs).toBe(400); // 500 ms after the last start, doubling
    t.advance(400);
    expect((await t.pass(mem)).state.status).toBe('Running');
    // the user stops and starts it at once: no back-off for a start somebody asked for
    await t.cmd({ type: 'StopContainer', timeout: 1 });
    await t.pass(mem);
    await t.cmd({ type: 'StartContainer' });
    expect((await t.pass(mem)).state.status).toBe('Running');
  });

  it('a start Docker refuses: Error and on hold, unless the restart policy keeps the container running', async () => {
    const { t, mem, id } = await runningAlways();
    // dockerd shutting down: the exit, its refusal of the restart, then dockerd away; back, the restart works.
    const shutdown = 'failed to update store for object type *libnetwork.endpoint: open : no such file or directory';
    t.rt.drift.exit(id, 143);
    t.rt.failNext('start', new RuntimeError(RuntimeErrorCode.docker, shutdown));
    const refused = await t.pass(mem);
    expect(refused.state).toMatchObject({ status: 'Error', statusReason: shutdown, desired: { power: 'running' } });
    expect(refused.retryInMs).toBe(500);
    t.rt.failNext('find', new RuntimeError(RuntimeErrorCode.unavailable, 'connect ENOENT'));
    await expect(t.pass(mem)).rejects.toThrow('ENOENT');
    t.advance(1_000);
    expect((await t.pass(mem)).state).toMatchObject({ status: 'Running', statusReason: null });
    // Restart policy "no": a refused start puts it on hold, and no pass starts it again.
    const other = '7c1f3f4e-8a8e-4a57-9a43-2d3c1b9f0a11';
    await t.cmdOn(other, { type: 'CreateContainer', spec: specOf(), run: false });
    await t.cmdOn(other, { type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const m2 = newWorkerMemory();
    await t.pass(m2, other);
    await t.cmdOn(other, { type: 'StartContainer' });
    t.rt.failNext('start', new RuntimeError(RuntimeErrorCode.docker, 'no such file: /data'));
    expect((await t.pass(m2, other)).state).toMatchObject({ status: 'Error', desired: { power: 'hold' } });
    t.advance(60_000);
    const starts = t.rt.calls.filter((c) => c.op === 'start').length;
    expect((await t.pass(m2, other)).state.status).toBe('Error');
    expect(t.rt.calls.filter((c) => c.op === 'start').length).toBe(starts);
  });

  it('never touches a container of another host with the same name', async () => {
    const t = setup();
    t.rt.put({ name: `zun-${UUID}`, labels: { [LABELS.managed]: 'true', [LABELS.host]: 'node-2', [LABELS.container]: UUID } });
    await t.cmd({ type: 'CreateContainer', spec: specOf(), run: true });
    await t.cmd({ type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } });
    const out = await t.pass();
    expect(out.state.status).toBe('Error');
    expect(out.state.statusReason).toMatch(/not managed by node-1/);
    expect(t.rt.containers()).toHaveLength(1);
    expect(t.rt.containers()[0]!.labels[LABELS.host]).toBe('node-2');
  });
});
