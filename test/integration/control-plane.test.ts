/**
 * The combined layout (services/control-plane: gateway, projector and
 * placement in one process) end to end on real Docker, with its own
 * nats-server and etcd and one host actor: containers run and stop through
 * the Zun API, and after a kill -9 and restart of the control plane nothing
 * acknowledged is lost and new containers are placed again.
 */
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { inspectLabelled } from '../support/docker.js';
import { zunApi } from '../support/zun-api.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const HOST = 'cp-host';
let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
const { api, until, run } = zunApi(() => cluster.gatewayUrl);

beforeAll(async () => {
  cluster = await startCluster({ layout: 'combined', hosts: [HOST], env: { PLACEMENT_ELECTION_TTL: '2' }, hostEnv: { RESYNC_SECONDS: '3' } });
  await cluster.ready([HOST]);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
}, 120_000);

describe('control plane in one process', () => {
  it('runs the same parts: no separate gateway, projector or placement process', () => {
    expect([...cluster.services.keys()].sort()).toEqual(['control-plane', `host-actor:${HOST}`]);
  });

  it('run and stop through the API reach Docker; a wrong-status action is a 409', async () => {
    const uuid = await run({ name: 'cp-one' });
    await until(uuid, 'Running');
    const c = await inspectLabelled(docker, uuid);
    expect(c.State.Running).toBe(true);
    expect(c.Config.Labels['zun.host']).toBe(HOST);
    expect((await api('POST', `/v1/containers/${uuid}/stop`)).status).toBe(202);
    await until(uuid, 'Stopped');
    expect((await inspectLabelled(docker, uuid)).State.Running).toBe(false);
    // From the wrong status: 409, nothing changes.
    expect((await api('POST', `/v1/containers/${uuid}/unpause`)).status).toBe(409);
  });

  it('survives kill -9: what was acknowledged is there after the restart, and new containers are placed', async () => {
    const before = await run({ name: 'cp-before' });
    await until(before, 'Running');
    // Accepted (202) just before the crash: appended, so it must run after the restart.
    const pending = await run({ name: 'cp-pending' });
    const cp = cluster.services.get('control-plane')!;
    await cp.kill9();
    await cp.restart();
    await cluster.ready([HOST]);
    await until(pending, 'Running');
    expect((await api('GET', `/v1/containers/${before}`)).body.status).toBe('Running');
    const after = await run({ name: 'cp-after' });
    await until(after, 'Running');
    const names = ((await api('GET', '/v1/containers')).body.containers as { name: string }[]).map((c) => c.name).sort();
    expect(names).toEqual(['cp-after', 'cp-before', 'cp-one', 'cp-pending']);
    for (const uuid of [before, pending, after]) expect((await inspectLabelled(docker, uuid)).State.Running).toBe(true);
  });
});
