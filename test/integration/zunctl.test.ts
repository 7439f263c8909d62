/**
 * zunctl end to end: the real CLI (spawned as `node --import tsx
 * services/zunctl/main.ts`, --json output parsed) against a test nats-server
 * holding a history made through the real command path, the projector's real
 * read models, and real Docker containers for `diff`.
 *
 * "The state at a past time equals what was reported at that time": at each
 * checkpoint of the scenario the test records (1) loadContainer's state and
 * (2) what the gateway's API answers for GET /v1/containers/<uuid>. The
 * gateway here is buildApp (its real routes and views) over the folding read
 * model of the same JetStream stream, not the KV read model, so the answer
 * has no projector lag to wait out.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { envelope, type EventEnvelope, type RecordedEvent } from '../../events/index.js';
import type { ContainerState } from '../../domain/container.js';
import { connectNats, type NatsConnection } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createJetStreamEventStore, readAll, type JetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { executeContainerCommand, loadContainer } from '../../services/platform/commands.js';
import { CONTAINERS_BUCKET, readModelKey } from '../../services/platform/readmodels.js';
import { createLogger } from '../../services/platform/log.js';
import { createProjector, type Projector } from '../../services/projector/projector.js';
import type { AggregateSummary, ClusterView } from '../../services/zunctl/state.js';
import type { AggregateReplay, HistorySummary } from '../../services/zunctl/replay.js';
import type { DiffReport } from '../../services/zunctl/diff.js';
import { host, multiHost, type ScenarioRun } from '../histories/scenarios.js';
import { Etcd3 } from 'etcd3';
import { hostRegistryKey } from '../../domain/host.js';
import { specOf } from '../support/container-gen.js';
import { waitFor } from '../support/cluster.js';
import { dockerAvailable, startEtcd, startNats, startServers, type NatsServer } from '../support/servers.js';

const REPO = join(import.meta.dirname, '..', '..');
const RUN = randomUUID().slice(0, 8);
const HOSTS = [`zt-${RUN}-1`, `zt-${RUN}-2`] as const;

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function zunctl(args: string[], env: Record<string, string> = {}): Promise<Cli> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'services/zunctl/main.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, ETCD_ENDPOINTS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

type ApiView = { status: string; task_state: string | null; host: string | null; status_reason: string | null } | 404;

describe('zunctl end to end', () => {
  let nats: NatsServer;
  let other: NatsServer;
  let nc: NatsConnection;
  let store: JetStreamEventStore;
  let run: ScenarioRun;
  let tmp: string;
  const api = new Map<string, Map<string, ApiView>>(); // checkpoint time -> uuid -> what GET answered
  let gatewayError: Error | undefined;
  const cli = (args: string[]) => zunctl(['--nats', nats.url, ...args]);

  beforeAll(async () => {
    [nats, other] = await startServers<[NatsServer, NatsServer]>(startNats(), startNats());
    nc = await connectNats({ servers: nats.url, name: 'zunctl-test' });
    await ensureStream(await jetstreamManager(nc));
    store = createJetStreamEventStore({ nc });
    tmp = mkdtempSync(join(tmpdir(), 'zunctl-it-'));
    // Loaded dynamically so that a gateway being rebuilt fails only the API comparison below.
    const app = await import('../../services/gateway/app.js')
      .then(async ({ buildApp }) => {
        const { createFoldingReadModel } = await import('../../services/gateway/readmodel.js');
        const { headerAuth } = await import('../../services/gateway/auth.js');
        return buildApp({
          auth: headerAuth({ defaultProjectId: 'admin-project', defaultUserId: 'admin', defaultRoles: ['admin'] }),
          store,
          readModel: createFoldingReadModel({ readAll: (o) => readAll({ nc, ...o }) }),
          log: pino({ level: 'silent' }),
          clock: () => new Date(),
          newId: randomUUID,
          baseUrl: 'http://zun.test',
        });
      })
      .catch((e: unknown) => {
        gatewayError = e as Error;
        return undefined;
      });
    run = await multiHost(store, {
      hosts: HOSTS,
      onCheckpoint: async (at, containers) => {
        if (!app) return;
        const seen = new Map<string, ApiView>();
        for (const id of containers) {
          const r = await app.inject({ method: 'GET', url: `/v1/containers/${id}`, headers: { 'openstack-api-version': 'container 1.40' } });
          seen.set(id, r.statusCode === 404 ? 404 : (r.json() as Exclude<ApiView, 404>));
        }
        api.set(at, seen);
      },
    });
    await app?.close();
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.stop(), other?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('events <id>: the raw events of a container, and of a capsule', async () => {
    const id = run.containers[0]!;
    const r = await cli(['events', id, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.kind).toBe('container');
    expect(r.json.events).toEqual(JSON.parse(JSON.stringify(await store.load('container', id))));
    const pod = await cli(['events', run.capsules[0]!, '--json']);
    expect(pod.json.kind).toBe('capsule');
    expect(pod.json.events.map((e: RecordedEvent) => e.type)).toContain('CapsuleSandboxCreated');
  });

  it('replay <id> --verify: the state after each event; the final one is what loadContainer gives', async () => {
    const id = run.containers[3]!;
    const r = await cli(['replay', id, '--verify', '--json']);
    expect(r.code).toBe(0);
    const rep = r.json as AggregateReplay;
    expect(rep.violations).toEqual([]);
    expect(rep.steps.map((s) => s.status)).toEqual(['Creating', 'Creating', 'Created', 'Running', 'Restarting', 'Running']);
    expect(rep.final).toEqual(await loadContainer(store, id));
  });

  /** `state --at` for every checkpoint, as id -> summary. */
  const statesAt = new Map<string, Map<string, AggregateSummary>>();
  async function stateAt(at: string): Promise<Map<string, AggregateSummary>> {
    const hit = statesAt.get(at);
    if (hit) return hit;
    const r = await cli(['state', '--at', at, '--include-deleted', '--json']);
    expect(r.code).toBe(0);
    const view = r.json as ClusterView;
    expect(view.at).toBe(at);
    const shown = new Map<string, AggregateSummary>([...view.hosts.flatMap((h) => [...h.containers, ...h.capsules]), ...view.unplaced].map((a) => [a.id, a]));
    statesAt.set(at, shown);
    return shown;
  }

  it('the state replayed at each past time equals the state loaded (loadContainer) at that time', async () => {
    expect(run.checkpoints.length).toBe(5);
    for (const [i, cp] of run.checkpoints.entries()) {
      const shown = await stateAt(cp.at);
      for (const [id, loaded] of Object.entries(cp.containers)) {
        const s = shown.get(id)!;
        expect({ status: s.status, taskState: s.taskState, host: s.host, seq: s.seq, statusReason: s.statusReason }, `${id} at ${cp.at}`).toEqual({
          status: loaded.status, taskState: loaded.taskState, host: loaded.host, seq: loaded.seq, statusReason: loaded.statusReason,
        });
      }
      for (const [id, loaded] of Object.entries(cp.capsules)) expect(shown.get(id)?.status).toBe(loaded.status);
      // And one container's full state through `replay --at`.
      const id = run.containers[i]!;
      const one = await cli(['replay', id, '--at', cp.at, '--json']);
      expect((one.json as AggregateReplay).final).toEqual(cp.containers[id]);
    }
  });

  it('the state replayed at each past time equals what the API (GET /v1/containers/<uuid>) reported at that time', async () => {
    if (gatewayError) throw new Error(`the gateway could not be loaded, so the API side was not checked: ${gatewayError.message}`);
    expect(api.size).toBe(run.checkpoints.length);
    for (const cp of run.checkpoints) {
      const shown = await stateAt(cp.at);
      const reported = api.get(cp.at)!;
      expect(reported.size).toBe(Object.keys(cp.containers).length);
      for (const id of Object.keys(cp.containers)) {
        const s = shown.get(id)!;
        const a = reported.get(id)!;
        if (s.status === 'Deleted') expect(a, `${id} at ${cp.at}`).toBe(404);
        else {
          expect(a).not.toBe(404);
          const v = a as Exclude<ApiView, 404>;
          expect({ status: v.status, task_state: v.task_state, host: v.host, status_reason: v.status_reason }, `${id} at ${cp.at}`).toEqual({
            status: s.status, task_state: s.taskState, host: s.host, status_reason: s.statusReason,
          });
        }
      }
    }
  });

  it('replay --all --verify: counts, no violations, throughput; an illegal event makes it fail and is named', async () => {
    const last = (await (await jetstreamManager(nc)).streams.info('ZUN_EVENTS')).state.last_seq;
    const r = await cli(['replay', '--all', '--verify', '--json']);
    expect(r.code).toBe(0);
    const s = r.json as HistorySummary;
    expect(s).toMatchObject({ lastSeq: last, events: last, verified: true, violations: [], aggregates: { containers: 6, capsules: 1, ledgers: 1 } });
    expect(s.containerStatuses).toEqual({ Deleted: 1, Paused: 1, Running: 3, Stopped: 1 });
    expect(s.eventsPerSecond).toBeGreaterThan(0);

    // A writer bypassing the decider: PauseRequested on a container still Creating.
    const bad = randomUUID();
    const deps = { store, newId: randomUUID, now: () => new Date() };
    await executeContainerCommand(deps, bad, { type: 'CreateContainer', spec: specOf(), run: true }, { projectId: 'p', userId: 'u', requestId: 'req-bad' });
    const e = envelope({ type: 'ContainerPauseRequested', data: {} }, { id: randomUUID(), aggregateKind: 'container', aggregateId: bad }, {
      projectId: 'p', userId: 'mallory', requestId: 'req-evil', correlationId: 'req-evil', causationId: null, occurredAt: new Date().toISOString(),
    }) as EventEnvelope;
    const { seqs } = await store.append('container', bad, [e], await store.lastSeq('container', bad), 'evil');
    const one = await cli(['replay', bad, '--verify', '--json']);
    expect(one.code).toBe(1);
    expect((one.json as AggregateReplay).violations).toEqual([expect.objectContaining({ seq: seqs[0], type: 'ContainerPauseRequested', from: 'Creating' })]);
    const all = await cli(['replay', '--all', '--verify']);
    expect(all.code).toBe(1);
    expect(all.stdout).toMatch(new RegExp(`ILLEGAL TRANSITIONS: 1\\n[\\s\\S]*${seqs[0]}\\s+container\\s+${bad}\\s+ContainerPauseRequested\\s+Creating`));
  });

  it('export, then import into a fresh stream: the same history; a non-empty stream is refused', async () => {
    const file = join(tmp, 'history.jsonl');
    const ex = await cli(['export', '--out', file, '--json']);
    expect(ex.code).toBe(0);
    const original: RecordedEvent[] = [];
    for await (const e of readAll({ nc })) original.push(e);
    expect(ex.json).toMatchObject({ events: original.length, firstSeq: 1, lastSeq: original.length });
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual(JSON.parse(JSON.stringify(original)));

    const into = (args: string[]) => zunctl(['--nats', other.url, ...args]);
    const im = await into(['import', file, '--json']);
    expect(im.code).toBe(0);
    expect(im.json).toEqual({ events: original.length, firstSeq: 1, lastSeq: original.length, stream: 'ZUN_EVENTS' });
    const [a, b] = await Promise.all([cli(['replay', '--all', '--json']), into(['replay', '--all', '--json'])]);
    expect({ ...b.json, elapsedMs: 0, eventsPerSecond: 0 }).toEqual({ ...a.json, elapsedMs: 0, eventsPerSecond: 0 });
    const id = run.containers[1]!;
    expect((await into(['events', id, '--json'])).json).toEqual((await cli(['events', id, '--json'])).json);

    const again = await into(['import', file, '--json']);
    expect(again.code).toBe(1);
    expect(again.json.error.code).toBe('STREAM_NOT_EMPTY');
    const forced = await into(['import', file, '--force', '--json']);
    expect(forced.code).toBe(1);
    expect(forced.json.error).toMatchObject({ code: 'IMPORT_DUPLICATE' });
    expect(forced.json.error.message).toMatch(/^line 1: event \S+ is already in stream ZUN_EVENTS \(seq 1\)/);

    const pods = await cli(['export', '--filter', 'zun.evt.capsule.>']);
    expect(pods.code).toBe(0);
    const lines = pods.stdout.trim().split('\n').map((l) => JSON.parse(l) as RecordedEvent);
    expect(lines.map((l) => l.aggregateKind)).toEqual(Array(lines.length).fill('capsule'));
    expect(lines).toHaveLength(original.filter((e) => e.aggregateKind === 'capsule').length);
  });

  it('state --etcd: hosts from the registry beside the log (registered or not)', async () => {
    const etcd = await startEtcd();
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.put(hostRegistryKey(HOSTS[0])).value(JSON.stringify(host(HOSTS[0], 8, 16384)));
      const r = await cli(['state', '--etcd', etcd.endpoint, '--json']);
      expect(r.code).toBe(0);
      const view = r.json as ClusterView;
      const byName = new Map(view.hosts.map((h) => [h.host, h]));
      expect(byName.get(HOSTS[0])!.registry).toEqual({ capacity: { cpus: 8, memoryMiB: 16384, diskGb: 50 }, disabled: false, availabilityZone: 'nova' });
      expect(byName.get(HOSTS[1])!.registry).toBeNull(); // in the log, not in the registry: its lease is gone
      expect(byName.get(HOSTS[0])!.claimed.count).toBeGreaterThan(0);
      const down = await cli(['state', '--etcd', 'http://127.0.0.1:1', '--json']);
      expect(down.code).toBe(0); // the registry is optional: a warning, and the log alone
      expect(down.stderr).toMatch(/warning: cannot read the host registry/);
    } finally {
      client.close();
      await etcd.stop();
    }
  });

  it('usage errors exit 2, failures exit 1 with a JSON error', async () => {
    for (const args of [['replay'], ['replay', 'x', '--to-seq', '1', '--at=-1m'], ['frobnicate'], ['events', 'a', 'b'], ['state', '--bogus'], ['audit']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^zunctl: usage error: /);
    }
    const missing = await cli(['events', randomUUID(), '--json']);
    expect(missing.code).toBe(1);
    expect(missing.json.error.code).toBe('NOT_FOUND');
    const down = await zunctl(['events', 'x', '--json', '--nats', 'nats://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.json.error.code).toBe('NATS_UNAVAILABLE');
    const help = await zunctl(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: zunctl/);
  });

  describe('diff', () => {
    let projector: Projector | undefined;
    let docker: Docker;
    let haveDocker = false;
    const made: string[] = [];

    beforeAll(async () => {
      projector = await createProjector({ nc, store, log: createLogger('projector', 'warn') });
      haveDocker = (await dockerAvailable()) && (await new Docker().listImages({ filters: { reference: ['zun-base:latest'] } })).length > 0;
      docker = new Docker();
    });
    afterAll(async () => {
      await projector?.stop();
      for (const id of made) await docker.getContainer(id).remove({ force: true }).catch(() => {});
    });

    const settled = () =>
      waitFor('the read models to catch up with the log', async () => {
        const r = await cli(['diff', '--no-docker', '--json']);
        return r.code === 0 ? r : null;
      }, 60_000, 500);

    it('read models caught up: in sync with the log; a tampered read model is named', async () => {
      const r = await settled();
      expect(r.json).toMatchObject({ inSync: true, checked: { readModels: true, docker: false } });
      const id = run.containers[0]!;
      const kv = await new Kvm(nc).open(CONTAINERS_BUCKET);
      const entry = await kv.get(readModelKey(id));
      const good = entry!.json<ContainerState>();
      await kv.put(readModelKey(id), JSON.stringify({ ...good, statusReason: 'tampered' }));
      const d = await cli(['diff', '--no-docker', '--json']);
      expect(d.code).toBe(1);
      const report = d.json as DiffReport;
      expect(report.hosts[good.host!]).toEqual([expect.objectContaining({ kind: 'read-model-mismatch', id, message: expect.stringMatching(/in: statusReason$/) })]);
      await kv.put(readModelKey(id), JSON.stringify(good));
    });

    it('Docker against the log, per host: missing, orphaned, re-created and wrongly stopped containers', async (ctx) => {
      if (!haveDocker) ctx.skip();
      const s4 = await loadContainer(store, run.containers[4]!);
      expect(s4.status).toBe('Running');
      const mk = async (uuid: string, host: string) => {
        const c = await docker.createContainer({
          Image: 'zun-base:latest',
          Cmd: ['sleep', '30'],
          Labels: { 'zun.managed': 'true', 'zun.host': host, 'zun.container.uuid': uuid, 'zun.test': RUN },
        });
        made.push(c.id);
        return c.id;
      };
      await mk(s4.uuid, s4.host!); // created, never started: the log says Running, with another docker id
      await mk('ghost-' + RUN, HOSTS[0]); // no such container in the log
      const r = await cli(['diff', '--json']);
      expect(r.code).toBe(1);
      const report = r.json as DiffReport;
      const ours = Object.fromEntries(Object.entries(report.hosts).filter(([h]) => (HOSTS as readonly string[]).includes(h)));
      const got = Object.values(ours).flat().map((d) => `${d.kind} ${d.id}`).sort();
      const live = await Promise.all(run.containers.map((id) => loadContainer(store, id)));
      const expected = [
        ...live.filter((s) => s.status !== 'Deleted' && s.uuid !== s4.uuid).map((s) => `docker-missing ${s.uuid}`),
        `docker-id-mismatch ${s4.uuid}`,
        `docker-state-mismatch ${s4.uuid}`,
        `docker-orphan ghost-${RUN}`,
      ].sort();
      expect(got).toEqual(expected);
      expect(ours[s4.host!]!.find((d) => d.kind === 'docker-state-mismatch')!.message).toBe(`the log says container ${s4.uuid} is Running, Docker says created`);
      // --host narrows the report to one host; the text form names every difference.
      const one = await cli(['diff', '--host', HOSTS[0]]);
      expect(one.code).toBe(1);
      expect(one.stdout).toMatch(new RegExp(`host ${HOSTS[0]}\\n`));
      expect(one.stdout).not.toMatch(new RegExp(`host ${HOSTS[1]}`));
      expect(one.stdout).toMatch(/docker-orphan: Docker container \w+ \(created\) is labelled container ghost-/);
    });
  });
});
