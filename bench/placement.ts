/**
 * Placement benchmark: the real placement path (leader fold, plan, fenced
 * ledger commits, per-container fenced ContainerScheduled appends) against
 * its own nats-server and etcd.
 *
 * Setup (untimed): 5,000 simulated hosts registered in etcd under one shared
 * lease; 50,000 ContainerCreateRequested appended (pipelined). Timed: from
 * starting one placement instance (election, fold of the stream, planning,
 * commits, schedules) until every container is Scheduled or failed. Then the
 * result is checked from the stream: every container placed exactly once,
 * the ledger's claims equal the placements, and no host overcommitted.
 *
 * Target: >= 3,000 placements/s on the shared 2-core machine.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Etcd3 } from 'etcd3';
import { envelope, type ContainerEvent, type EventEnvelope, type PlacementEvent, type RecordedEvent } from '../events/index.js';
import type { HostRecord } from '../domain/host.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../domain/container.js';
import { applyLedgerEvent, initialLedger, overcommittedHosts, type Weigher } from '../domain/placement.js';
import { ensureStream } from '../services/platform/stream.js';
import { createJetStreamEventStore, readBatches } from '../services/platform/jetstream-eventstore.js';
import { createLogger } from '../services/platform/log.js';
import { createPlacement } from '../services/placement/placement.js';
import { registerHosts } from '../services/placement/registry.js';
import { startEtcd, startNats } from '../test/support/servers.js';
import { specOf } from '../test/support/container-gen.js';
import type { BenchResult, Progress } from './types.js';

export interface BenchPlacementOptions {
  readonly hosts?: number;
  readonly containers?: number;
  readonly weigher?: Weigher;
  readonly log?: Progress;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function simulatedHost(i: number): HostRecord {
  return {
    hostname: `sim-${String(i).padStart(5, '0')}`,
    uuid: randomUUID(),
    // Room for ~16 average containers each: the cluster ends about 60% full.
    capacity: { cpus: 16, memoryMiB: 32_768, diskGb: 500 },
    labels: i % 2 === 0 ? { ssd: 'true' } : {},
    availabilityZone: i % 10 === 0 ? 'az2' : 'nova',
    runtimes: ['runc'],
    version: 'bench',
    disabled: false,
    disabledReason: null,
    os: 'linux',
    osType: 'linux',
    architecture: 'x86_64',
    kernelVersion: '6',
    startedAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
  };
}

const SIZES = [
  { cpu: 0.25, memory: 256 },
  { cpu: 0.5, memory: 512 },
  { cpu: 1, memory: 1024 },
  { cpu: 2, memory: 2048 },
];

export async function benchPlacement(opts: BenchPlacementOptions = {}): Promise<BenchResult> {
  const nHosts = opts.hosts ?? 5_000;
  const nContainers = opts.containers ?? 50_000;
  const progress: Progress = opts.log ?? (() => {});
  const weigher = opts.weigher ?? 'spread';
  const [nats, etcdServer] = await Promise.all([startNats(), startEtcd()]);
  const nc = await connect({ servers: nats.url, name: 'bench-placement' });
  const pnc = await connect({ servers: nats.url, name: 'bench-placement-service' });
  const etcd = new Etcd3({ hosts: etcdServer.endpoint });
  const hostsEtcd = new Etcd3({ hosts: etcdServer.endpoint });
  const placement = createPlacement({
    nc: pnc,
    store: createJetStreamEventStore({ nc: pnc }),
    etcd,
    log: createLogger('bench-placement', process.env['LOG_LEVEL'] ?? 'warn'),
    clock: () => new Date(),
    newId: randomUUID,
    weigher,
    domain: 'default',
    instanceId: 'bench',
    electionTtlSeconds: 5,
  });
  try {
    await ensureStream(await jetstreamManager(nc), {});
    const store = createJetStreamEventStore({ nc });

    // ---- setup, untimed ----
    let t = performance.now();
    const hosts = Array.from({ length: nHosts }, (_, i) => simulatedHost(i));
    const reg = await registerHosts(hostsEtcd, hosts, 60);
    progress(`registered ${nHosts.toLocaleString()} hosts in ${Math.round(performance.now() - t)} ms`);
    void reg;

    t = performance.now();
    const ids = Array.from({ length: nContainers }, () => randomUUID());
    let next = 0;
    const appendOne = async () => {
      while (next < ids.length) {
        const i = next++;
        const id = ids[i]!;
        const size = SIZES[i % SIZES.length]!;
        const spec = specOf({
          name: `bench-${i}`,
          cpu: size.cpu,
          memory: size.memory,
          availabilityZone: i % 10 === 0 ? 'az2' : null,
          hints: i % 7 === 0 ? { 'label:ssd': 'true' } : {},
        });
        const e: ContainerEvent = { type: 'ContainerCreateRequested', data: { spec, run: true } };
        const env = envelope(e, { id: randomUUID(), aggregateKind: 'container', aggregateId: id }, {
          projectId: 'bench',
          userId: 'bench',
          requestId: `req-${id}`,
          correlationId: `req-${id}`,
          causationId: null,
          occurredAt: new Date().toISOString(),
        }) as EventEnvelope;
        await store.append('container', id, [env], 0, `create-${id}`);
      }
    };
    await Promise.all(Array.from({ length: 512 }, appendOne));
    progress(`appended ${nContainers.toLocaleString()} ContainerCreateRequested in ${Math.round(performance.now() - t)} ms`);

    // ---- timed: the real placement path ----
    const t0 = performance.now();
    await placement.start();
    let lastLog = t0;
    for (;;) {
      const s = placement.stats();
      if (s.placed + s.failed >= nContainers) break;
      if (performance.now() - lastLog > 2_000) {
        lastLog = performance.now();
        progress(`  ${s.placed.toLocaleString()} placed, ${s.failed} failed, ${s.commits} commits, ${s.conflicts} conflicts`);
      }
      if (performance.now() - t0 > 600_000) throw new Error(`placement did not finish in 10 minutes: ${JSON.stringify(s)}`);
      await sleep(5);
    }
    const elapsedMs = performance.now() - t0;
    const stats = placement.stats();
    await placement.stop();
    progress(`placed ${stats.placed.toLocaleString()} (failed ${stats.failed}) in ${Math.round(elapsedMs)} ms`);

    // ---- check, untimed: from the stream ----
    const containers = new Map<string, ContainerState>();
    const ledger = initialLedger();
    const scheduledEvents = new Map<string, number>();
    for await (const batch of readBatches({ nc })) {
      for (const e of batch) {
        if (e.aggregateKind === 'placement') applyLedgerEvent(ledger, e as RecordedEvent<PlacementEvent>);
        else if (e.aggregateKind === 'container') {
          containers.set(e.aggregateId, evolveContainer(containers.get(e.aggregateId) ?? initialContainerState(e.aggregateId), e as RecordedEvent<ContainerEvent>));
          if (e.type === 'ContainerScheduled') scheduledEvents.set(e.aggregateId, (scheduledEvents.get(e.aggregateId) ?? 0) + 1);
        }
      }
    }
    const capacity = new Map(hosts.map((h) => [h.hostname, h.capacity]));
    const over = overcommittedHosts(ledger, capacity);
    const unplaced = [...containers.values()].filter((c) => c.host === null).length;
    const twice = [...scheduledEvents.values()].filter((n) => n > 1).length;
    const mismatched = [...containers.values()].filter((c) => c.host !== null && ledger.claims.get(c.uuid)?.host !== c.host).length;
    if (over.length > 0 || twice > 0 || mismatched > 0 || ledger.claims.size !== nContainers - unplaced) {
      throw new Error(
        `placement broke an invariant: overcommitted ${over.length}, scheduled twice ${twice}, host/claim mismatches ${mismatched}, claims ${ledger.claims.size} for ${nContainers - unplaced} placed`,
      );
    }
    const usedHosts = new Set([...containers.values()].map((c) => c.host).filter(Boolean)).size;
    return {
      name: 'placement',
      metrics: {
        placements_per_s: (stats.placed / elapsedMs) * 1000,
        total_ms: elapsedMs,
        hosts: nHosts,
        containers: nContainers,
        placed: stats.placed,
        failed: stats.failed,
        ledger_commits: stats.commits,
        fence_conflicts: stats.conflicts,
        hosts_used: usedHosts,
        overcommitted_hosts: over.length,
      },
      targets: [
        { metric: 'placements_per_s', op: '>=', value: 3_000 },
        { metric: 'overcommitted_hosts', op: '<=', value: 0 },
      ],
      notes:
        `${weigher} weigher; timed from placement start (election, fold of ${nContainers.toLocaleString()} pending creates, plan, ` +
        `fenced ledger commits of <= 500, fenced ContainerScheduled per container, <= 2048 in flight) until all were decided; ` +
        `nats-server, etcd and the service share the machine's cores. Checked from the stream afterwards: no host overcommitted, ` +
        `each container scheduled once, claims = placements.`,
    };
  } finally {
    await placement.stop().catch(() => {});
    etcd.close();
    hostsEtcd.close();
    await nc.close().catch(() => {});
    await pnc.close().catch(() => {});
    await Promise.all([nats.stop(), etcdServer.stop()]);
  }
}
