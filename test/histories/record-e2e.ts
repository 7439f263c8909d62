/**
 * Records a history from a run of the whole system on real Docker:
 *
 *   node --import tsx test/histories/record-e2e.ts
 *
 * It starts the real services (test/support/cluster.ts: gateway, projector,
 * placement, two host actors) on their own nats-server and etcd, drives the
 * Zun API as a user would (run, stop, start, pause, unpause, reboot, kill,
 * PATCH, a `docker stop` behind the system's back, a request no host can
 * take, delete), takes checkpoints (the states loaded while the system was
 * quiet), then exports the stream with the real exporter to
 * `e2e-docker.jsonl` and writes `e2e-docker.expected.json` beside it.
 * Unlike record.ts, ids and times are the real ones, so re-recording gives a
 * different (equally valid) history.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { connect } from '@nats-io/transport-node';
import type { RecordedEvent } from '../../events/index.js';
import { foldHistory } from '../../domain/history.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { loadContainer } from '../../services/platform/commands.js';
import { exportEvents, parseExport } from '../../services/zunctl/eventlog.js';
import { startCluster, waitFor } from '../support/cluster.js';
import { readFileSync } from 'node:fs';

const DIR = import.meta.dirname;
const NAME = 'e2e-docker';
const H = { 'Content-Type': 'application/json', Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };

const cluster = await startCluster({ hosts: ['rec-host-a', 'rec-host-b'], hostEnv: { HOST_CPUS: '4', HOST_MEMORY_MIB: '4096' } });
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
try {
  await cluster.ready();
  const nc = await connect({ servers: cluster.natsUrl });
  const store = createJetStreamEventStore({ nc });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${cluster.gatewayUrl}${path}`, { method, headers: H, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const status = async (uuid: string) => (await api('GET', `/v1/containers/${uuid}`)).body?.status as string | undefined;
  const until = (uuid: string, want: string) => waitFor(`${uuid} ${want}`, async () => (await status(uuid)) === want, 60_000, 100);
  const run = async (name: string, extra: Record<string, unknown> = {}) => {
    const r = await api('POST', '/v1/containers?run=true', { name, image: 'zun-base:latest', command: ['sleep', '3600'], cpu: 0.5, memory: '64', ...extra });
    if (r.status !== 202) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.uuid as string;
  };
  const ids: string[] = [];
  const checkpoints: { at: string; containers: Record<string, unknown>; capsules: Record<string, unknown> }[] = [];
  const checkpoint = async () => {
    await new Promise((r) => setTimeout(r, 300)); // quiet: nothing in flight
    const at = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    const containers: Record<string, unknown> = {};
    for (const id of ids) containers[id] = await loadContainer(store, id);
    checkpoints.push({ at, containers, capsules: {} });
  };

  const web = await run('web');
  ids.push(web);
  await until(web, 'Running');
  await checkpoint();
  const db = await run('db', { environment: { ROLE: 'db' } });
  ids.push(db);
  await until(db, 'Running');
  for (const [action, want] of [['stop?timeout=1', 'Stopped'], ['start', 'Running'], ['pause', 'Paused'], ['unpause', 'Running'], ['reboot?timeout=1', 'Running']] as const) {
    await api('POST', `/v1/containers/${web}/${action}`);
    await until(web, want);
  }
  await checkpoint();
  await api('PATCH', `/v1/containers/${db}`, { memory: '96', name: 'db2' });
  const [inDocker] = await docker.listContainers({ filters: { label: [`zun.container.uuid=${db}`] } });
  await docker.getContainer(inDocker!.Id).stop({ t: 1 }); // behind the system's back
  await until(db, 'Stopped');
  await checkpoint();
  const huge = await run('huge', { cpu: 16 });
  ids.push(huge);
  await until(huge, 'Error');
  await api('POST', `/v1/containers/${web}/kill?signal=SIGKILL`);
  await until(web, 'Stopped');
  await checkpoint();
  for (const id of ids) await api('DELETE', `/v1/containers/${id}?force=true`);
  await waitFor('all deleted', async () => (await Promise.all(ids.map(status))).every((s) => s === undefined), 60_000, 200);
  await new Promise((r) => setTimeout(r, 1500)); // claims released
  await checkpoint();

  const out = createWriteStream(join(DIR, `${NAME}.jsonl`));
  const exported = await exportEvents({ nc, out });
  await new Promise<void>((r) => out.end(() => r()));
  const events = parseExport(readFileSync(join(DIR, `${NAME}.jsonl`), 'utf8')) as RecordedEvent[];
  const f = foldHistory(events, { verify: true });
  if (f.violations.length) throw new Error(`violations: ${JSON.stringify(f.violations)}`);
  const expected = {
    comment: `Recorded by test/histories/record-e2e.ts from a run of the whole system on real Docker (two host actors); checkpoints are the states loaded while the system was quiet.`,
    events: exported.events,
    lastSeq: exported.lastSeq,
    containers: Object.fromEntries(f.containers),
    capsules: Object.fromEntries(f.capsules),
    ledgers: Object.fromEntries(
      [...f.ledgers].map(([domain, l]) => [domain, { seq: l.seq, claims: [...l.claims.values()].sort((a, b) => a.id.localeCompare(b.id)) }]),
    ),
    checkpoints,
  };
  await writeFile(join(DIR, `${NAME}.expected.json`), JSON.stringify(expected, null, 1) + '\n');
  process.stdout.write(`recorded ${exported.events} events to ${NAME}.jsonl\n`);
  await nc.close();
} finally {
  await cluster.stop();
}
process.exit(0);
