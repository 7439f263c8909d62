/**
 * Gateway read benchmark: GET /v1/containers/<uuid> (show: the aggregate is
 * loaded from the event log) and GET /v1/containers with 1,000 containers
 * (list: served from the KV read model the projector fills), under a
 * closed-loop keep-alive load generator on loopback (bench/loadgen.ts).
 * GET / (the version document, no I/O) is measured in the same run as the
 * baseline the other two are compared with, since client and servers share
 * the machine's two cores.
 *
 * Setup: a real nats-server, the projector and the gateway as child
 * processes (their main.ts, AUTH_MODE=noauth), and 1,000 containers seeded
 * through the real command path (executeContainerCommand, fenced appends to
 * JetStream) from this process. No placement and no Docker: the containers
 * stay Creating, which is all a read needs.
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { executeContainerCommand } from '../services/platform/commands.js';
import { createJetStreamEventStore } from '../services/platform/jetstream-eventstore.js';
import { connectNats } from '../services/platform/nats.js';
import { ensureStream } from '../services/platform/stream.js';
import { spawnService, waitFor, type ServiceProcess } from '../test/support/cluster.js';
import { specOf } from '../test/support/container-gen.js';
import { freePort, startNats } from '../test/support/servers.js';
import { runLoad, type LoadResult } from './loadgen.js';
import type { BenchResult, Progress } from './types.js';

const HEADERS = { Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };

export async function benchGateway({ quick, progress }: { quick: boolean; progress: Progress }): Promise<BenchResult> {
  const n = 1_000;
  const durationMs = quick ? 3_000 : 10_000;
  const connections = 16;
  const listConnections = 4;

  progress('starting nats-server');
  const nats = await startNats();
  const services: ServiceProcess[] = [];
  const nc = await connectNats({ servers: nats.url, name: 'bench-gateway' });
  try {
    await ensureStream(await jetstreamManager(nc), {});
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { NATS_URL: nats.url, ETCD_ENDPOINTS: 'http://127.0.0.1:1', LOG_LEVEL: 'warn', E2E_LOG_LEVEL: 'warn' };
    services.push(spawnService('projector', 'services/projector/main.ts', env, { quiet: true }));
    services.push(
      spawnService('gateway', 'services/gateway/main.ts', { ...env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', AUTH_MODE: 'noauth' }, { quiet: true }),
    );
    await waitFor('gateway', async () => (await fetch(`${url}/`).catch(() => null))?.ok, 60_000);

    progress(`seeding ${n} containers through the command path`);
    const store = createJetStreamEventStore({ nc });
    const uuids: string[] = [];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const i = next++;
          const uuid = randomUUID();
          const res = await executeContainerCommand(
            { store, newId: randomUUID, now: () => new Date() },
            uuid,
            { type: 'CreateContainer', spec: specOf({ name: `bench-${i}` }), run: false },
            { projectId: 'default', userId: 'admin', requestId: `req-${randomUUID()}` },
          );
          if (!res.ok) throw new Error(`seed ${i}: ${res.rejection.message}`);
          uuids.push(uuid);
        }
      }),
    );
    const seedMs = performance.now() - t0;

    progress('waiting for the projector to show all of them');
    const listed = async () => {
      const r = await fetch(`${url}/v1/containers`, { headers: HEADERS });
      if (r.status !== 200) return 0;
      return ((await r.json()) as { containers: unknown[] }).containers.length;
    };
    await waitFor(`${n} containers listed`, async () => (await listed()) >= n, 120_000, 250);

    const pick = () => uuids[Math.floor(Math.random() * uuids.length)]!;
    progress(`GET / (baseline): ${connections} connections, ${durationMs / 1000} s`);
    const root = await runLoad({ url, path: () => '/', headers: HEADERS, connections, durationMs });
    progress(`GET /v1/containers/<uuid>: ${connections} connections, ${durationMs / 1000} s`);
    const show = await runLoad({ url, path: () => `/v1/containers/${pick()}`, headers: HEADERS, connections, durationMs });
    progress(`GET /v1/containers (${n}): ${listConnections} connections, ${durationMs / 1000} s`);
    const list = await runLoad({ url, path: () => '/v1/containers', headers: HEADERS, connections: listConnections, durationMs });
    for (const [name, r] of [['root', root], ['show', show], ['list', list]] as const) {
      if (r.errors > 0) throw new Error(`${name}: ${r.errors} failed requests`);
    }

    const m = (prefix: string, r: LoadResult) => ({
      [`${prefix}_rps`]: r.rps,
      [`${prefix}_p50_ms`]: r.p50Ms,
      [`${prefix}_p99_ms`]: r.p99Ms,
    });
    return {
      name: 'gateway',
      metrics: {
        containers: n,
        seed_per_s: n / (seedMs / 1000),
        ...m('root', root),
        ...m('show', show),
        ...m('list1000', list),
        list1000_body_kb: list.bytes / 1024,
        show_vs_root_rps: show.rps / root.rps,
        list1000_vs_root_rps: list.rps / root.rps,
      },
      notes:
        `closed loop on loopback, keep-alive; root and show with ${connections} connections, the 1,000-container list with ${listConnections}; ` +
        `${durationMs / 1000} s each after a 1 s warm-up; gateway, projector and nats-server are child processes sharing the cores with the load generator. ` +
        'show loads the aggregate from JetStream on every request (direct gets: last_by_subj, then back-pointers; a seeded container has one event); the list is served from the read model cache (one KV watch) and returns about 1 MB of JSON.',
    };
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await nc.close().catch(() => {});
    await nats.stop();
  }
}
