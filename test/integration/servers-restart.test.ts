/**
 * The whole system (gateway, projector, placement and a host actor, each its
 * own process; then with the one-process control plane) across a kill -9
 * and restart of nats-server, then of etcd: no service exits, nothing
 * acknowledged is lost, and afterwards containers are created, placed, run
 * and stopped through the API as before.
 */
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { inspectLabelled } from '../support/docker.js';
import { zunApi } from '../support/zun-api.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const HOST = 'sr-host';
let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
const { api, until, run } = zunApi(() => cluster.gatewayUrl);


/** POST run, retried while the system answers 5xx (a server it needs is still coming back). */
async function runWhenAble(name: string): Promise<string> {
  return waitFor(`${name} accepted`, async () => {
    try {
      return await run({ name });
    } catch (err) {
      if (/run: 5\d\d/.test((err as Error).message)) return undefined;
      throw err;
    }
  }, 60_000, 500);
}

function noServiceExited(): void {
  for (const s of cluster.services.values()) expect(s.exited(), `${s.name} exited:\n${s.output().slice(-2000)}`).toBe(false);
}

describe.each(['separate', 'combined'] as const)('the system across server restarts (%s processes)', (layout) => {
  beforeAll(async () => {
    cluster = await startCluster({ layout, hosts: [HOST], env: { PLACEMENT_ELECTION_TTL: '2' }, hostEnv: { RESYNC_SECONDS: '2', HOST_LEASE_TTL: '3' } });
    await cluster.ready([HOST]);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('kill -9 of nats-server: every service carries on, and what was accepted is there', async () => {
    const before = await run({ name: 'sr-before' });
    await until(before, 'Running');
    // Accepted just before the crash (202: the event is stored), not yet running.
    const accepted = await run({ name: 'sr-accepted' });
    await cluster.nats.kill9();
    await new Promise((r) => setTimeout(r, 1_000));
    await cluster.nats.restart();

    await until(accepted, 'Running');
    const after = await runWhenAble('sr-after-nats');
    await until(after, 'Running');
    // The host actor's watch on its desired slice came back: a stop reaches Docker.
    expect((await api('POST', `/v1/containers/${before}/stop`)).status).toBe(202);
    await until(before, 'Stopped');
    expect((await inspectLabelled(docker, before)).State.Running).toBe(false);
    // The projector's read model has them all.
    const listed = ((await api('GET', '/v1/containers')).body.containers as { name: string; status: string }[])
      .map((c) => `${c.name}:${c.status}`)
      .sort();
    expect(listed).toEqual(['sr-accepted:Running', 'sr-after-nats:Running', 'sr-before:Stopped']);
    noServiceExited();
  });

  it('kill -9 of etcd: the host registers again, placement leads again, and new containers run', async () => {
    await cluster.etcd.kill9();
    await new Promise((r) => setTimeout(r, 1_000));
    await cluster.etcd.restart();
    await cluster.ready([HOST]);
    const after = await runWhenAble('sr-after-etcd');
    await until(after, 'Running');
    expect((await inspectLabelled(docker, after)).State.Running).toBe(true);
    noServiceExited();
  });
});
