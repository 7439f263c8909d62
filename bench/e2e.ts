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
 * Diagnostics (not part of the targets): how busy the machine's CPUs were
 * during each phase (/proc/stat), and the CPU time per container of each of
 * the system's processes and of dockerd+containerd (/proc/<pid>/stat), read
 * around the measured phases. On this 2-core machine both phases are
 * CPU-bound, so every CPU millisecond the system spends per container shows
 * up about concurrency/cores times in the latency.
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
import type { BenchResult, Progress } from './types.js';

const IMAGE = 'zun-base:latest';

export async function benchEndToEnd({ quick, progress }: { quick: boolean; progress: Progress }): Promise<BenchResult> {
  const n = quick ? 20 : 100;
  const concurrency = 8;
  const serialN = quick ? 5 : 20;
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
  progress(`baseline: ${n} x dockerode create+start at concurrency ${concurrency}`);
  const dockerPids = [...pidsOf('dockerd'), ...pidsOf('containerd')];
  const baseCpu0 = cpuOf(dockerPids);
  const baseClient0 = process.cpuUsage();
  const baseBusy = busyMeter();
  // Where the time goes (diagnostic): each measured container's create and start calls.
  const baseCreate: number[] = [];
  const baseStart: number[] = [];
  const rawCreateStart = async (i: number) => {
    const t0 = performance.now();
    const c = await docker.createContainer({
      Image: IMAGE,
      Cmd: ['sleep', '3600'],
      Labels: { [benchLabel]: 'baseline', 'zun.bench': String(i) },
      HostConfig: { Init: true, Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, NanoCpus: 0.1e9, NetworkMode: benchLabel },
    });
    const t1 = performance.now();
    await c.start();
    if (i < n) {
      baseCreate.push(t1 - t0);
      baseStart.push(performance.now() - t1);
    }
  };
  const baseline = await runConcurrent(n, concurrency, rawCreateStart);
  const baselineBusy = baseBusy();
  const baselineClientCpu = cpuMs(process.cpuUsage(baseClient0)) / n;
  const baselineDockerCpu = (cpuOf(dockerPids) - baseCpu0) / n;
  // Diagnostic: one at a time, where nothing queues for the CPU.
  progress(`baseline, serial: ${serialN} x dockerode create+start at concurrency 1`);
  const baselineSerial = await runConcurrent(serialN, 1, (i) => rawCreateStart(n + i));
  await removeLabelled(docker, benchLabel);
  // Right after its containers go, dockerd may still hold their endpoints ("active endpoints"): try again briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await network.remove();
      break;
    } catch (err) {
      if (attempt >= 20) {
        progress(`could not remove the baseline network ${benchLabel}: ${String(err)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  // E2E_LAYOUT=combined: gateway, projector and placement in one process (services/control-plane).
  const layout = process.env['E2E_LAYOUT'] === 'combined' ? 'combined' : 'separate';
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
        if (body.type !== 'ContainerStarted') return;
        const waiter = started.get(id);
        if (waiter) waiter();
        else early.add(id);
      },
    });
    const headers = { 'Content-Type': 'application/json', 'OpenStack-API-Version': 'container 1.40' };
    // Zun's default quota is 40 containers per project: lift it for the benchmark's project.
    const quota = await fetch(`${cluster.gatewayUrl}/v1/quotas/default`, {
      method: 'PUT', headers, body: JSON.stringify({ containers: -1, cpu: -1, memory: -1, disk: -1 }),
    });
    if (!quota.ok) throw new Error(`quota update: ${quota.status} ${await quota.text()}`);
    // Warm-up: one container, not measured (first-request JIT, image cache).
    await createAndWait(cluster.gatewayUrl, headers, started, early, failed, 'warmup');

    progress(`ours: ${n} x POST /v1/containers?run=true at concurrency ${concurrency}, until ContainerStarted`);
    const procs: Record<string, number[]> = { dockerd: dockerPids, nats: cluster.nats.pid ? [cluster.nats.pid] : [] };
    for (const [name, svc] of cluster.services) if (svc.pid) procs[name.split(':')[0]!.replace('-', '_')] = [svc.pid];
    const cpu0 = Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, cpuOf(pids)]));
    const io0 = Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, ioOf(pids)]));
    const varz = async () => (await (await fetch(`http://127.0.0.1:${cluster.nats.monitorPort}/varz`)).json()) as { in_msgs: number; out_msgs: number };
    // Per connection (each service names its own): messages it sent to and received from nats-server.
    type Conn = { cid: number; name?: string; in_msgs: number; out_msgs: number };
    const connz = async () => ((await (await fetch(`http://127.0.0.1:${cluster.nats.monitorPort}/connz?limit=1000`)).json()) as { connections: Conn[] }).connections;
    const msgs0 = await varz();
    const conns0 = await connz();
    const client0 = process.cpuUsage();
    const oursBusy = busyMeter();
    seenAt.clear(); // the warm-up
    const ours = await runConcurrent(n, concurrency, (i) => createAndWait(cluster.gatewayUrl, headers, started, early, failed, `bench-${i}`));
    const measured = [...seenAt.values()].filter((m) => m['sent'] !== undefined);
    const stage = (from: string, to: string) => pct(measured.flatMap((m) => (m[from] !== undefined && m[to] !== undefined ? [m[to]! - m[from]!] : [])), 50);
    const stages = {
      ours_stage_post_to_202_p50_ms: stage('sent', 'accepted'),
      ours_stage_to_scheduled_p50_ms: stage('sent', 'ContainerScheduled'),
      ours_stage_scheduled_to_created_p50_ms: stage('ContainerScheduled', 'ContainerCreated'),
      ours_stage_created_to_started_p50_ms: stage('ContainerCreated', 'ContainerStarted'),
    };
    const oursBusyPct = oursBusy();
    const clientCpu = cpuMs(process.cpuUsage(client0)) / n;
    // CPU per container: the measured phase, not what follows it (the last passes' network records, the next resync).
    const cpu = Object.fromEntries(Object.entries(procs).map(([k, pids]) => [`cpu_${k}_ms_per_container`, (cpuOf(pids) - cpu0[k]!) / n]));
    const syscalls = Object.fromEntries(
      Object.entries(procs).flatMap(([k, pids]) => {
        const io = ioOf(pids);
        return [
          [`syscalls_read_${k}_per_container`, (io.syscr - io0[k]!.syscr) / n],
          [`syscalls_write_${k}_per_container`, (io.syscw - io0[k]!.syscw) / n],
        ];
      }),
    );
    const msgs1 = await varz();
    const perConnection: Record<string, number> = {};
    for (const c of await connz()) {
      if (!c.name) continue; // this benchmark's own connection
      const b = conns0.find((x) => x.cid === c.cid);
      const key = c.name.split(':')[0]!.replace('-', '_');
      perConnection[`nats_msgs_${key}_sent_per_container`] = (c.in_msgs - (b?.in_msgs ?? 0)) / n;
      perConnection[`nats_msgs_${key}_received_per_container`] = (c.out_msgs - (b?.out_msgs ?? 0)) / n;
    }
    progress(`ours, serial: ${serialN} x POST /v1/containers?run=true at concurrency 1`);
    const oursSerial = await runConcurrent(serialN, 1, (i) => createAndWait(cluster.gatewayUrl, headers, started, early, failed, `bench-serial-${i}`));
    sub.unsubscribe();
    await nc.close();

    const ratio = ours.totalMs / baseline.totalMs;
    const added = pct(ours.latencies, 50) - pct(baseline.latencies, 50);
    return {
      name: 'e2e',
      metrics: {
        containers: n,
        concurrency,
        baseline_total_ms: baseline.totalMs,
        baseline_p50_ms: pct(baseline.latencies, 50),
        baseline_p99_ms: pct(baseline.latencies, 99),
        ours_total_ms: ours.totalMs,
        ours_p50_ms: pct(ours.latencies, 50),
        ours_p99_ms: pct(ours.latencies, 99),
        total_time_ratio: ratio,
        added_p50_ms: added,
        baseline_create_p50_ms: pct(baseCreate, 50),
        baseline_start_p50_ms: pct(baseStart, 50),
        ...stages,
        serial_containers: serialN,
        serial_baseline_p50_ms: pct(baselineSerial.latencies, 50),
        serial_ours_p50_ms: pct(oursSerial.latencies, 50),
        serial_added_p50_ms: pct(oursSerial.latencies, 50) - pct(baselineSerial.latencies, 50),
        baseline_cpu_busy_pct: baselineBusy,
        ours_cpu_busy_pct: oursBusyPct,
        baseline_cpu_dockerd_ms_per_container: baselineDockerCpu,
        baseline_cpu_client_ms_per_container: baselineClientCpu,
        ...cpu,
        cpu_client_ms_per_container: clientCpu,
        ...syscalls,
        nats_msgs_in_per_container: (msgs1.in_msgs - msgs0.in_msgs) / n,
        nats_msgs_out_per_container: (msgs1.out_msgs - msgs0.out_msgs) / n,
        ...perConnection,
      },
      targets: [
        { metric: 'total_time_ratio', op: '<=', value: 1.3 },
        { metric: 'added_p50_ms', op: '<=', value: 50 },
      ],
      notes:
        `layout: ${layout} (E2E_LAYOUT). ` +
        'baseline = dockerode create+start with the same image, command, Init, memory and CPU limits, on a user-defined bridge network like the project network the host actor attaches; ours = gateway POST ?run=true until ContainerStarted is on the stream. ' +
        'syscalls_read/write_*: read and write system calls per container of each process (/proc/<pid>/io: sockets, pipes and files alike). nats_msgs_*: messages into and out of nats-server per container (all connections, the subscription of this benchmark included); nats_msgs_<service>_sent/received: the same for the connection of one service. cpu_*: CPU time per container of each process during the measured phase (dockerd = dockerd + containerd; client = this benchmark process, which drives the load); *_cpu_busy_pct: the whole machine, all processes (other users included). ' +
        'The services log to files (not through the benchmark process); the client speaks keep-alive HTTP with node:http in both phases. ' +
        'Where the time goes (diagnostics): baseline_create/start = the two Docker calls of the baseline; ours_stage_* = from the POST to its 202, from the POST to ContainerScheduled (gateway + placement), from ContainerScheduled to ContainerCreated (projector, host actor, Docker create), from ContainerCreated to ContainerStarted (mostly Docker start), each as this benchmark saw the events. ' +
        'serial_*: a diagnostic, not a target: the same, one container at a time, where nothing waits for the CPU, so the difference is the latency the system itself adds.',
    };
    failedRun = false;
  } finally {
    agent.destroy();
    await cluster.stop();
    if (failedRun) progress(`service logs kept in ${logDir}`);
    else rmSync(logDir, { recursive: true, force: true });
    await removeLabelled(docker, 'zun.managed');
  }

  async function createAndWait(
    url: string,
    headers: Record<string, string>,
    started: Map<string, () => void>,
    early: Set<string>,
    failed: Map<string, string>,
    name: string,
  ) {
    const sentAt = performance.now();
    const res = await post(agent, `${url}/v1/containers?run=true`, headers, {
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
  }
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** One JSON POST over a keep-alive agent. */
function post(agent: http.Agent, url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function runConcurrent(n: number, concurrency: number, job: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await job(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { latencies, totalMs: performance.now() - t0 };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

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
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Read and write system calls made so far by the processes (/proc/<pid>/io; 0 for those gone or unreadable). */
function ioOf(pids: readonly number[]): { syscr: number; syscw: number } {
  let syscr = 0;
  let syscw = 0;
  for (const pid of pids) {
    try {
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      syscr += Number(/^syscr: (\d+)$/m.exec(io)?.[1] ?? 0);
      syscw += Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { syscr, syscw };
}

/** Starts measuring how busy all CPUs are; the returned function gives the busy percentage since. */
function busyMeter(): () => number {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return { idle: 0, total: 0 };
    }
  };
  const a = read();
  return () => {
    const b = read();
    return b.total > a.total ? 100 * (1 - (b.idle - a.idle) / (b.total - a.total)) : NaN;
  };
}

async function removeLabelled(docker: Docker, label: string) {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
}
