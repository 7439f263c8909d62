/**
 * End-to-end benchmark: containers created with `run=true` through the
 * gateway until each is observed Running, against raw dockerode create+start
 * of the same containers at the same concurrency on the same dockerd, in the
 * same run. Targets: total-time ratio <= 1.3, added p50 latency <= 50 ms.
 *
 * "Observed Running" is the moment the ContainerStarted event for the
 * container is published on the stream (a core NATS subscription on the
 * events' subjects sees it), i.e. when the API would first say Running.
 *
 * Warm-up: before either side is measured it runs E2E_WARMUP (default 200)
 * unmeasured containers the same way at the same concurrency and removes
 * them (the baseline with dockerode, ours through the API: DELETE with
 * force until ContainerDeleted), so that what is measured is the steady
 * state of long-running processes, not V8 tiering up freshly started ones
 * (on 2026-11-26 `perf` showed most of the services' samples in the
 * interpreter's and Sparkplug's builtins and in TurboFan compiling during
 * the first 100 containers, and their CPU per container fell from about 16
 * to about 10.5 ms over the next 200). The first 100 of each warm-up are
 * reported as `cold_*`, with no target.
 *
 * Rounds: then E2E_ROUNDS (default 5) rounds, each a baseline phase and an
 * ours phase, each phase's containers removed before the next. The targets
 * are judged on the medians of the rounds' added p50 and ratio: one phase
 * against the next moves by tens of milliseconds with nothing changed (the
 * baseline alone, four times in a row, had p50s 60 ms apart), so a pair
 * measured side by side, and the median of several pairs, is what compares.
 * The system runs (idle) through the baseline phases too, as it would on a
 * compute host; its CPU then is reported.
 *
 * Diagnostics (not part of the targets): how busy the machine's CPUs were
 * during each phase and the whole machine's CPU time per container
 * (/proc/stat), the CPU time per container of each of the system's
 * processes and of dockerd+containerd (/proc/<pid>/stat), read around the
 * measured phases, and from these the CPU the system adds per container.
 * On this 2-core machine both phases are CPU-bound, so every CPU
 * millisecond the system spends per container shows up about
 * concurrency/cores times in the latency.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { connect } from '@nats-io/transport-node';
import { parseAggregateSubject } from '../events/index.js';
import { dockerClient } from '../services/host-actor/docker.js';
import { startCluster } from '../test/support/cluster.js';
import { addedP50, addedP50Interval, median, pct, roundAddedP50 } from './stats.js';
import { envInt, post, procStats, request, runConcurrent, sleep } from './support.js';
import type { BenchResult, Progress } from './types.js';

const IMAGE = 'zun-base:latest';

export async function benchEndToEnd({ quick, progress }: { quick: boolean; progress: Progress }): Promise<BenchResult> {
  const n = quick ? 20 : 100;
  const concurrency = 8;
  const serialN = quick ? 5 : 20;
  const warmN = envInt('E2E_WARMUP', quick ? 20 : 200, 0);
  const rounds = envInt('E2E_ROUNDS', quick ? 1 : 5, 1);
  const coldN = Math.min(warmN, n);
  // As scripts/up.sh runs the system: gateway, projector and placement in one control-plane process
  // (services/control-plane); E2E_LAYOUT=separate: each in its own.
  const layoutEnv = process.env['E2E_LAYOUT'] ?? 'combined';
  if (layoutEnv !== 'combined' && layoutEnv !== 'separate') throw new Error(`E2E_LAYOUT must be combined or separate, not ${layoutEnv}`);
  const layout: 'combined' | 'separate' = layoutEnv;
  // The same client the host actor uses (keep-alive connections on the socket).
  const docker = dockerClient('/var/run/docker.sock');
  const benchLabel = `zun-bench-${randomUUID().slice(0, 8)}`;

  // Baseline: raw dockerode, the same container config the host actor uses.
  // The same network setup as the host actor gives a container: a user-defined
  // bridge for the project (services/host-actor/network/bridge.ts), isolated.
  const network = await docker.createNetwork({
    Name: benchLabel,
    Driver: 'bridge',
    Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
    Labels: { [benchLabel]: 'baseline' },
  });
  const rawCreateStart = async (label: string, i: number, timings?: { create: number[]; start: number[] }) => {
    const t0 = performance.now();
    const c = await dockerCall(`create baseline container ${i}`, () => docker.createContainer({
      Image: IMAGE,
      Cmd: ['sleep', '3600'],
      // The benchmark's label (removed at the end whatever happens) and the phase's (removed after it).
      Labels: { [benchLabel]: 'baseline', [label]: 'baseline', 'zun.bench': String(i) },
      HostConfig: { Init: true, Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, NanoCpus: 0.1e9, NetworkMode: benchLabel },
    }));
    const t1 = performance.now();
    await dockerCall(`start baseline container ${i}`, () => c.start());
    timings?.create.push(t1 - t0);
    timings?.start.push(performance.now() - t1);
  };

  // The system runs through every phase (idle while the baseline's run; its CPU then is reported).
  progress(`starting the system, ${layout} layout (nats, etcd, projector, placement, host actor, gateway)`);
  // The host offers room for all of them (the default capacity is this
  // machine's 2 cpus, which placement would not overcommit).
  // The services log to files, as they would in production, not through this process.
  const logDir = mkdtempSync(join(tmpdir(), 'zun-bench-logs-'));
  const cluster = await startCluster({ hosts: ['bench-host'], hostEnv: { HOST_CPUS: '64', HOST_MEMORY_MIB: '65536' }, logDir, layout });
  // Keep-alive HTTP, like dockerode's client in the baseline (fetch costs the client several times more per request).
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let failedRun = true;
  // Where the time goes (diagnostic): when each container's POST was sent and answered, and its events seen.
  const seenAt = new Map<string, Record<string, number>>();
  const mark = (id: string, what: string, t = performance.now()) => {
    const m = seenAt.get(id) ?? {};
    m[what] ??= t;
    seenAt.set(id, m);
  };
  try {
    await cluster.ready();
    const nc = await connect({ servers: cluster.natsUrl });
    const started = new Map<string, () => void>();
    // A start seen before its POST returned (the waiter is not registered yet).
    const early = new Set<string>();
    const failed = new Map<string, string>();
    // Deletes between phases: waiters, and ContainerDeleted seen before the DELETE returned.
    const deleted = new Map<string, () => void>();
    const deletedEarly = new Set<string>();
    const sub = nc.subscribe('zun.evt.container.*', {
      callback: (_err, msg) => {
        const body = msg.json<{ type: string }>();
        const id = parseAggregateSubject(msg.subject).id;
        mark(id, body.type);
        if (body.type === 'ContainerSchedulingFailed' || body.type === 'ContainerOperationFailed') {
          failed.set(id, JSON.stringify(body));
          const w = started.get(id);
          if (w) w();
          else early.add(id);
          return;
        }
        if (body.type === 'ContainerDeleted') {
          const w = deleted.get(id);
          if (w) w();
          else deletedEarly.add(id);
          return;
        }
        if (body.type !== 'ContainerStarted') return;
        const waiter = started.get(id);
        if (waiter) waiter();
        else early.add(id);
      },
    });
    const headers = { 'Content-Type': 'application/json', 'OpenStack-API-Version': 'container 1.40' };
    const createAndWait = async (name: string): Promise<string> => {
      const sentAt = performance.now();
      const res = await post(agent, `${cluster.gatewayUrl}/v1/containers?run=true`, headers, {
        name, image: IMAGE, command: ['sleep', '3600'], memory: 64, cpu: 0.1, image_pull_policy: 'ifnotpresent',
      });
      if (res.status !== 202) throw new Error(`create ${name}: ${res.status} ${res.body}`);
      const { uuid } = JSON.parse(res.body) as { uuid: string };
      mark(uuid, 'sent', sentAt);
      mark(uuid, 'accepted');
      if (!early.delete(uuid)) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${name} (${uuid}) not Running within 60 s`)), 60_000);
          started.set(uuid, () => {
            clearTimeout(t);
            started.delete(uuid);
            resolve();
          });
        });
      }
      const why = failed.get(uuid);
      if (why) throw new Error(`${name} (${uuid}) failed: ${why}`);
      return uuid;
    };
    /** DELETE ?force=True through the API until ContainerDeleted is on the stream. */
    const deleteAndWait = async (uuid: string) => {
      const gone = new Promise<void>((resolve, reject) => {
        if (deletedEarly.delete(uuid)) return resolve();
        const t = setTimeout(() => reject(new Error(`${uuid} not deleted within 60 s`)), 60_000);
        deleted.set(uuid, () => {
          clearTimeout(t);
          deleted.delete(uuid);
          resolve();
        });
      });
      const res = await request(agent, 'DELETE', `${cluster.gatewayUrl}/v1/containers/${uuid}?force=True`, headers);
      if (res.status !== 204) throw new Error(`delete ${uuid}: ${res.status} ${res.body}`);
      await gone;
    };
    /** Creates `count` containers through the API at `conc` (names `<prefix>-<i>`); their uuids in `made`. */
    const oursPhase = async (count: number, conc: number, prefix: string, made: string[]) =>
      runConcurrent(count, conc, async (i) => made.push(await createAndWait(`${prefix}-${i}`)));
    const deleteAll = async (uuids: string[]) => {
      await runConcurrent(uuids.length, concurrency, (i) => deleteAndWait(uuids[i]!));
      uuids.length = 0;
      // Let the host actor finish what follows the deletes (network collection) before the next phase.
      await sleep(2_000);
    };
    // Zun's default quota is 40 containers per project: lift it for the benchmark's project.
    const quota = await fetch(`${cluster.gatewayUrl}/v1/quotas/default`, {
      method: 'PUT', headers, body: JSON.stringify({ containers: -1, cpu: -1, memory: -1, disk: -1 }),
    });
    if (!quota.ok) throw new Error(`quota update: ${quota.status} ${await quota.text()}`);

    // Warm-up (see the module comment); the first coldN of each side are the cold diagnostic.
    progress(`baseline warm-up: ${warmN} x dockerode create+start at concurrency ${concurrency}, then removed`);
    const warmLabel = `${benchLabel}-warm`;
    const baselineCold = await runConcurrent(coldN, concurrency, (i) => rawCreateStart(warmLabel, i));
    await runConcurrent(warmN - coldN, concurrency, (i) => rawCreateStart(warmLabel, coldN + i));
    await removeLabelled(docker, warmLabel);
    progress(`ours warm-up: ${warmN} x POST /v1/containers?run=true at concurrency ${concurrency}, then DELETE ?force=True`);
    const made: string[] = [];
    await oursPhase(1, 1, 'warmup', made); // first request alone (JIT, image cache)
    const oursCold = await oursPhase(coldN, concurrency, 'warm', made);
    await oursPhase(warmN - coldN, concurrency, 'warm-rest', made);
    await deleteAll(made);

    // The measured rounds: baseline, then ours, `rounds` times.
    const procs: Record<string, number[]> = { dockerd: [...pidsOf('dockerd'), ...pidsOf('containerd')], nats: cluster.nats.pid ? [cluster.nats.pid] : [] };
    for (const [name, svc] of cluster.services) if (svc.pid) procs[name.split(':')[0]!.replace('-', '_')] = [svc.pid];
    const systemProcs = Object.keys(procs).filter((k) => k !== 'dockerd');
    const cpuNow = () => Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, cpuOf(pids)]));
    const ioNow = () => Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, ioOf(pids)]));
    const varz = async () => (await (await fetch(`http://127.0.0.1:${cluster.nats.monitorPort}/varz`)).json()) as { in_msgs: number; out_msgs: number };
    // Per connection (each service names its own): messages it sent to and received from nats-server.
    type Conn = { cid: number; name?: string; in_msgs: number; out_msgs: number };
    const connz = async () => ((await (await fetch(`http://127.0.0.1:${cluster.nats.monitorPort}/connz?limit=1000`)).json()) as { connections: Conn[] }).connections;
    // Sums over the rounds' measured phases.
    const baseCpu: Record<string, number> = {};
    const oursCpu: Record<string, number> = {};
    const oursIo: Record<string, { syscr: number; syscw: number }> = {};
    const perConnection: Record<string, number> = {};
    let baseClientCpu = 0;
    let oursClientCpu = 0;
    let msgsIn = 0;
    let msgsOut = 0;
    const busy = { baseline: [] as Busy[], ours: [] as Busy[] };
    const timings = { create: [] as number[], start: [] as number[] };
    const stageValues: Record<string, number[]> = {};
    const perRound: { base: { latencies: number[]; totalMs: number }; ours: { latencies: number[]; totalMs: number } }[] = [];
    const addDelta = (acc: Record<string, number>, a: Record<string, number>, b: Record<string, number>) => {
      for (const k of Object.keys(b)) acc[k] = (acc[k] ?? 0) + b[k]! - a[k]!;
    };
    for (let r = 0; r < rounds; r++) {
      const roundLabel = `${benchLabel}-r${r}`;
      progress(`round ${r + 1}/${rounds}: baseline, ${n} x dockerode create+start at concurrency ${concurrency}`);
      const bCpu0 = cpuNow();
      const bClient0 = process.cpuUsage();
      const bBusy = busyMeter();
      const base = await runConcurrent(n, concurrency, (i) => rawCreateStart(roundLabel, i, timings));
      busy.baseline.push(bBusy());
      baseClientCpu += cpuMs(process.cpuUsage(bClient0));
      addDelta(baseCpu, bCpu0, cpuNow());
      await removeLabelled(docker, roundLabel);
      await sleep(2_000);

      progress(`round ${r + 1}/${rounds}: ours, ${n} x POST /v1/containers?run=true at concurrency ${concurrency}, until ContainerStarted`);
      const cpu0 = cpuNow();
      const io0 = ioNow();
      const msgs0 = await varz();
      const conns0 = await connz();
      const client0 = process.cpuUsage();
      const oBusy = busyMeter();
      seenAt.clear();
      const ours = await oursPhase(n, concurrency, `bench-r${r}`, made);
      busy.ours.push(oBusy());
      oursClientCpu += cpuMs(process.cpuUsage(client0));
      // CPU: the measured phase, not what follows it (the last passes' network records, the next resync).
      addDelta(oursCpu, cpu0, cpuNow());
      for (const [k, io] of Object.entries(ioNow())) {
        const acc = (oursIo[k] ??= { syscr: 0, syscw: 0 });
        acc.syscr += io.syscr - io0[k]!.syscr;
        acc.syscw += io.syscw - io0[k]!.syscw;
      }
      const msgs1 = await varz();
      msgsIn += msgs1.in_msgs - msgs0.in_msgs;
      msgsOut += msgs1.out_msgs - msgs0.out_msgs;
      for (const c of await connz()) {
        if (!c.name) continue; // this benchmark's own connection
        const b = conns0.find((x) => x.cid === c.cid);
        const key = c.name.split(':')[0]!.replace('-', '_');
        perConnection[`nats_msgs_${key}_sent_per_container`] = (perConnection[`nats_msgs_${key}_sent_per_container`] ?? 0) + c.in_msgs - (b?.in_msgs ?? 0);
        perConnection[`nats_msgs_${key}_received_per_container`] = (perConnection[`nats_msgs_${key}_received_per_container`] ?? 0) + c.out_msgs - (b?.out_msgs ?? 0);
      }
      const measured = [...seenAt.values()].filter((m) => m['sent'] !== undefined);
      const stage = (name: string, from: string, to: string) => {
        for (const m of measured) if (m[from] !== undefined && m[to] !== undefined) (stageValues[name] ??= []).push(m[to]! - m[from]!);
      };
      stage('ours_stage_post_to_202_p50_ms', 'sent', 'accepted');
      stage('ours_stage_to_scheduled_p50_ms', 'sent', 'ContainerScheduled');
      // A container created to run has no ContainerCreated of its own (the host actor records ContainerStarted once).
      stage('ours_stage_scheduled_to_started_p50_ms', 'ContainerScheduled', 'ContainerStarted');
      perRound.push({ base, ours });
      progress(
        `round ${r + 1}/${rounds}: added p50 ${(pct(ours.latencies, 50) - pct(base.latencies, 50)).toFixed(0)} ms, ratio ${(ours.totalMs / base.totalMs).toFixed(3)}`,
      );
      await deleteAll(made);
    }

    // Diagnostic: one at a time, where nothing queues for the CPU.
    progress(`serial: ${serialN} x dockerode create+start, then ${serialN} x POST ?run=true, at concurrency 1`);
    const serialLabel = `${benchLabel}-serial`;
    const baselineSerial = await runConcurrent(serialN, 1, (i) => rawCreateStart(serialLabel, i));
    await removeLabelled(docker, serialLabel);
    const oursSerial = await oursPhase(serialN, 1, 'bench-serial', made);
    sub.unsubscribe();
    await nc.close();

    const total = rounds * n;
    // The rounds' figures, the headline and its interval from one definition (stats.ts): the interval is of the figure reported.
    const latencyRounds = perRound.map((x) => ({ base: x.base.latencies, ours: x.ours.latencies }));
    const added = latencyRounds.map(roundAddedP50);
    const ci = addedP50Interval(latencyRounds);
    const ratios = perRound.map((x) => x.ours.totalMs / x.base.totalMs);
    const all = (side: 'base' | 'ours') => perRound.flatMap((x) => x[side].latencies);
    const roundMetrics = Object.fromEntries(
      perRound.flatMap((_, i) => [
        [`round_${i + 1}_added_p50_ms`, added[i]!],
        [`round_${i + 1}_total_time_ratio`, ratios[i]!],
      ]),
    );
    const result: BenchResult = {
      name: 'e2e',
      metrics: {
        containers: n,
        concurrency,
        rounds,
        added_p50_ms: addedP50(latencyRounds),
        // How far that figure moves by chance (rounds and containers drawn again, 2,000 times).
        added_p50_ci95_low_ms: ci.low,
        added_p50_ci95_high_ms: ci.high,
        // The same relative to the baseline's p50 (median of the rounds'): on a saturated machine it follows the CPU added per container.
        added_p50_pct: median(perRound.map((x, i) => (100 * added[i]!) / pct(x.base.latencies, 50))),
        total_time_ratio: median(ratios),
        ...roundMetrics,
        baseline_total_ms: median(perRound.map((x) => x.base.totalMs)),
        ours_total_ms: median(perRound.map((x) => x.ours.totalMs)),
        baseline_p50_ms: median(perRound.map((x) => pct(x.base.latencies, 50))),
        ours_p50_ms: median(perRound.map((x) => pct(x.ours.latencies, 50))),
        baseline_p99_ms: pct(all('base'), 99),
        ours_p99_ms: pct(all('ours'), 99),
        baseline_create_p50_ms: pct(timings.create, 50),
        baseline_start_p50_ms: pct(timings.start, 50),
        ...Object.fromEntries(Object.entries(stageValues).map(([k, v]) => [k, pct(v, 50)])),
        warmup_containers: warmN,
        cold_containers: coldN,
        cold_baseline_p50_ms: pct(baselineCold.latencies, 50),
        cold_ours_p50_ms: pct(oursCold.latencies, 50),
        cold_added_p50_ms: pct(oursCold.latencies, 50) - pct(baselineCold.latencies, 50),
        cold_total_time_ratio: oursCold.totalMs / baselineCold.totalMs,
        serial_containers: serialN,
        serial_baseline_p50_ms: pct(baselineSerial.latencies, 50),
        serial_ours_p50_ms: pct(oursSerial.latencies, 50),
        serial_added_p50_ms: pct(oursSerial.latencies, 50) - pct(baselineSerial.latencies, 50),
        baseline_cpu_busy_pct: median(busy.baseline.map((b) => b.pct)),
        ours_cpu_busy_pct: median(busy.ours.map((b) => b.pct)),
        baseline_cpu_steal_pct: median(busy.baseline.map((b) => b.stealPct)),
        ours_cpu_steal_pct: median(busy.ours.map((b) => b.stealPct)),
        // Every process on the machine (Docker's runc, shims and networking included), per container.
        baseline_machine_cpu_ms_per_container: busy.baseline.reduce((s, b) => s + b.busyMs, 0) / total,
        ours_machine_cpu_ms_per_container: busy.ours.reduce((s, b) => s + b.busyMs, 0) / total,
        // What the system adds: its processes, and the client and dockerd beyond the baseline's.
        added_cpu_ms_per_container:
          (systemProcs.reduce((s, k) => s + oursCpu[k]!, 0) + oursClientCpu + oursCpu['dockerd']! - baseClientCpu - baseCpu['dockerd']! - systemProcs.reduce((s, k) => s + baseCpu[k]!, 0)) / total,
        baseline_cpu_dockerd_ms_per_container: baseCpu['dockerd']! / total,
        baseline_cpu_client_ms_per_container: baseClientCpu / total,
        baseline_cpu_system_idle_ms_per_container: systemProcs.reduce((s, k) => s + baseCpu[k]!, 0) / total,
        ...Object.fromEntries(Object.entries(oursCpu).map(([k, v]) => [`cpu_${k}_ms_per_container`, v / total])),
        cpu_client_ms_per_container: oursClientCpu / total,
        ...Object.fromEntries(
          Object.entries(oursIo).flatMap(([k, io]) => [
            [`syscalls_read_${k}_per_container`, io.syscr / total],
            [`syscalls_write_${k}_per_container`, io.syscw / total],
          ]),
        ),
        nats_msgs_in_per_container: msgsIn / total,
        nats_msgs_out_per_container: msgsOut / total,
        ...Object.fromEntries(Object.entries(perConnection).map(([k, v]) => [k, v / total])),
      },
      targets: [
        { metric: 'total_time_ratio', op: '<=', value: 1.3 },
        { metric: 'added_p50_ms', op: '<=', value: 50 },
      ],
      notes:
        `layout: ${layout} (E2E_LAYOUT). ` +
        'baseline = dockerode create+start with the same image, command, Init, memory and CPU limits, on a user-defined bridge network like the project network the host actor attaches; ours = gateway POST ?run=true until ContainerStarted is on the stream. ' +
        `Measured in ${rounds} rounds (E2E_ROUNDS), each a baseline phase then an ours phase of ${n} containers, each phase's containers removed before the next (ours through the API); added_p50_ms and total_time_ratio are the medians of the rounds' values (round_*), added_p50_pct the median of the rounds' added p50 as a percentage of their baseline p50, added_p50_ci95_low/high_ms a 95 % bootstrap interval of added_p50_ms (rounds, and containers within them, drawn again 2,000 times; bench/stats.ts): how far the figure moves by chance between runs like this one, baseline/ours p50 and totals the medians of the rounds', p99 over all rounds. The system runs idle during the baseline phases (baseline_cpu_system_idle: its CPU then). ` +
        `Warm-up: each side first ran ${warmN} unmeasured containers the same way and removed them (E2E_WARMUP); cold_*: the first ${coldN} of them, a diagnostic of freshly started processes (V8 not yet tiered up), not a target. ` +
        'syscalls_read/write_*: read and write system calls per container of each process (/proc/<pid>/io: sockets, pipes and files alike). nats_msgs_*: messages into and out of nats-server per container (all connections, the subscription of this benchmark included); nats_msgs_<service>_sent/received: the same for the connection of one service. cpu_*: CPU time per container of each process during the measured phases (dockerd = dockerd + containerd; client = this benchmark process, which drives the load); *_cpu_busy_pct: the whole machine, all processes (other users included); *_cpu_steal_pct: time the hypervisor gave to other guests; *_machine_cpu_ms_per_container: the busy CPU time of the whole machine per container (steal excluded), Docker\'s runc, shims and networking included; added_cpu_ms_per_container: the CPU the system adds per container: its processes (less their idle CPU during the baseline phases), the client and dockerd beyond the baseline\'s. ' +
        'The services log to files (not through the benchmark process); the client speaks keep-alive HTTP with node:http in both phases. ' +
        'Where the time goes (diagnostics): baseline_create/start = the two Docker calls of the baseline; ours_stage_* = from the POST to its 202, from the POST to ContainerScheduled (gateway + placement), from ContainerScheduled to ContainerStarted (projector, host actor, Docker create and start, the look at the addresses that ContainerStarted records), each as this benchmark saw the events. ' +
        'serial_*: a diagnostic, not a target: the same, one container at a time, where nothing waits for the CPU, so the difference is the latency the system itself adds.',
    };
    failedRun = false;
    return result;
  } finally {
    agent.destroy();
    // The cleanup is bounded too: on a hung dockerd it reports what is left instead of waiting for ever
    // (the services and servers are stopped first; only the removal of what they made asks Docker).
    await dockerCall('stop the system and remove its containers', () => cluster.stop(), 300).catch((err: unknown) => progress(String(err)));
    if (failedRun) progress(`service logs kept in ${logDir}`);
    else rmSync(logDir, { recursive: true, force: true });
    try {
      await removeLabelled(docker, benchLabel);
      await removeLabelled(docker, 'zun.managed');
      // Right after its containers go, dockerd may still hold their endpoints ("active endpoints"): try again
      // briefly. Checked by looking, as a removal that succeeded once still left the network in place.
      for (let attempt = 0; ; attempt++) {
        const err = await dockerCall('remove the baseline network', () => network.remove().then(() => null, (e: unknown) => e));
        if (await dockerCall('inspect the baseline network', () => network.inspect().then(() => false, () => true))) break;
        if (attempt >= 20) {
          progress(`could not remove the baseline network ${benchLabel}: ${String(err ?? 'still there')}`);
          break;
        }
        await sleep(250);
      }
    } catch (err) {
      progress(`cleanup incomplete (containers labelled ${benchLabel} or zun.managed, network ${benchLabel} may be left): ${String(err)}`);
    }
  }
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Pids whose command starts with `name` (dockerd, containerd): read-only, for CPU accounting. */
function pidsOf(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv0 = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (argv0 === name || argv0.endsWith(`/${name}`)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** User + system CPU time of the processes, in ms (0 for those gone or unreadable). */
function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    const s = procStats(pid);
    return sum + (s ? s.userMs + s.sysMs : 0);
  }, 0);
}

/** Read and write system calls made so far by the processes (0 for those gone or unreadable). */
function ioOf(pids: readonly number[]): { syscr: number; syscw: number } {
  const all = pids.map(procStats);
  return { syscr: all.reduce((n, s) => n + (s?.syscr ?? 0), 0), syscw: all.reduce((n, s) => n + (s?.syscw ?? 0), 0) };
}

/** What busyMeter reports for a stretch of time. */
interface Busy {
  readonly pct: number;
  readonly busyMs: number;
  readonly stealPct: number;
}

/**
 * Starts measuring how busy all CPUs are. The returned function gives, since
 * then: the busy percentage (all CPUs, all processes: /proc/stat, idle and
 * iowait excluded), the busy CPU time in ms (steal excluded: time the
 * hypervisor gave to other guests is not work done here), and the steal
 * percentage.
 */
function busyMeter(): () => Busy {
  const msPerTick = 1000 / 100; // USER_HZ: 100 on Linux (getconf CLK_TCK)
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      return { idle: f[3]! + f[4]!, steal: f[7] ?? 0, total };
    } catch {
      return { idle: 0, steal: 0, total: 0 };
    }
  };
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    const idle = b.idle - a.idle;
    const steal = b.steal - a.steal;
    return total > 0
      ? { pct: 100 * (1 - idle / total), busyMs: (total - idle - steal) * msPerTick, stealPct: (100 * steal) / total }
      : { pct: NaN, busyMs: NaN, stealPct: NaN };
  };
}

/**
 * Removes the containers with `label`, one at a time, as the host actor
 * does: dockerd 20.10.24 can deadlock when containers on one network are
 * torn down together (services/host-actor/docker.ts, `removals`); it did
 * here, twice, with removals 8 at a time.
 */
async function removeLabelled(docker: Docker, label: string) {
  const list = await dockerCall(`list containers labelled ${label}`, () => docker.listContainers({ all: true, filters: { label: [label] } }));
  for (const c of list) await dockerCall(`remove ${c.Id.slice(0, 12)}`, () => docker.getContainer(c.Id).remove({ force: true }).catch(() => {}));
}

/**
 * A Docker call of the benchmark's own, given up after `withinS` (60 s): rather a clear
 * failure than a benchmark that waits for ever on a deadlocked dockerd
 * (README, "Not finished": dockerd 20.10.24 and moby/moby#46661).
 */
async function dockerCall<T>(what: string, call: () => Promise<T>, withinS = 60): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Docker did not answer "${what}" within ${withinS} s: is dockerd hung (moby/moby#46661)? Restart it: bash scripts/servers.sh stop dockerd; bash scripts/servers.sh start dockerd`)), withinS * 1000);
  });
  try {
    return await Promise.race([call(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
