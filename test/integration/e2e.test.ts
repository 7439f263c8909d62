/**
 * End to end on real Docker: the real services as processes (gateway,
 * projector, two placement instances, three host actors), their own
 * nats-server and etcd, and the machine's dockerd. Everything is driven
 * through the Zun REST API and checked in Docker.
 */
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startCluster, waitFor, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { removeLabelledContainers } from '../support/host-cleanup.js';
import { STREAM_NAME } from '../../events/index.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const HOSTS = ['e2e-host-a', 'e2e-host-b', 'e2e-host-c'];
const H = { 'Content-Type': 'application/json', Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };

let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
let nc: NatsConnection;

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${cluster.gatewayUrl}${path}`, {
    method,
    headers: body === undefined ? { ...H, 'Content-Length': '0' } : H,
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function eventCount(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(STREAM_NAME)).state.messages;
}

async function status(uuid: string): Promise<string | undefined> {
  const r = await api('GET', `/v1/containers/${uuid}`);
  return r.status === 200 ? r.body.status : r.status === 404 ? 'gone' : undefined;
}

const untilStatus = (uuid: string, want: string, timeoutMs = 60_000) =>
  waitFor(`${uuid} to be ${want}`, async () => ((await status(uuid)) === want ? true : undefined), timeoutMs, 200);

async function dockerOf(uuid: string) {
  const list = await docker.listContainers({ all: true, filters: { label: [`zun.container.uuid=${uuid}`] } });
  return Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}

async function run(name: string, extra: Record<string, unknown> = {}) {
  const r = await api('POST', '/v1/containers?run=true', {
    name, image: 'zun-base:latest', command: ['sleep', '3600'], cpu: 0.25, memory: '48', ...extra,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.body.status).toBe('Creating');
  return r.body.uuid as string;
}

beforeAll(async () => {
  cluster = await startCluster({ hosts: HOSTS, placements: 2, hostEnv: { RESYNC_SECONDS: '3', HOST_CPUS: '4', HOST_MEMORY_MIB: '4096' } });
  await cluster.ready(HOSTS);
  nc = await connect({ servers: cluster.natsUrl });
}, 180_000);

afterAll(async () => {
  await nc?.close();
  if (process.env['E2E_DUMP']) for (const s of cluster?.services.values() ?? []) console.log(`--- ${s.name}\n${s.output().slice(-5000)}`);
  await cluster?.stop();
  for (const h of HOSTS) await removeLabelledContainers(`zun.host=${h}`);
}, 120_000);

describe('containers end to end on Docker', () => {
  it('run: Running in Docker with the right limits and labels, and the API says Running', async () => {
    const uuid = await run('e2e-run', { environment: { A: '1' }, labels: { team: 'e2e' }, workdir: '/tmp', hostname: 'box' });
    await untilStatus(uuid, 'Running');
    const [c, ...more] = await dockerOf(uuid);
    expect(more).toHaveLength(0);
    expect(c!.State.Running).toBe(true);
    expect(c!.HostConfig.Memory).toBe(48 * 1024 * 1024);
    expect(c!.HostConfig.Init).toBe(true);
    expect(c!.Config.Labels['team']).toBe('e2e');
    expect(c!.Config.Env).toContain('A=1');
    expect(c!.Config.WorkingDir).toBe('/tmp');
    expect(c!.Config.Hostname).toBe('box');
    const view = (await api('GET', `/v1/containers/${uuid}`)).body;
    expect(view.host).toBe(c!.Config.Labels['zun.host']);
    expect(HOSTS).toContain(view.host);
  });

  it('resize (PATCH cpu/memory): the claim grows in the placement ledger when the host has room, else 409 and nothing changes', async () => {
    const uuid = await run('e2e-resize', { host: HOSTS[2] });
    await untilStatus(uuid, 'Running');
    const jsm = await jetstreamManager(nc);
    const lastLedgerEvent = async () => {
      const m = await jsm.streams.getMessage(STREAM_NAME, { last_by_subj: 'zun.evt.placement.default' });
      return m ? (JSON.parse(new TextDecoder().decode(m.data)) as { type: string; data: Record<string, unknown> }) : null;
    };
    // More memory than the host has (HOST_MEMORY_MIB=4096): refused, nothing appended, Docker unchanged.
    // (The host actor may still be recording observations, so compare the ledger and the container, not the stream.)
    const ledgerBefore = await lastLedgerEvent();
    const refused = await api('PATCH', `/v1/containers/${uuid}`, { memory: '8192' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.errors[0].detail).toContain(`Insufficient compute resources on host ${HOSTS[2]}`);
    expect(await lastLedgerEvent()).toEqual(ledgerBefore);
    expect((await api('GET', `/v1/containers/${uuid}`)).body.memory).toBe('48');
    expect((await dockerOf(uuid))[0]!.HostConfig.Memory).toBe(48 * 1024 * 1024);
    // Room for it: the ledger's claim grows first, then the container; Docker follows.
    const ok = await api('PATCH', `/v1/containers/${uuid}`, { cpu: 0.5, memory: '96' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(await lastLedgerEvent()).toMatchObject({ type: 'ClaimResized', data: { id: uuid, claim: { cpu: 0.5, memoryMiB: 96 } } });
    await waitFor('Docker resized', async () => {
      const [c] = await dockerOf(uuid);
      return c!.HostConfig.Memory === 96 * 1024 * 1024 && c!.HostConfig.NanoCpus === 0.5e9 ? true : undefined;
    }, 30_000, 250);
    // Shrinking (resize_container, 1.19+): the container first, then the ledger.
    const shrink = await api('POST', `/v1/containers/${uuid}/resize_container`, { cpu: 0.25 });
    expect(shrink.status, JSON.stringify(shrink.body)).toBe(202);
    await waitFor('the ledger shrunk', async () => {
      const e = await lastLedgerEvent();
      return e?.type === 'ClaimResized' && (e.data['claim'] as { cpu: number }).cpu === 0.25 ? true : undefined;
    }, 10_000, 100);
    expect((await api('DELETE', `/v1/containers/${uuid}?force=true`)).status).toBe(204);
  });

  it('stop, start, pause, unpause, reboot, kill, delete reach the right Docker state and status', async () => {
    const uuid = await run('e2e-life');
    await untilStatus(uuid, 'Running');
    const state = async () => (await dockerOf(uuid))[0]?.State;

    expect((await api('POST', `/v1/containers/${uuid}/stop?timeout=2`)).status).toBe(202);
    await untilStatus(uuid, 'Stopped');
    expect((await state())!.Running).toBe(false);

    // An action from the wrong status: 409, and nothing appended.
    const before = await eventCount();
    const bad = await api('POST', `/v1/containers/${uuid}/pause`);
    expect(bad.status).toBe(409);
    expect(bad.body.errors[0].title).toBe(`Cannot pause container ${uuid} in Stopped state`);
    expect(await eventCount()).toBe(before);

    expect((await api('POST', `/v1/containers/${uuid}/start`)).status).toBe(202);
    await untilStatus(uuid, 'Running');
    expect((await state())!.Running).toBe(true);

    expect((await api('POST', `/v1/containers/${uuid}/pause`)).status).toBe(202);
    await untilStatus(uuid, 'Paused');
    expect((await state())!.Paused).toBe(true);

    expect((await api('POST', `/v1/containers/${uuid}/unpause`)).status).toBe(202);
    await untilStatus(uuid, 'Running');
    expect((await state())!.Paused).toBe(false);

    const startedAt = (await state())!.StartedAt;
    expect((await api('POST', `/v1/containers/${uuid}/reboot?timeout=1`)).status).toBe(202);
    await waitFor('restart in docker', async () => (await state())!.StartedAt !== startedAt, 30_000);
    await untilStatus(uuid, 'Running');

    expect((await api('POST', `/v1/containers/${uuid}/kill?signal=SIGKILL`)).status).toBe(202);
    await untilStatus(uuid, 'Stopped');
    expect((await state())!.Running).toBe(false);

    expect((await api('DELETE', `/v1/containers/${uuid}`)).status).toBe(204);
    await untilStatus(uuid, 'gone');
    await waitFor('docker container removed', async () => (await dockerOf(uuid)).length === 0, 30_000);
  });

  it('delete of a Running container needs stop=true (409 without), then removes it', async () => {
    const uuid = await run('e2e-del');
    await untilStatus(uuid, 'Running');
    expect((await api('DELETE', `/v1/containers/${uuid}`)).status).toBe(409);
    expect((await api('DELETE', `/v1/containers/${uuid}?stop=true`)).status).toBe(204);
    await untilStatus(uuid, 'gone');
    await waitFor('docker container removed', async () => (await dockerOf(uuid)).length === 0, 30_000);
  });

  it('with three host actors, containers land on the host placement chose, and only there', async () => {
    const uuids = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => run(`e2e-spread-${i}`)));
    await Promise.all(uuids.map((u) => untilStatus(u, 'Running')));
    const hostsUsed = new Set<string>();
    for (const u of uuids) {
      const view = (await api('GET', `/v1/containers/${u}`)).body;
      const inDocker = await dockerOf(u);
      expect(inDocker).toHaveLength(1);
      expect(inDocker[0]!.Config.Labels['zun.host']).toBe(view.host);
      hostsUsed.add(view.host);
    }
    // The default weigher spreads.
    expect(hostsUsed.size).toBeGreaterThan(1);
    await Promise.all(uuids.map((u) => api('DELETE', `/v1/containers/${u}?force=true`)));
  });

  it('a container stopped behind the system\'s back (docker stop) shows as Stopped', async () => {
    const uuid = await run('e2e-drift');
    await untilStatus(uuid, 'Running');
    const [c] = await dockerOf(uuid);
    await docker.getContainer(c!.Id).stop({ t: 1 });
    await untilStatus(uuid, 'Stopped', 30_000);
    // restart policy "no": it is not restarted behind the user's back either.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await status(uuid)).toBe('Stopped');
  });

  it('kill -9 a host actor during an operation, restart it: it converges with no duplicates', async () => {
    const uuids = await Promise.all([1, 2, 3, 4].map((i) => run(`e2e-crash-${i}`)));
    // Kill every host actor right away, while creates are in flight.
    await new Promise((r) => setTimeout(r, 150));
    const actors = HOSTS.map((h) => cluster.services.get(`host-actor:${h}`)!);
    await Promise.all(actors.map((a) => a.kill9()));
    await Promise.all(actors.map((a) => a.restart()));
    await Promise.all(uuids.map((u) => untilStatus(u, 'Running', 90_000)));
    for (const u of uuids) expect(await dockerOf(u)).toHaveLength(1);
  });

  it('kill -9 the placement leader: the standby takes over and pending containers are still placed', async () => {
    const placements = [...cluster.services.values()].filter((s) => s.name.startsWith('placement:'));
    // Kill both in turn if needed: whichever leads, a survivor must place.
    await placements[0]!.kill9();
    const uuid = await run('e2e-failover');
    await untilStatus(uuid, 'Running', 60_000);
    await placements[0]!.restart();
    await placements[1]!.kill9();
    const uuid2 = await run('e2e-failover-2');
    await untilStatus(uuid2, 'Running', 60_000);
    await placements[1]!.restart();
  });
});
