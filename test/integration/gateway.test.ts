/**
 * The gateway over real NATS: its own nats-server, the JetStream event store,
 * the projector filling `zun_containers`, and the gateway's KV read model,
 * spoken to over HTTP on a real port the way the CLI speaks to it.
 *
 * The gateway starts before the projector, so the bucket does not exist at
 * first: lists answer 503 until it does, then catch up with no restart.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_NAME } from '../../events/index.js';
import { loadConfig } from '../../services/gateway/config.js';
import { startGateway, type Gateway } from '../../services/gateway/server.js';
import { executeContainerCommand } from '../../services/platform/commands.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { connectNats } from '../../services/platform/nats.js';
import { CAPSULES_BUCKET, CONTAINERS_BUCKET, readModelKey } from '../../services/platform/readmodels.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createProjector, type Projector } from '../../services/projector/projector.js';
import { startNats, type NatsServer } from '../support/servers.js';

const logs: string[] = [];
const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }));
const H = { 'Content-Type': 'application/json', Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };

let nats: NatsServer;
let nc: NatsConnection;
let gateway: Gateway;
let projector: Projector | undefined;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { ...(body === undefined ? { ...H, 'Content-Length': '0' } : H), ...headers },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text };
}

async function eventCount(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(STREAM_NAME)).state.messages;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const listed = async (query = '') => ((await api('GET', `/v1/containers${query}`)).body?.containers ?? []) as { uuid: string; name: string; status: string }[];

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ servers: nats.url, name: 'gateway-it' });
  await ensureStream(await jetstreamManager(nc));
  gateway = await startGateway({
    nc,
    log,
    // noauth, explicitly (identity is exercised in test/integration/identity-cli.test.ts).
    // Unlimited quotas: counting usage needs the read model, and this test creates before it exists.
    config: {
      host: '127.0.0.1',
      port: 0,
      baseUrl: undefined,
      auth: loadConfig({ AUTH_MODE: 'noauth', GATEWAY_SECRET: 'gateway-it-secret-of-at-least-32-bytes' }).auth,
      quotaDefaults: { containers: -1, memory: -1, disk: -1, cpu: -1 },
    },
    readModelTimings: { retryMs: 100, readyTimeoutMs: 300 },
  });
});

afterAll(async () => {
  await gateway?.close();
  await projector?.stop();
  await nc?.close();
  await nats?.stop();
});

describe('gateway on NATS', () => {
  it('serves the version documents on a real port', async () => {
    const r = await api('GET', '/');
    expect(r.status).toBe(200);
    expect(r.body.versions[0]).toMatchObject({ status: 'CURRENT', max_version: '1.40', min_version: '1.1' });
    expect(r.body.versions[0].links[0].href).toBe(`${gateway.url}/v1/`);
    expect(r.headers.get('x-openstack-request-id')).toMatch(/^req-/);
  });

  it('answers 503 for a list while the read model bucket does not exist, creates through the log anyway', async () => {
    const list = await api('GET', '/v1/containers');
    expect(list.status).toBe(503);
    expect(list.body.errors[0].detail).toMatch(/Error Correlation id is: /);
    expect((await api('GET', '/v1/capsules')).status).toBe(503); // zun_capsules, likewise
    // Writes and shows by uuid do not need the read model.
    const created = await api('POST', '/v1/containers', { name: 'early', image: 'cirros' });
    expect(created.status).toBe(202);
    const shown = await api('GET', `/v1/containers/${created.body.uuid}`);
    expect(shown.status).toBe(200);
    expect(shown.body.name).toBe('early');
  });

  it('lists, filters and finds by name once the projector fills zun_containers', async () => {
    projector = await createProjector({ nc, store: createJetStreamEventStore({ nc }), log });
    await gateway.readModel.ready();
    await until('early to be listed', async () => ((await listed()).some((c) => c.name === 'early') ? true : undefined));

    const web = await api('POST', '/containers/?run=true', { name: 'web', image: 'nginx', memory: '256', cpu: '0.5', command: ['nginx'] });
    expect(web.status).toBe(202);
    expect(web.headers.get('location')).toBe(`${gateway.url}/v1/containers/${web.body.uuid}`);
    // Shown at once by uuid: the store is authoritative.
    expect((await api('GET', `/v1/containers/${web.body.uuid}`)).body.status).toBe('Creating');
    await until('web to be listed', async () => ((await listed()).some((c) => c.uuid === web.body.uuid) ? true : undefined));

    expect((await listed('?name=web')).map((c) => c.uuid)).toEqual([web.body.uuid]);
    expect((await listed('?memory=256')).map((c) => c.name)).toEqual(['web']);
    const byName = await api('GET', '/v1/containers/web');
    expect(byName.status).toBe(200);
    expect(byName.body).toMatchObject({ uuid: web.body.uuid, memory: '256', cpu: 0.5, command: ['nginx'] });

    const page = await api('GET', '/v1/containers?limit=1');
    expect(page.body.containers).toHaveLength(1);
    expect(page.body.next).toMatch(new RegExp(`^${gateway.url}/v1/containers\\?sort_key=id&sort_dir=asc&limit=1&marker=`));
    const rest = await api('GET', page.body.next.slice(gateway.url.length));
    expect(rest.body.containers.map((c: { name: string }) => c.name)).toEqual(['web']);
  });

  it('lists capsules and finds them by name from zun_capsules, as the projector writes it', async () => {
    if (!projector) projector = await createProjector({ nc, store: createJetStreamEventStore({ nc }), log });
    const template = { capsuleVersion: 'beta', kind: 'capsule', metadata: { name: 'cap-rm' }, spec: { containers: [{ image: 'cirros', command: ['sleep', '60'] }] } };
    const made = await api('POST', '/v1/capsules', { template });
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    const uuid = made.body.uuid as string;
    const capsules = async () => ((await api('GET', '/v1/capsules')).body?.capsules ?? []) as { uuid: string; status: string }[];
    await until('the capsule listed', async () => ((await capsules()).some((c) => c.uuid === uuid) ? true : undefined));
    expect((await api('GET', '/v1/capsules/cap-rm')).body.uuid).toBe(uuid);

    // What the bucket says is what is listed: a newer state put there shows, a removed key is gone.
    const kv = await new Kvm(nc).open(CAPSULES_BUCKET);
    const entry = await kv.get(readModelKey(uuid));
    const state = entry!.json<{ seq: number; status: string }>();
    await kv.put(readModelKey(uuid), JSON.stringify({ ...state, seq: state.seq + 1000, status: 'Error' }));
    await until('the newer state listed', async () => ((await capsules()).find((c) => c.uuid === uuid)?.status === 'Error' ? true : undefined));
    await kv.delete(readModelKey(uuid));
    await until('the capsule gone from the list', async () => ((await capsules()).some((c) => c.uuid === uuid) ? undefined : true));
    expect((await api('GET', '/v1/capsules/cap-rm')).status).toBe(404);
  });

  it('acts through the log: state checks, placement and host observations, delete', async () => {
    const store = createJetStreamEventStore({ nc });
    const system = { projectId: 'system', userId: 'system' };
    const deps = { store, newId: randomUUID, now: () => new Date() };
    const created = await api('POST', '/v1/containers', { name: 'acted', image: 'cirros' });
    const uuid = created.body.uuid as string;

    // Still Creating: stop is refused with Zun's message, nothing appended.
    const before = await eventCount();
    const stop = await api('POST', `/v1/containers/${uuid}/stop?timeout=10`);
    expect(stop.status).toBe(409);
    expect(stop.body.errors[0]).toMatchObject({ code: 'container.invalid-state-exception', title: `Cannot stop container ${uuid} in Creating state` });
    const bad = await api('POST', '/v1/containers', { name: 'x', image: 'cirros', cpu: '99' });
    expect(bad.status).toBe(400);
    expect(await eventCount()).toBe(before);

    // Placement and the host actor do their part.
    const sched = await executeContainerCommand(deps, uuid, { type: 'ScheduleContainer', host: 'it-host', claim: { cpu: 1, memoryMiB: 512, diskGb: 0 } }, { ...system, requestId: `req-${randomUUID()}` });
    expect(sched.ok).toBe(true);
    const obs = await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation: { type: 'ContainerCreated', data: { dockerId: 'd-1' } } }, { ...system, requestId: `req-${randomUUID()}` });
    expect(obs.ok).toBe(true);
    await until('acted to be Created in the list', async () =>
      (await listed('?status=Created')).some((c) => c.uuid === uuid) ? true : undefined,
    );

    // start: 202 null, and the event carries the response's request id.
    const start = await api('POST', `/v1/containers/acted/start`);
    expect(start.status).toBe(202);
    expect(start.text).toBe('null');
    const events = await store.load('container', uuid);
    const last = events[events.length - 1]!;
    expect(last.type).toBe('ContainerStartRequested');
    expect(last.requestId).toBe(start.headers.get('x-openstack-request-id'));

    // delete?stop=true at 1.40 from Created: 204, Deleting; the host's ContainerDeleted removes the key.
    const del = await api('DELETE', `/v1/containers/${uuid}?force=False&stop=True&all_projects=False`);
    expect(del.status).toBe(204);
    await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation: { type: 'ContainerDeleted', data: {} } }, { ...system, requestId: `req-${randomUUID()}` });
    expect((await api('GET', `/v1/containers/${uuid}`)).status).toBe(404);
    await until('acted to leave the list', async () => ((await listed()).some((c) => c.uuid === uuid) ? undefined : true));
    const kv = await new Kvm(nc).open(CONTAINERS_BUCKET);
    const entry = await kv.get(uuid);
    expect(entry === null || entry.operation !== 'PUT').toBe(true);
  });

  it('keeps serving lists across a nats-server restart', async () => {
    await nats.restart();
    await until('a list after the restart', async () => {
      const r = await api('GET', '/v1/containers');
      return r.status === 200 ? r : undefined;
    }, 20_000);
    const after = await until('a create after the restart', async () => {
      const r = await api('POST', '/v1/containers', { name: 'after-restart', image: 'cirros' });
      return r.status === 202 ? r : undefined;
    }, 20_000);
    await until('after-restart to be listed', async () => ((await listed()).some((c) => c.uuid === after.body.uuid) ? true : undefined), 20_000);
  });
});
