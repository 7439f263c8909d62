/**
 * A diagnostic, not a benchmark with targets (`npm run bench -- census`; not
 * in the default set): what one container created with `run=true` costs the
 * system, counted rather than timed.
 *
 * It runs the system as the e2e benchmark does (CENSUS_LAYOUT: combined, the
 * default, or separate), warms it up with CENSUS_WARMUP containers (created,
 * then deleted), then creates CENSUS_CONTAINERS at concurrency 8 until each
 * is Running, and reports per container:
 * - every NATS message, by kind: a tap subscribed to `>` sees each publish
 *   once and each JetStream delivery once (`msgs_*`: event appends and their
 *   deliveries, KV writes and deliveries per bucket, direct gets, acks,
 *   replies);
 * - each connection's messages sent and received (`conn_*`);
 * - each process's user and system CPU, read and write system calls, and
 *   how often its main thread slept (`wakeups_*`: voluntary context
 *   switches) or was preempted (`preemptions_*`).
 * The tap itself adds deliveries to nats-server's work; its own connection
 * is left out of the counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { parseAggregateSubject } from '../events/index.js';
import { startCluster } from '../test/support/cluster.js';
import { envInt, post, procStats, request, runConcurrent, sleep } from './support.js';
import type { BenchResult, Progress } from './types.js';

const IMAGE = 'zun-base:latest';
const TAP = 'census-tap';

/** The class of a message as the tap saw it: what it is and whether it was published or delivered. */
export function messageClass(subject: string, reply: string | undefined): string {
  const t = subject.split('.');
  const delivered = reply?.startsWith('$JS.ACK.') ?? false;
  const how = delivered ? 'delivered' : 'published';
  if (t[0] === '_INBOX') return 'replies';
  if (t[0] === '$JS' && t[1] === 'ACK') return `acks_${t[3]}`;
  if (t[0] === '$JS' && t[1] === 'API' && t[2] === 'DIRECT' && t[3] === 'GET') return `direct_gets_${t[4]}`;
  if (t[0] === '$JS' && t[1] === 'API') return 'jetstream_api';
  if (t[0] === '$JS' && t[1] === 'FC') return 'flow_control';
  if (t[0] === '$KV') return `kv_${t[1]}_${how}`;
  if (t[0] === 'zun' && t[1] === 'evt') return `events_${t[2]}_${how}`;
  if (t[0] === '$JS' || t[0] === '$SYS') return 'system';
  return `other_${t[0]}`;
}

export async function benchCensus({ quick, progress }: { quick: boolean; progress: Progress }): Promise<BenchResult> {
  const n = envInt('CENSUS_CONTAINERS', quick ? 20 : 100, 1);
  const warmN = envInt('CENSUS_WARMUP', quick ? 20 : 100, 0);
  const concurrency = 8;
  const layoutEnv = process.env['CENSUS_LAYOUT'] ?? 'combined';
  if (layoutEnv !== 'combined' && layoutEnv !== 'separate') throw new Error(`CENSUS_LAYOUT must be combined or separate, not ${layoutEnv}`);
  progress(`starting the system, ${layoutEnv} layout`);
  const logDir = mkdtempSync(join(tmpdir(), 'zun-census-logs-'));
  const cluster = await startCluster({ hosts: ['census-host'], hostEnv: { HOST_CPUS: '64', HOST_MEMORY_MIB: '65536' }, logDir, layout: layoutEnv });
  let failed = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const headers = { 'Content-Type': 'application/json', 'OpenStack-API-Version': 'container 1.40' };
  try {
    await cluster.ready(['census-host']);
    const quota = await request(agent, 'PUT', `${cluster.gatewayUrl}/v1/quotas/default`, headers, JSON.stringify({ containers: -1, cpu: -1, memory: -1, disk: -1 }));
    if (quota.status !== 200) throw new Error(`quota update: ${quota.status} ${quota.body}`);
    const nc = await connect({ servers: cluster.natsUrl });
    const waiting = new Map<string, () => void>();
    const seen = new Set<string>();
    const key = (id: string, type: string) => `${type}:${id}`;
    nc.subscribe('zun.evt.container.*', {
      callback: (_err, msg) => {
        const type = msg.json<{ type: string }>().type;
        const k = key(parseAggregateSubject(msg.subject).id, type);
        const w = waiting.get(k);
        if (w) w();
        else seen.add(k);
      },
    });
    const until = (id: string, type: string) =>
      seen.delete(key(id, type))
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`${id}: no ${type} within 60 s`)), 60_000);
            waiting.set(key(id, type), () => {
              clearTimeout(t);
              waiting.delete(key(id, type));
              resolve();
            });
          });
    const create = async (prefix: string, count: number) => {
      const ids: string[] = [];
      await runConcurrent(count, concurrency, async (i) => {
        const res = await post(agent, `${cluster.gatewayUrl}/v1/containers?run=true`, headers, {
          name: `${prefix}-${i}`, image: IMAGE, command: ['sleep', '3600'], memory: 64, cpu: 0.1, image_pull_policy: 'ifnotpresent',
        });
        if (res.status !== 202) throw new Error(`create: ${res.status} ${res.body}`);
        const id = (JSON.parse(res.body) as { uuid: string }).uuid;
        ids.push(id);
        await until(id, 'ContainerStarted');
      });
      return ids;
    };
    const remove = async (ids: readonly string[]) => {
      await runConcurrent(ids.length, concurrency, async (i) => {
        const res = await request(agent, 'DELETE', `${cluster.gatewayUrl}/v1/containers/${ids[i]}?force=True`, headers);
        if (res.status !== 204) throw new Error(`delete: ${res.status} ${res.body}`);
        await until(ids[i]!, 'ContainerDeleted');
      });
      await sleep(3_000); // what follows the deletes (network collection) settles
    };

    progress(`warm-up: ${warmN} containers created, then deleted`);
    await remove(await create('census-warm', warmN));

    const tap = await connect({ servers: cluster.natsUrl, name: TAP });
    const counts = new Map<string, number>();
    tap.subscribe('>', {
      callback: (_err, msg) => {
        const k = messageClass(msg.subject, msg.reply);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      },
    });
    await tap.flush();
    const mon = `http://127.0.0.1:${cluster.nats.monitorPort}`;
    type Conn = { cid: number; name?: string; in_msgs: number; out_msgs: number };
    const connz = async () => ((await (await fetch(`${mon}/connz?limit=1000`)).json()) as { connections: Conn[] }).connections;
    const pids: Record<string, number> = cluster.nats.pid ? { nats: cluster.nats.pid } : {};
    for (const [name, svc] of cluster.services) if (svc.pid) pids[name.split(':')[0]!.replace('-', '_')] = svc.pid;
    const stats = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procStats(pid)]));

    progress(`measured: ${n} containers, POST ?run=true at concurrency ${concurrency}, until ContainerStarted`);
    const conns0 = await connz();
    const s0 = stats();
    const ids = await create('census', n);
    const s1 = stats();
    const conns1 = await connz();
    await tap.close();

    const metrics: Record<string, number> = { containers: n, concurrency, warmup_containers: warmN };
    for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) metrics[`msgs_${k}_per_container`] = v / n;
    for (const c of conns1) {
      if (!c.name || c.name === TAP) continue; // the tap and the waiters' connection
      const b = conns0.find((x) => x.cid === c.cid);
      const name = c.name.split(':')[0]!.replace('-', '_');
      metrics[`conn_${name}_sent_per_container`] = (c.in_msgs - (b?.in_msgs ?? 0)) / n;
      metrics[`conn_${name}_received_per_container`] = (c.out_msgs - (b?.out_msgs ?? 0)) / n;
    }
    for (const k of Object.keys(pids)) {
      const a = s0[k];
      const b = s1[k];
      if (!a || !b) continue;
      metrics[`cpu_user_ms_${k}_per_container`] = (b.userMs - a.userMs) / n;
      metrics[`cpu_sys_ms_${k}_per_container`] = (b.sysMs - a.sysMs) / n;
      metrics[`syscalls_read_${k}_per_container`] = (b.syscr - a.syscr) / n;
      metrics[`syscalls_write_${k}_per_container`] = (b.syscw - a.syscw) / n;
      if (k === 'nats') continue; // Go's main thread is not where nats-server works
      metrics[`wakeups_${k}_per_container`] = (b.wakeups - a.wakeups) / n;
      metrics[`preemptions_${k}_per_container`] = (b.preemptions - a.preemptions) / n;
    }
    progress('removing the measured containers');
    await remove(ids);
    await nc.close();
    failed = false;
    return {
      name: 'census',
      metrics,
      notes:
        `layout: ${layoutEnv} (CENSUS_LAYOUT); ${warmN} containers of warm-up (CENSUS_WARMUP), then ${n} measured (CENSUS_CONTAINERS). ` +
        'msgs_*: NATS messages per container as a tap on `>` saw them (events_<kind>_published: appends; _delivered: JetStream deliveries of them; kv_<bucket>_*: the same for read-model writes; direct_gets_<stream>; acks_<consumer>; replies: answers to requests, acks of appends included). ' +
        'conn_<service>_sent/received: messages of one connection. cpu_user/sys_ms_<process>, syscalls_*: per container, from /proc. ' +
        "wakeups_<process> (Node services): how often the process's main thread went to sleep and was woken (voluntary context switches); preemptions_<process>: how often it was descheduled while runnable (involuntary). The tap's deliveries add to nats-server's work.",
    };
  } finally {
    await cluster.stop();
    // The services' logs are kept for a failed run only.
    if (failed) progress(`service logs kept in ${logDir}`);
    else rmSync(logDir, { recursive: true, force: true });
  }
}
