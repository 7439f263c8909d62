/**
 * The Docker runtime's forced removals go one at a time (services/host-actor/
 * docker.ts: dockerd 20.10.24 can deadlock when containers on one network are
 * torn down together). On the real dockerd, through a client that counts the
 * removals in flight.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerRuntime, ownLabels } from '../../services/host-actor/docker.js';
import { dockerAvailable } from '../support/servers.js';

const HOST = `it-dr-${process.pid}-${Date.now().toString(36)}`;
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

afterAll(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`zun.host=${HOST}`] } }).catch(() => []);
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  await docker.getNetwork(HOST).remove().catch(() => {});
});

/** A client whose containers' `remove` counts how many run at once. */
function countingClient(): { client: Docker; maxInFlight: () => number; removed: () => number } {
  const real = new Docker({ socketPath: '/var/run/docker.sock' });
  let inFlight = 0;
  let max = 0;
  let done = 0;
  const client = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'getContainer') return Reflect.get(target, prop, receiver);
      return (id: string) => {
        const c = target.getContainer(id);
        const remove = c.remove.bind(c);
        c.remove = (async (opts?: object) => {
          inFlight++;
          max = Math.max(max, inFlight);
          try {
            return await remove(opts ?? {});
          } finally {
            inFlight--;
            done++;
          }
        }) as typeof c.remove;
        return c;
      };
    },
  });
  return { client, maxInFlight: () => max, removed: () => done };
}

describe('the Docker runtime', () => {
  it('removes containers one at a time, however many are asked for at once', async () => {
    expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock (bash scripts/servers.sh start)').toBe(true);
    // On one user-defined network, running: the case that deadlocks dockerd 20.10 when done together.
    await docker.createNetwork({ Name: HOST, Driver: 'bridge', Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' }, Labels: { 'zun.host': HOST } });
    const refs = [];
    for (let i = 0; i < 4; i++) {
      const uuid = randomUUID();
      const c = await docker.createContainer({
        Image: 'zun-base:latest',
        Cmd: ['sleep', '3600'],
        Labels: ownLabels({ host: HOST, uuid, generation: 0 }),
        HostConfig: { Init: true, NetworkMode: HOST },
      });
      await c.start();
      refs.push({ host: HOST, uuid, dockerId: c.id });
    }
    const counted = countingClient();
    const runtime = createDockerRuntime({ docker: counted.client });
    await Promise.all(refs.map((r) => runtime.remove(r)));
    expect(counted.removed()).toBe(4);
    expect(counted.maxInFlight()).toBe(1);
    expect(await docker.listContainers({ all: true, filters: { label: [`zun.host=${HOST}`] } })).toEqual([]);
  });
});
