/**
 * The host actor on the real dockerd, with its own nats-server and etcd, the
 * real JetStream event store and the real projector filling `zun_desired`.
 * The test plays gateway and placement: it executes container commands
 * (CreateContainer with run, ScheduleContainer to the actor's host, then user
 * actions) through the shared command path, and checks the event log's
 * status and Docker side by side.
 *
 * Every container made here carries `zun.host=<a host of this file>`; all of
 * them are removed by label at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { Etcd3 } from 'etcd3';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../events/index.js';
import type { ContainerCommand } from '../../domain/container-decider.js';
import type { ContainerState } from '../../domain/container.js';
import { hostRegistryKey, type HostRecord } from '../../domain/host.js';
import { executeContainerCommand, loadContainer } from '../../services/platform/commands.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { connectNats, type NatsConnection } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createProjector, type Projector } from '../../services/projector/projector.js';
import { createHostActor, type HostActor } from '../../services/host-actor/actor.js';
import { LABELS, createDockerRuntime } from '../../services/host-actor/docker.js';
import { hostRpcSubject, type HostRpcReply } from '../../services/host-actor/rpc.js';
import type { EventStore } from '../../services/platform/eventstore.js';
import { DESIRED_BUCKET, desiredKey } from '../../services/platform/readmodels.js';
import { spawnService, waitFor, type ServiceProcess } from '../support/cluster.js';
import { specOf } from '../support/container-gen.js';
import { dockerAvailable, startEtcd, startNats, startServers, type EtcdServer, type NatsServer } from '../support/servers.js';
import { removeLabelledContainers } from '../support/host-cleanup.js';

const REPO = new URL('../..', import.meta.url).pathname;
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const HOST_A = `it-ha-${RUN}-a`;
const HOST_B = `it-ha-${RUN}-b`;
const HOST_C = `it-ha-${RUN}-c`; // the child-process actor
const HOST_D = `it-ha-${RUN}-d`; // deaf to Docker's events: the resync alone
const ALL_HOSTS = [HOST_A, HOST_B, HOST_C, HOST_D];
const STATE = mkdtempSync(join(tmpdir(), 'zun-host-actor-it-'));

let nats: NatsServer;
let etcdServer: EtcdServer;
let nc: NatsConnection;
let etcd: Etcd3;
let store: EventStore;
let projector: Projector;
let actorA: HostActor;
let actorB: HostActor;
let child: ServiceProcess | undefined;
const logLines: { host?: string; uuid?: string; msg: string; status?: string; observation?: string }[] = [];
const timings: Record<string, number[]> = {};

function captureLogger() {
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split('\n')) if (l) logLines.push(JSON.parse(l) as (typeof logLines)[number]);
      cb();
    },
  });
  return pino({ level: 'info', base: null }, sink);
}

const newId = () => randomUUID();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deps = () => ({ store, newId, now: () => new Date() });
const ctx = () => ({ projectId: 'proj-1', userId: 'user-1', requestId: `req-${randomUUID()}` });

async function cmd(uuid: string, c: ContainerCommand) {
  const r = await executeContainerCommand(deps(), uuid, c, ctx());
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return r;
}

/** Gateway + placement: create with run, then schedule to `host`. */
async function place(host: string, spec: Partial<ContainerSpec> = {}, run = true): Promise<string> {
  const uuid = randomUUID();
  const s = specOf({ name: `it-${uuid.slice(0, 8)}`, cpu: 0.5, memory: 64, ...spec });
  await cmd(uuid, { type: 'CreateContainer', spec: s, run });
  await cmd(uuid, { type: 'ScheduleContainer', host, claim: { cpu: s.cpu, memoryMiB: s.memory, diskGb: 0 } });
  return uuid;
}

const state = (uuid: string) => loadContainer(store, uuid);

async function until(uuid: string, what: string, pred: (s: ContainerState) => boolean, timeoutMs = 20_000): Promise<ContainerState> {
  let last: ContainerState | undefined;
  try {
    return await waitFor(
      `${uuid} ${what}`,
      async () => {
        last = await state(uuid);
        return pred(last) ? last : undefined;
      },
      timeoutMs,
      10,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status ${last?.status} (${last?.statusReason}), task ${last?.taskState}, power ${last?.desired.power}`);
  }
}
const untilStatus = (uuid: string, status: string, timeoutMs?: number) =>
  until(uuid, `status ${status}`, (s) => s.status === status && s.taskState === null, timeoutMs);

async function dockerOf(uuid: string): Promise<Docker.ContainerInspectInfo[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.container}=${uuid}`] } });
  return Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}
async function onlyDocker(uuid: string): Promise<Docker.ContainerInspectInfo> {
  const all = await dockerOf(uuid);
  expect(all, `containers labelled ${uuid}`).toHaveLength(1);
  return all[0]!;
}

async function rpc<T>(host: string, body: unknown): Promise<HostRpcReply<T>> {
  const m = await nc.request(hostRpcSubject(host), JSON.stringify(body), { timeout: 10_000 });
  return m.json<HostRpcReply<T>>();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function startActor(hostname: string): HostActor {
  return createHostActor({
    hostname,
    nc,
    store,
    runtime: createDockerRuntime(),
    log: captureLogger(),
    clock: () => new Date(),
    newId,
    resyncMs: 1_000,
    etcd,
    registration: {
      ttlSeconds: 3,
      capacity: { cpus: 4, memoryMiB: 4096, diskGb: null },
      labels: { zone: 'z1' },
      availabilityZone: 'nova',
      stateDir: join(STATE, hostname),
    },
  });
}

async function removeTestContainers(): Promise<void> {
  for (const host of ALL_HOSTS) await removeLabelledContainers(`${LABELS.host}=${host}`);
  await removeLabelledContainers(`it-ha-run=${RUN}`);
}

beforeAll(async () => {
  if (!(await dockerAvailable())) execFileSync('bash', [`${REPO}scripts/servers.sh`, 'start', 'dockerd'], { stdio: 'inherit' });
  execFileSync('bash', [`${REPO}scripts/base-image.sh`], { stdio: 'inherit' });
  [nats, etcdServer] = await startServers<[NatsServer, EtcdServer]>(startNats(), startEtcd());
  nc = await connectNats({ servers: nats.url, name: 'host-actor-it' });
  await ensureStream(await jetstreamManager(nc), {});
  store = createJetStreamEventStore({ nc });
  etcd = new Etcd3({ hosts: etcdServer.endpoint });
  projector = await createProjector({ nc, store, log: pino({ level: 'warn' }) });
  actorA = startActor(HOST_A);
  actorB = startActor(HOST_B);
  await Promise.all([actorA.start(), actorB.start()]);
});

afterAll(async () => {
  await child?.stop().catch(() => {});
  await actorA?.stop().catch(() => {});
  await actorB?.stop().catch(() => {});
  await projector?.stop().catch(() => {});
  await removeTestContainers().catch(() => {});
  etcd?.close();
  await nc?.close().catch(() => {});
  await Promise.all([nats?.stop(), etcdServer?.stop()]);
  rmSync(STATE, { recursive: true, force: true });
  const report = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, { n: v.length, medianMs: Math.round(median(v)), all: v.map(Math.round) }]));
  console.log('host-actor timings', JSON.stringify(report));
});

describe('host actor on the real dockerd', () => {
  it('registers the host in etcd under a lease with its capacity and Docker facts', async () => {
    const rec = await waitFor('host A registered', async () => {
      const v = await etcd.get(hostRegistryKey(HOST_A)).string();
      return v ? (JSON.parse(v) as HostRecord) : undefined;
    });
    expect(rec).toMatchObject({ hostname: HOST_A, capacity: { cpus: 4, memoryMiB: 4096 }, labels: { zone: 'z1' }, availabilityZone: 'nova', disabled: false });
    expect(rec.capacity.diskGb).toBeGreaterThan(0);
    expect(rec.runtimes).toContain('runc');
    expect(rec.osType).toBe('linux');
    const lease = await etcd.get(hostRegistryKey(HOST_A)).exec();
    expect(Number(lease.kvs[0]!.lease)).toBeGreaterThan(0);
  });

  it('create with run: Running in the log, running in Docker with our labels and limits (and timed against raw dockerode)', async () => {
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const uuid = await place(HOST_A, { labels: { app: 'it' }, environment: { FOO: 'bar' } });
      await untilStatus(uuid, 'Running');
      (timings['actor create+start (schedule -> Running in log)'] ??= []).push(performance.now() - t0);
      const d = await onlyDocker(uuid);
      expect(d.State.Status).toBe('running');
      expect(d.Name).toBe(`/zun-${uuid}`);
      expect(d.Config.Labels).toMatchObject({ app: 'it', [LABELS.managed]: 'true', [LABELS.host]: HOST_A, [LABELS.container]: uuid });
      expect(d.HostConfig).toMatchObject({ Init: true, NanoCpus: 500_000_000, Memory: 64 * 1024 * 1024 });
      expect(d.Config.Env).toContain('FOO=bar');
      const s = await state(uuid);
      expect(s.observed.dockerId).toBe(d.Id);
      expect(logLines.some((l) => l.uuid === uuid && l.msg === 'observed' && l.status === 'Running')).toBe(true);
    }
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const c = await docker.createContainer({
        Image: 'zun-base:latest',
        Cmd: ['sleep', '3600'],
        Labels: { 'it-ha-run': RUN },
        HostConfig: { Init: true, NanoCpus: 5e8, Memory: 64 * 1024 * 1024 },
      });
      await c.start();
      (timings['raw dockerode create+start'] ??= []).push(performance.now() - t0);
      await c.remove({ force: true });
    }
  });

  it('stop, start, pause, unpause, reboot, kill and delete reach the right Docker state and status', async () => {
    const uuid = await place(HOST_A);
    await untilStatus(uuid, 'Running');

    await cmd(uuid, { type: 'StopContainer', timeout: 5 });
    await untilStatus(uuid, 'Stopped');
    expect((await onlyDocker(uuid)).State.Status).toBe('exited');

    await cmd(uuid, { type: 'StartContainer' });
    await untilStatus(uuid, 'Running');
    expect((await onlyDocker(uuid)).State.Status).toBe('running');

    await cmd(uuid, { type: 'PauseContainer' });
    await untilStatus(uuid, 'Paused');
    expect((await onlyDocker(uuid)).State.Status).toBe('paused');

    await cmd(uuid, { type: 'UnpauseContainer' });
    await untilStatus(uuid, 'Running');
    expect((await onlyDocker(uuid)).State.Status).toBe('running');

    const startedBefore = (await onlyDocker(uuid)).State.StartedAt;
    await cmd(uuid, { type: 'RebootContainer', timeout: 1 });
    expect((await state(uuid)).status).toBe('Restarting');
    const rebooted = await untilStatus(uuid, 'Running');
    expect(rebooted.observed.rebootDone).toBe(1);
    const afterReboot = await onlyDocker(uuid);
    expect(afterReboot.State.Status).toBe('running');
    expect(afterReboot.State.StartedAt).not.toBe(startedBefore);

    await cmd(uuid, { type: 'KillContainer', signal: 'SIGKILL' });
    const killed = await untilStatus(uuid, 'Stopped');
    expect(killed.observed.killDone).toBe(1);
    expect(killed.observed.exitCode).toBe(137);
    expect((await onlyDocker(uuid)).State.Status).toBe('exited');

    await cmd(uuid, { type: 'DeleteContainer', stop: false, force: false });
    await untilStatus(uuid, 'Deleted');
    expect(await dockerOf(uuid)).toHaveLength(0);
  });

  it('delete?stop=true stops a running container first, then removes it', async () => {
    const uuid = await place(HOST_A);
    await untilStatus(uuid, 'Running');
    await cmd(uuid, { type: 'DeleteContainer', stop: true, force: false });
    await untilStatus(uuid, 'Deleted');
    expect(await dockerOf(uuid)).toHaveLength(0);
    const types = (await store.load('container', uuid)).map((e) => e.type);
    expect(types.slice(-3)).toEqual(['ContainerDeleteRequested', 'ContainerExited', 'ContainerDeleted']);
  });

  it('update changes the limits with docker update; rebuild recreates from the image, running again', async () => {
    const uuid = await place(HOST_A);
    const before = await untilStatus(uuid, 'Running');
    await cmd(uuid, { type: 'UpdateContainer', patch: { cpu: 1.5, memory: 96 } });
    await waitFor('limits applied', async () => {
      const d = await onlyDocker(uuid);
      return d.HostConfig.NanoCpus === 1_500_000_000 && d.HostConfig.Memory === 96 * 1024 * 1024 ? d : undefined;
    });
    await cmd(uuid, { type: 'UpdateContainer', patch: { memory: 48 } });
    await waitFor('smaller memory applied', async () => ((await onlyDocker(uuid)).HostConfig.Memory === 48 * 1024 * 1024 ? true : undefined));

    await cmd(uuid, { type: 'RebuildContainer', image: 'zun-base:latest', imageDriver: null });
    expect((await state(uuid)).status).toBe('Rebuilding');
    const rebuilt = await untilStatus(uuid, 'Running');
    expect(rebuilt.observed.rebuildDone).toBe(1);
    const d = await onlyDocker(uuid);
    expect(d.Id).not.toBe(before.observed.dockerId);
    expect(d.Id).toBe(rebuilt.observed.dockerId);
    expect(d.Config.Labels[LABELS.generation]).toBe('1');
    expect(d.HostConfig.Memory).toBe(48 * 1024 * 1024);
  });

  it('commit: made by the actor from the log, recorded with the image id; a commit made before a crash is found by its label, not made twice', async () => {
    const uuid = await place(HOST_A);
    const running = await untilStatus(uuid, 'Running');
    const repo = `ha-commit-${process.pid}`;
    const imageUuid = randomUUID();
    try {
      await cmd(uuid, { type: 'CommitContainer', repository: repo, tag: 'v1', imageUuid });
      const done = await until(uuid, 'committed', (s) => s.observed.commitDone === 1);
      const committed = (await store.load('container', uuid, running.seq)).filter((e) => e.type === 'ContainerCommitted');
      const image = await docker.getImage(`${repo}:v1`).inspect();
      expect(committed.map((e) => e.data)).toEqual([{ generation: 1, repository: repo, tag: 'v1', imageUuid, imageId: image.Id }]);
      expect(image.Config.Labels).toMatchObject({ [LABELS.managed]: '', [LABELS.host]: '', [LABELS.container]: '', 'zun.image.uuid': imageUuid });
      expect(done.status).toBe('Running');
      expect((await onlyDocker(uuid)).State.Status).toBe('running');
      // The actor died after Docker made the image and before the record: the pass after its restart commits again.
      const again = await createDockerRuntime().commit({ host: HOST_A, uuid, dockerId: running.observed.dockerId! }, { repository: repo, tag: 'v1', imageUuid });
      expect(again).toBe(image.Id);
      expect(await docker.listImages({ filters: { label: [`zun.image.uuid=${imageUuid}`] } })).toHaveLength(1);
    } finally {
      await docker.getImage(`${repo}:v1`).remove().catch(() => {});
    }
  });

  it('drift: docker pause and unpause behind its back are accepted; docker stop -> Stopped; docker rm -f -> Error "No such container"', async () => {
    const uuid = await place(HOST_A);
    const running = await untilStatus(uuid, 'Running');
    // A pause behind its back is observed and accepted, as Zun shows it: Paused, and left paused.
    await docker.getContainer(running.observed.dockerId!).pause();
    const pausedOutside = await untilStatus(uuid, 'Paused');
    expect(pausedOutside.desired.power).toBe('paused');
    await actorA.idle();
    expect((await store.load('container', uuid, running.seq)).map((e) => e.type)).toEqual(['ContainerPaused']);
    expect((await onlyDocker(uuid)).State.Status).toBe('paused');
    // An unpause behind its back likewise: Running again, nothing undone.
    await docker.getContainer(running.observed.dockerId!).unpause();
    const resumed = await untilStatus(uuid, 'Running');
    expect(resumed.desired.power).toBe('running');
    await actorA.idle();
    expect((await store.load('container', uuid, running.seq)).map((e) => e.type)).toEqual(['ContainerPaused', 'ContainerUnpaused']);
    expect((await onlyDocker(uuid)).State.Status).toBe('running');

    await docker.getContainer(running.observed.dockerId!).stop({ t: 1 });
    const stopped = await untilStatus(uuid, 'Stopped');
    expect(stopped.desired.power).toBe('stopped'); // policy "no": not restarted
    expect((await onlyDocker(uuid)).State.Status).toBe('exited');

    await docker.getContainer(running.observed.dockerId!).remove({ force: true });
    const missing = await until(uuid, 'Error', (s) => s.status === 'Error');
    expect(missing.statusReason).toBe(`No such container: ${uuid} in docker`);
    await actorA.idle();
    expect(await dockerOf(uuid)).toHaveLength(0); // not recreated without auto-heal
  });

  it('resync by listing: settled containers are not inspected, the desired slice is re-read only every 300 s; a change the events missed is found from the listing', async () => {
    // An actor that hears no Docker events, and counts what it asks Docker;
    // its own NATS connection carries only its watch and reads of the slice.
    const real = createDockerRuntime();
    const calls = { find: 0, list: 0 };
    let skewMs = 0; // the actor's clock runs ahead by this much
    const deafNc = await connectNats({ servers: nats.url, name: 'host-actor-it-deaf' });
    const deafActor = (desiredRelistMs?: number) =>
      createHostActor({
        hostname: HOST_D,
        nc: deafNc,
        store,
        runtime: {
          ...real,
          find: (host, uuid) => (calls.find++, real.find(host, uuid)),
          list: (host) => (calls.list++, real.list(host)),
          events: () => ({ close() {} }),
        },
        log: captureLogger(),
        clock: () => new Date(Date.now() + skewMs),
        newId,
        resyncMs: 250,
        rpc: false,
        ...(desiredRelistMs === undefined ? {} : { desiredRelistMs }),
      });
    let deaf = deafActor();
    await deaf.start();
    try {
      const uuids = [await place(HOST_D), await place(HOST_D), await place(HOST_D)];
      const running = await Promise.all(uuids.map((u) => untilStatus(u, 'Running')));
      await deaf.idle();
      await sleep(300); // a resync after the last pass
      calls.find = 0;
      calls.list = 0;
      let inBefore = deafNc.stats().inMsgs;
      await sleep(1_500);
      expect(calls.list).toBeGreaterThanOrEqual(3);
      expect(calls.find).toBe(0); // before: one inspect per container per resync
      // The keys came from the watch's copy: reading them from the bucket is
      // a message per key (and JetStream API calls) on every resync.
      expect(deafNc.stats().inMsgs - inBefore).toBeLessThanOrEqual(2);

      // Every DESIRED_RELIST_SECONDS (default 300) a resync reads the slice
      // from the bucket again: a message per key at least. Then quiet again.
      skewMs = 300_001;
      inBefore = deafNc.stats().inMsgs;
      await sleep(600);
      expect(deafNc.stats().inMsgs - inBefore).toBeGreaterThanOrEqual(uuids.length);
      inBefore = deafNc.stats().inMsgs;
      await sleep(1_500);
      expect(deafNc.stats().inMsgs - inBefore).toBeLessThanOrEqual(2);
      calls.find = 0; // the jump also made each container due for its periodic inspect

      // Stopped behind its back, with no event heard: the listing shows it exited.
      await docker.getContainer(running[0]!.observed.dockerId!).stop({ t: 1 });
      const stopped = await untilStatus(uuids[0]!, 'Stopped', 10_000);
      expect(stopped.desired.power).toBe('stopped');
      await deaf.idle();
      expect(calls.find).toBeGreaterThanOrEqual(1);
      expect(calls.find).toBeLessThanOrEqual(3); // the one container, not all of them
      for (const u of uuids.slice(1)) expect((await state(u)).status).toBe('Running');

      // The contrast: an actor told to read the slice from the bucket on every resync.
      await deaf.stop();
      deaf = deafActor(0);
      await deaf.start();
      await deaf.idle();
      await sleep(300);
      calls.list = 0;
      inBefore = deafNc.stats().inMsgs;
      await sleep(1_500);
      expect(calls.list).toBeGreaterThanOrEqual(3);
      expect(deafNc.stats().inMsgs - inBefore).toBeGreaterThanOrEqual(3 * calls.list);
    } finally {
      await deaf.stop();
      await deafNc.close();
    }
  });

  it('drift with restart policy always: an exit behind its back is repaired', async () => {
    const uuid = await place(HOST_A, { restartPolicy: { name: 'always', maximumRetryCount: 0 } });
    const running = await untilStatus(uuid, 'Running');
    await docker.getContainer(running.observed.dockerId!).kill();
    const restarted = await until(uuid, 'restarted by policy', (s) => s.status === 'Running' && s.observed.restartCount === 1);
    expect(restarted.observed.dockerId).toBe(running.observed.dockerId);
    expect((await onlyDocker(uuid)).State.Status).toBe('running');
  });

  it('pull policy always with the image present locally does not fail (no registry here)', async () => {
    const uuid = await place(HOST_A, { imagePullPolicy: 'always' });
    await untilStatus(uuid, 'Running');
    expect(logLines.some((l) => l.uuid === uuid && l.msg.startsWith('pull failed; using the image present'))).toBe(true);
  });

  it('a missing image is an Error with the reason', async () => {
    const uuid = await place(HOST_A, { image: 'zun-base:does-not-exist', imagePullPolicy: 'ifnotpresent' });
    const s = await until(uuid, 'Error', (x) => x.status === 'Error');
    expect(s.statusReason).toMatch(/zun-base:does-not-exist could not be found/);
    expect(await dockerOf(uuid)).toHaveLength(0);
  });

  it('logs, top, stats and exec over request-reply', async () => {
    const uuid = await place(HOST_A, { command: ['sh', '-c', 'echo hello-out; echo hello-err >&2; exec sleep 3600'] });
    await untilStatus(uuid, 'Running');
    const logs = await waitFor('logs', async () => {
      const r = await rpc<string>(HOST_A, { op: 'logs', uuid, stdout: true, stderr: true });
      return r.ok && r.result.includes('hello-err') ? r.result : undefined;
    });
    expect(logs).toContain('hello-out\n');
    const onlyOut = await rpc<string>(HOST_A, { op: 'logs', uuid, stdout: true, stderr: false, timestamps: true });
    expect(onlyOut.ok && onlyOut.result).toMatch(/^\d{4}-\d{2}-\d{2}T\S+ hello-out\n$/);
    const top = await rpc<{ Titles: string[]; Processes: string[][] }>(HOST_A, { op: 'top', uuid });
    expect(top.ok && top.result.Processes.some((p) => p.join(' ').includes('sleep 3600'))).toBe(true);
    const stats = await rpc<Record<string, unknown>>(HOST_A, { op: 'stats', uuid, name: 'web' });
    expect(stats.ok && stats.result).toMatchObject({ CONTAINER: 'web', 'MEM LIMIT(MiB)': 64 });
    expect(stats.ok && Object.keys(stats.result).sort()).toEqual(['BLOCK I/O(B)', 'CONTAINER', 'CPU %', 'MEM %', 'MEM LIMIT(MiB)', 'MEM USAGE(MiB)', 'NET I/O(B)']);
    const ex = await rpc<{ output: string; exit_code: number; exec_id: string }>(HOST_A, { op: 'exec', uuid, command: 'sh -c "echo $((6*7)); exit 3"' });
    expect(ex).toMatchObject({ ok: true, result: { output: '42\n', exit_code: 3 } });
    const slow = await rpc(HOST_A, { op: 'exec', uuid, command: 'sleep 8' });
    expect(slow).toMatchObject({ ok: false, error: { code: 'EXEC_TIMEOUT', message: 'Timeout on executing command: sleep 8' } });
    expect(await rpc(HOST_B, { op: 'top', uuid })).toMatchObject({ ok: false, error: { code: 'CONTAINER_NOT_FOUND' } });
  });

  it('two actors on one dockerd touch only their own containers; orphans go, unlabelled containers stay', async () => {
    const a = await place(HOST_A);
    const b = await place(HOST_B);
    await Promise.all([untilStatus(a, 'Running'), untilStatus(b, 'Running')]);
    expect((await onlyDocker(a)).Config.Labels[LABELS.host]).toBe(HOST_A);
    expect((await onlyDocker(b)).Config.Labels[LABELS.host]).toBe(HOST_B);

    // Drift on B's container is observed by B alone.
    const bBefore = (await store.load('container', b)).length;
    await docker.getContainer((await onlyDocker(b)).Id).stop({ t: 1 });
    await untilStatus(b, 'Stopped');
    await actorA.idle();
    await actorB.idle();
    const bEvents = (await store.load('container', b)).slice(bBefore);
    expect(bEvents.map((e) => e.type)).toEqual(['ContainerExited']);

    // An orphan with A's labels (its aggregate is unknown to the log) is removed by A, not by B;
    // a container without our labels, even named like ours, is left alone by both.
    const orphanUuid = randomUUID();
    const orphan = await docker.createContainer({
      name: `zun-${orphanUuid}`,
      Image: 'zun-base:latest',
      Cmd: ['sleep', '3600'],
      Labels: { [LABELS.managed]: 'true', [LABELS.host]: HOST_A, [LABELS.container]: orphanUuid, [LABELS.generation]: '0' },
      HostConfig: { Init: true },
    });
    await orphan.start();
    const strangerUuid = randomUUID();
    const stranger = await docker.createContainer({
      name: `zun-${strangerUuid}`,
      Image: 'zun-base:latest',
      Cmd: ['sleep', '3600'],
      Labels: { 'it-ha-run': RUN },
      HostConfig: { Init: true },
    });
    await stranger.start();
    await waitFor('orphan removed', async () => ((await dockerOf(orphanUuid)).length === 0 ? true : undefined), 15_000);
    expect(logLines.some((l) => l.uuid === orphanUuid && l.msg === 'orphan container removed' && l.host === HOST_A)).toBe(true);
    await actorA.resync();
    await actorB.resync();
    expect((await stranger.inspect()).State.Status).toBe('running');
    expect((await onlyDocker(b)).State.Status).toBe('exited');

    await cmd(a, { type: 'DeleteContainer', stop: true, force: false });
    await untilStatus(a, 'Deleted');
    expect((await onlyDocker(b)).State.Status).toBe('exited');
    await stranger.remove({ force: true });
  });

  it('kill -9 of an actor process mid-operation, then restart: converges with no duplicate container', async () => {
    const env = {
      NATS_URL: nats.url,
      ETCD_ENDPOINTS: etcdServer.endpoint,
      HOST_NAME: HOST_C,
      RESYNC_SECONDS: '1',
      HOST_LEASE_TTL: '3',
      LOG_LEVEL: 'info',
      STATE_DIR: join(STATE, HOST_C),
    };
    child = spawnService('host-actor-c', 'services/host-actor/main.ts', env, { quiet: true });
    await waitFor('actor C registered', async () => (await etcd.get(hostRegistryKey(HOST_C)).string()) ?? undefined, 30_000);

    // Several creates in flight; kill the actor as soon as the first container exists in Docker.
    const uuids = await Promise.all([0, 1, 2, 3, 4].map(() => place(HOST_C)));
    await waitFor(
      'a first container in Docker',
      async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${HOST_C}`] } })).length > 0 ? true : undefined),
      30_000,
      2,
    );
    await child.kill9();
    const midway = await Promise.all(uuids.map(state));
    const inDocker = await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${HOST_C}`] } });
    const unrecorded = inDocker.filter((c) => !midway.some((s) => s.observed.dockerId === c.Id)).length;
    const midwayRunning = midway.filter((s) => s.status === 'Running').length;

    await child.restart();
    for (const uuid of uuids) {
      await untilStatus(uuid, 'Running', 30_000);
      const d = await onlyDocker(uuid); // exactly one container per uuid
      expect(d.State.Status).toBe('running');
      expect((await state(uuid)).observed.dockerId).toBe(d.Id);
    }
    const all = await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${HOST_C}`] } });
    expect(all).toHaveLength(uuids.length);
    console.log(
      `kill -9 test: when killed, ${inDocker.length} containers existed in Docker (${unrecorded} not yet recorded in the log), ${midwayRunning}/${uuids.length} Running`,
    );

    // SIGTERM: graceful, and the lease is revoked at once.
    await child.stop();
    expect(child.output()).toContain('host deregistered');
    expect(await etcd.get(hostRegistryKey(HOST_C)).string()).toBeNull();
  });

  it('the desired entry leaves out the host\'s own observations; a restarted actor catches up from the log and does not reboot twice', async () => {
    const uuid = await place(HOST_A);
    await untilStatus(uuid, 'Running');
    const desired = await new Kvm(nc).open(DESIRED_BUCKET);
    const entry = async () => (await desired.get(desiredKey(HOST_A, 'container', uuid)))?.json<ContainerState>();
    const scheduledSeq = (await store.load('container', uuid)).find((e) => e.type === 'ContainerScheduled')!.seq;
    // Created, Started (and the network record) are the actor's own: the entry stays at the placement.
    await actorA.idle();
    expect((await entry())?.seq).toBe(scheduledSeq);
    expect((await state(uuid)).seq).toBeGreaterThan(scheduledSeq);

    await cmd(uuid, { type: 'RebootContainer', timeout: 1 });
    const rebooted = await untilStatus(uuid, 'Running');
    expect(rebooted.observed.rebootDone).toBe(1);
    await actorA.idle();
    const e = await entry();
    expect(e?.desired.rebootGen).toBe(1);
    expect(e?.observed.rebootDone).toBe(0); // the entry predates the reboot's record
    const startedAt = (await onlyDocker(uuid)).State.StartedAt;
    const seq = (await state(uuid)).seq;

    // A fresh actor for the same host knows nothing but the entry, Docker and the log.
    await actorA.stop();
    actorA = startActor(HOST_A);
    await actorA.start();
    await actorA.resync();
    await actorA.idle();
    expect((await onlyDocker(uuid)).State.StartedAt).toBe(startedAt);
    expect((await state(uuid)).seq).toBe(seq);
  });

  it('re-registers after an etcd crash and after losing its lease', async () => {
    await etcdServer.kill9();
    await etcdServer.restart();
    await waitFor('host A registered after the etcd restart', async () => (await etcd.get(hostRegistryKey(HOST_A)).string()) ?? undefined, 30_000, 200);
    // The lease is revoked behind the actor's back: its keepalive learns it is lost and registers again.
    const before = await etcd.get(hostRegistryKey(HOST_A)).exec();
    const leaseId = before.kvs[0]!.lease;
    await etcd.leaseClient.leaseRevoke({ ID: leaseId });
    const after = await waitFor(
      'host A registered under a new lease',
      async () => {
        const r = await etcd.get(hostRegistryKey(HOST_A)).exec();
        return r.kvs[0] && r.kvs[0].lease !== leaseId ? r.kvs[0] : undefined;
      },
      30_000,
      100,
    );
    expect(JSON.parse(after.value.toString())).toMatchObject({ hostname: HOST_A });
  });
});
