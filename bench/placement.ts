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
import { STREAM_NAME, envelope, type ContainerEvent, type EventEnvelope, type PlacementEvent, type RecordedEvent } from '../events/index.js';
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
  const instance = (instanceId: string, extra: Partial<Parameters<typeof createPlacement>[0]> = {}) =>
    createPlacement({
      nc: pnc,
      store: createJetStreamEventStore({ nc: pnc }),
      etcd,
      log: createLogger('bench-placement', process.env['LOG_LEVEL'] ?? 'warn'),
      clock: () => new Date(),
      newId: randomUUID,
      weigher,
      domain: 'default',
      instanceId,
      electionTtlSeconds: 5,
      ...extra,
    });
  const placement = instance('bench');
  const others: ReturnType<typeof createPlacement>[] = [];
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

    // ---- cold start of a new instance, untimed for the target: folding the whole stream against starting from a view snapshot ----
    const lastSeq = (await (await jetstreamManager(nc)).streams.info(STREAM_NAME)).state.last_seq;
    const standbyReady = async (p: ReturnType<typeof createPlacement>, what: string) => {
      const t1 = performance.now();
      while (p.stats().standbySeq < lastSeq) {
        if (performance.now() - t1 > 300_000) throw new Error(`${what}: standby not caught up in 5 minutes`);
        await sleep(5);
      }
      return performance.now() - t1;
    };
    const leader = instance('bench-leader', { viewSnapshots: false });
    others.push(leader);
    await leader.start();
    while (!leader.isLeader()) await sleep(10);
    const cold = instance('bench-cold', { viewSnapshots: false });
    others.push(cold);
    await cold.start();
    const coldMs = await standbyReady(cold, 'cold');
    await cold.stop();
    progress(`a new standby folded ${lastSeq.toLocaleString()} events in ${Math.round(coldMs)} ms`);
    const writer = instance('bench-snapshot-writer', { snapshotEveryEvents: 1, snapshotMinIntervalMs: 0 });
    others.push(writer);
    await writer.start();
    await standbyReady(writer, 'writer');
    const tWrite = performance.now();
    while (writer.stats().snapshotsWritten === 0) {
      if (performance.now() - tWrite > 120_000) throw new Error('no view snapshot written in 2 minutes');
      await sleep(5);
    }
    await writer.stop();
    const warm = instance('bench-warm');
    others.push(warm);
    await warm.start();
    const warmMs = await standbyReady(warm, 'warm');
    const fromSnapshot = warm.stats().startedFromSnapshot;
    await warm.stop();
    await leader.stop();
    progress(`a new standby started from the view snapshot at ${fromSnapshot.toLocaleString()} in ${Math.round(warmMs)} ms`);
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
        cold_start_events: lastSeq,
        cold_start_full_fold_ms: coldMs,
        cold_start_from_snapshot_ms: warmMs,
        cold_start_ratio: warmMs / coldMs,
        cold_start_snapshot_seq: fromSnapshot,
      },
      targets: [
        { metric: 'placements_per_s', op: '>=', value: 3_000 },
        { metric: 'overcommitted_hosts', op: '<=', value: 0 },
      ],
      notes:
        `${weigher} weigher; timed from placement start (election, fold of ${nContainers.toLocaleString()} pending creates, plan, ` +
        `fenced ledger commits of <= 500, fenced ContainerScheduled per container, <= 2048 in flight) until all were decided; ` +
        `nats-server, etcd and the service share the machine's cores. Checked from the stream afterwards: no host overcommitted, ` +
        `each container scheduled once, claims = placements. ` +
        `cold_start_*: afterwards, a new standby instance until it has folded the stream's last sequence: without snapshots (the whole stream), ` +
        `and from the view snapshot another standby wrote (read it, then fold what came after); not part of the target.`,
    };
  } finally {
    await placement.stop().catch(() => {});
    for (const p of others) await p.stop().catch(() => {});
    etcd.close();
    hostsEtcd.close();
    await nc.close().catch(() => {});
    await pnc.close().catch(() => {});
    await Promise.all([nats.stop(), etcdServer.stop()]);
  }
}
