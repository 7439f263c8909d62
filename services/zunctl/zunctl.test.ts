import { describe, expect, it } from 'vitest';
import type { ContainerEvent, RecordedEvent } from '../../events/index.js';
import { foldHistory } from '../../domain/history.js';
import type { ContainerState } from '../../domain/container.js';
import { specOf } from '../../test/support/container-gen.js';
import { UsageError, parse, parseTime } from './args.js';
import { loadConfig } from './config.js';
import { DiffKind, diffCluster, type DockerContainerInfo } from './diff.js';
import { parseExportDetailed } from './eventlog.js';
import { table } from './format.js';
import { createProgress } from './progress.js';
import { replayAggregate } from './replay.js';
import { clusterView } from './state.js';

const T0 = Date.UTC(2026, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A small interleaved history, built by hand so every expectation is readable. */
function history(): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  const add = (kind: 'container' | 'capsule' | 'placement', id: string, type: string, data: unknown) => {
    const seq = out.length + 1;
    out.push({
      id: `ev-${seq}`, type, data, schemaVersion: 1, aggregateKind: kind, aggregateId: id, projectId: id === 'c3' ? 'p2' : 'p1',
      userId: 'u1', requestId: `req-${seq}`, correlationId: `req-${seq}`, causationId: null, occurredAt: at(seq * 10), seq,
    } as RecordedEvent);
  };
  const claim = { cpu: 1, memoryMiB: 128, diskGb: 0 };
  for (const id of ['c1', 'c2', 'c3']) add('container', id, 'ContainerCreateRequested', { spec: specOf({ name: `n-${id}` }), run: true });
  add('placement', 'default', 'PlacementsCommitted', { placements: [{ kind: 'container', id: 'c1', host: 'h1', claim }, { kind: 'container', id: 'c2', host: 'h2', claim }] });
  add('container', 'c1', 'ContainerScheduled', { host: 'h1', claim }); // 5
  add('container', 'c2', 'ContainerScheduled', { host: 'h2', claim }); // 6
  add('container', 'c3', 'ContainerSchedulingFailed', { reason: 'There are not enough hosts available.' }); // 7
  add('container', 'c1', 'ContainerCreated', { dockerId: 'd-c1' }); // 8
  add('container', 'c1', 'ContainerStarted', { dockerId: 'd-c1' }); // 9
  add('container', 'c2', 'ContainerCreated', { dockerId: 'd-c2' }); // 10
  add('container', 'c2', 'ContainerStarted', { dockerId: 'd-c2' }); // 11
  add('container', 'c2', 'ContainerStopRequested', { timeout: null }); // 12
  add('container', 'c2', 'ContainerExited', { exitCode: 0, oomKilled: false }); // 13
  add('container', 'c2', 'ContainerDeleteRequested', { stop: false, force: false }); // 14
  add('container', 'c2', 'ContainerDeleted', {}); // 15
  return out;
}

describe('replayAggregate', () => {
  it('reports the state after each event and stops at the cut-off', () => {
    const c1 = history().filter((e) => e.aggregateId === 'c1');
    const r = replayAggregate('container', 'c1', c1, { verify: true });
    expect(r.steps.map((s) => [s.seq, s.type, s.from, s.status, s.taskState, s.host, s.legal])).toEqual([
      [1, 'ContainerCreateRequested', 'New', 'Creating', 'container_creating', null, true],
      [5, 'ContainerScheduled', 'Creating', 'Creating', 'container_creating', 'h1', true],
      [8, 'ContainerCreated', 'Creating', 'Created', 'container_starting', 'h1', true],
      [9, 'ContainerStarted', 'Created', 'Running', null, 'h1', true],
    ]);
    expect(r.violations).toEqual([]);
    expect(replayAggregate('container', 'c1', c1, { toSeq: 5 })).toMatchObject({ skipped: 2, final: { status: 'Creating', host: 'h1', seq: 5 } });
    expect(replayAggregate('container', 'c1', c1, { atMs: Date.parse(at(80)) })).toMatchObject({ skipped: 1, final: { status: 'Created', seq: 8 } });
  });

  it('flags an illegal transition and folds on', () => {
    const c1 = history().filter((e) => e.aggregateId === 'c1');
    const bad = [...c1, { ...c1[0]!, id: 'x', seq: 99, type: 'ContainerUnpauseRequested', data: {} } as RecordedEvent];
    const r = replayAggregate('container', 'c1', bad, { verify: true });
    expect(r.violations).toEqual([{ seq: 99, kind: 'container', id: 'c1', type: 'ContainerUnpauseRequested', from: 'Running', occurredAt: c1[0]!.occurredAt }]);
    expect(r.steps.at(-1)).toMatchObject({ legal: false, from: 'Running' });
    expect(replayAggregate('container', 'c1', bad).violations).toEqual([]); // not asked to verify
  });
});

describe('clusterView', () => {
  it('groups live aggregates by host with their claims; the unplaced apart', () => {
    const v = clusterView(foldHistory(history()));
    expect(v.seq).toBe(15);
    expect(v.hosts.map((h) => h.host)).toEqual(['h1', 'h2']);
    const [h1, h2] = v.hosts;
    expect(h1!.containers.map((c) => [c.id, c.name, c.status])).toEqual([['c1', 'n-c1', 'Running']]);
    expect(h1!.claims).toEqual([{ domain: 'default', kind: 'container', id: 'c1', cpu: 1, memoryMiB: 128, diskGb: 0, seq: 4, live: true }]);
    expect(h1!.claimed).toEqual({ cpu: 1, memoryMiB: 128, diskGb: 0, count: 1 });
    // c2 is deleted but its claim was never released: shown, flagged not live.
    expect(h2!.containers).toEqual([]);
    expect(h2!.claims.map((c) => [c.id, c.live])).toEqual([['c2', false]]);
    expect(v.unplaced.map((a) => [a.id, a.status, a.statusReason])).toEqual([['c3', 'Error', 'There are not enough hosts available.']]);
    expect(v.totals.containers).toEqual({ Running: 1, Deleted: 1, Error: 1 });
    expect(clusterView(foldHistory(history()), { includeDeleted: true }).hosts[1]!.containers.map((c) => c.status)).toEqual(['Deleted']);
  });

  it('at a past time shows what was then', () => {
    const atMs = Date.parse(at(115));
    const v = clusterView(foldHistory(history(), { atMs }), { atMs });
    expect(v.at).toBe(at(115));
    expect(v.hosts.find((h) => h.host === 'h2')!.containers.map((c) => [c.id, c.status])).toEqual([['c2', 'Running']]);
  });

  it('adds registry hosts, even empty ones', () => {
    const reg = (hostname: string) => ({ hostname, capacity: { cpus: 4, memoryMiB: 4096, diskGb: 10 }, disabled: false, availabilityZone: 'nova' }) as never;
    const v = clusterView(foldHistory(history()), { hosts: [reg('h1'), reg('h9')] });
    expect(v.hosts.map((h) => [h.host, h.registry === null ? 'gone' : 'live'])).toEqual([['h1', 'live'], ['h2', 'gone'], ['h9', 'live']]);
  });
});

describe('diffCluster', () => {
  const labels = { managed: 'zun.managed', host: 'zun.host', container: 'zun.container.uuid', capsule: 'zun.capsule.uuid' };
  const dock = (id: string, host: string, dockerId: string, state: string): DockerContainerInfo => ({
    dockerId, name: `zun-${id}`, state, labels: { 'zun.managed': 'true', 'zun.host': host, 'zun.container.uuid': id },
  });
  const fold = () => foldHistory(history());
  /** What a healthy projector and host actors would show. */
  const healthy = () => {
    const f = fold();
    const json = (s: unknown) => JSON.parse(JSON.stringify(s)) as unknown;
    const live = [...f.containers.values()].filter((s) => s.status !== 'Deleted');
    return {
      f,
      readModels: {
        containers: new Map(live.map((s) => [s.uuid, json(s)])),
        capsules: new Map<string, unknown>(),
        desired: live.filter((s) => s.host).map((s) => ({ host: s.host!, kind: 'container', id: s.uuid, value: json(s) })),
      },
      docker: [dock('c1', 'h1', 'd-c1', 'running')],
    };
  };

  it('a healthy cluster is in sync', () => {
    const { f, readModels, docker } = healthy();
    const r = diffCluster({ containers: f.containers, capsules: f.capsules, readModels, docker, labels });
    expect(r).toMatchObject({ inSync: true, checked: { readModels: true, docker: true }, hosts: {}, unplaced: [] });
  });

  it('a container\'s desired entry is held to the fold up to its last intent, not to the host\'s later observations', () => {
    const { f, readModels } = healthy();
    const json = (s: unknown) => JSON.parse(JSON.stringify(s)) as unknown;
    const atIntent = f.containersDesired.get('c1')!;
    expect(atIntent.seq).toBeLessThan(f.containers.get('c1')!.seq); // c1's last events are its host's observations
    const entries = (v: unknown) => readModels.desired.map((d) => (d.id === 'c1' ? { ...d, value: v } : d));
    const input = { containers: f.containers, capsules: f.capsules, containersDesired: f.containersDesired, labels };
    expect(diffCluster({ ...input, readModels: { ...readModels, desired: entries(json(atIntent)) } }).inSync).toBe(true);
    const older = diffCluster({ ...input, readModels: { ...readModels, desired: entries({ ...(json(atIntent) as object), seq: atIntent.seq - 1 }) } });
    expect(older.hosts['h1']!.map((x) => x.kind)).toEqual([DiffKind.desiredStale]);
  });

  it('names every kind of difference, per host', () => {
    const { f, readModels, docker } = healthy();
    const c1 = readModels.containers.get('c1') as ContainerState;
    readModels.containers.set('c1', { ...c1, seq: 8, status: 'Created' }); // stale
    readModels.containers.delete('c3'); // missing (unplaced)
    readModels.containers.set('c2', { seq: 15 }); // orphan: c2 is deleted
    readModels.containers.set('ghost', { seq: 1 }); // orphan: no events at all
    readModels.desired.push({ host: 'h2', kind: 'container', id: 'c2', value: {} }); // desired orphan
    const d = [
      dock('c1', 'h1', 'd-c1', 'exited'), // state mismatch: log says Running
      dock('c2', 'h2', 'd-c2', 'exited'), // orphan: deleted in the log
      dock('c9', 'h1', 'd-c9', 'running'), // orphan: never in the log
    ];
    const r = diffCluster({ containers: f.containers, capsules: f.capsules, readModels, docker: d, labels });
    const kinds = (h: string) => (r.hosts[h] ?? []).map((x) => [x.kind, x.id]);
    expect(r.inSync).toBe(false);
    expect(kinds('h1')).toEqual([
      [DiffKind.readModelStale, 'c1'],
      [DiffKind.dockerOrphan, 'c9'],
      [DiffKind.dockerStateMismatch, 'c1'],
    ]);
    expect(kinds('h2')).toEqual([
      [DiffKind.readModelOrphan, 'c2'],
      [DiffKind.desiredOrphan, 'c2'],
      [DiffKind.dockerOrphan, 'c2'],
    ]);
    expect(r.unplaced.map((x) => [x.kind, x.id])).toEqual([[DiffKind.readModelMissing, 'c3'], [DiffKind.readModelOrphan, 'ghost']]);
    expect(r.hosts['h1']![0]!.message).toBe('read model of container c1 is at seq 8 (Created), the log at seq 9 (Running)');
    expect(r.hosts['h1']![2]!.message).toBe('the log says container c1 is Running, Docker says exited');
    expect(r.counts[DiffKind.dockerOrphan]).toBe(2);
    // --host narrows to one host.
    expect(Object.keys(diffCluster({ containers: f.containers, capsules: f.capsules, readModels, docker: d, labels, host: 'h2' }).hosts)).toEqual(['h2']);
    void docker;
  });

  it('finds missing, duplicated, misplaced and re-created Docker containers, and same-seq mismatches', () => {
    const { f, readModels } = healthy();
    const c1 = readModels.containers.get('c1') as ContainerState;
    readModels.containers.set('c1', { ...c1, statusReason: 'edited' });
    readModels.desired.splice(0, readModels.desired.length);
    const missing = diffCluster({ containers: f.containers, capsules: f.capsules, readModels, docker: [], labels });
    expect(missing.hosts['h1']!.map((x) => x.kind)).toEqual([DiffKind.readModelMismatch, DiffKind.desiredMissing, DiffKind.dockerMissing]);
    expect(missing.hosts['h1']![0]!.message).toMatch(/differs from the fold at the same seq 9 in: statusReason/);
    const dup = diffCluster({ containers: f.containers, capsules: f.capsules, docker: [dock('c1', 'h1', 'd-c1', 'running'), dock('c1', 'h1', 'd-x', 'running')], labels });
    expect(dup.hosts['h1']!.map((x) => x.kind)).toEqual([DiffKind.dockerDuplicate]);
    const moved = diffCluster({ containers: f.containers, capsules: f.capsules, docker: [dock('c1', 'h2', 'd-c1', 'running')], labels });
    expect(moved.hosts['h2']!.map((x) => x.kind)).toEqual([DiffKind.dockerWrongHost]);
    expect(moved.hosts['h1']!.map((x) => x.kind)).toEqual([DiffKind.dockerMissing]);
    const recreated = diffCluster({ containers: f.containers, capsules: f.capsules, docker: [dock('c1', 'h1', 'd-other', 'running')], labels });
    expect(recreated.hosts['h1']!.map((x) => x.kind)).toEqual([DiffKind.dockerIdMismatch]);
    expect(recreated.checked).toEqual({ readModels: false, docker: true });
  });
});

describe('export files', () => {
  const line = (e: RecordedEvent) => JSON.stringify(e);
  it('parses a valid export and names the line of any problem', () => {
    const h = history();
    const text = h.map(line).join('\n') + '\n';
    const parsed = parseExportDetailed(text);
    expect(parsed.map((l) => l.event)).toEqual(h);
    expect(parsed[2]!.line).toBe(3);
    const swapped = [h[1]!, h[0]!, ...h.slice(2)].map(line).join('\n');
    expect(() => parseExportDetailed(swapped)).toThrow(/line 2: seq 1 is not after 2/);
    const dup = [...h, { ...h[0]!, seq: 99 }].map(line).join('\n');
    expect(() => parseExportDetailed(dup)).toThrow(/line 16: event id ev-1 already appears on line 1/);
    expect(() => parseExportDetailed('{"seq":1')).toThrow(/line 1: not JSON/);
    expect(() => parseExportDetailed(line({ ...h[0]!, type: 'Nope' } as RecordedEvent))).toThrow(/line 1: .*unknown container event type "Nope"/);
    expect(() => parseExportDetailed(JSON.stringify({ ...h[0]!, seq: 0 }))).toThrow(/line 1: no positive integer "seq"/);
  });
  it('folds the same as the events it came from', () => {
    const h = history();
    const parsed = parseExportDetailed(h.map(line).join('\n')).map((l) => l.event);
    expect(foldHistory(parsed).containers).toEqual(foldHistory(h as RecordedEvent<ContainerEvent>[]).containers);
  });
});

describe('command-line helpers', () => {
  it('parses times: ISO, epoch ms, relative', () => {
    const now = () => T0;
    expect(parseTime('2026-01-01T00:00:10Z', now)).toBe(T0 + 10_000);
    expect(parseTime(String(T0 + 5), now)).toBe(T0 + 5);
    expect(parseTime('-15m', now)).toBe(T0 - 900_000);
    expect(parseTime('-1.5h', now)).toBe(T0 - 5_400_000);
    expect(() => parseTime('yesterday', now)).toThrow(UsageError);
  });
  it('turns parseArgs complaints into usage errors', () => {
    expect(() => parse(['--nope'], {})).toThrow(UsageError);
    expect(parse(['x', '--json', '--nats', 'nats://h:1'], {})).toEqual({ values: { json: true, nats: 'nats://h:1' }, positionals: ['x'] });
  });
  it('formats tables', () => {
    expect(table(['A', 'BB'], [[1, null], ['xyz', 'q']])).toBe('A    BB\n1    -\nxyz  q\n');
  });
  it('reports progress as a bar, as periodic lines, or not at all', () => {
    let t = 0;
    const now = () => t;
    const sink = { out: '', write(s: string) { this.out += s; } };
    const lines = createProgress({ label: 'verify', mode: 'lines', sink, total: 100, now, everyMs: 1000 });
    for (t = 0; t <= 2500; t += 100) lines.update(t / 25);
    t = 2500;
    lines.finish('0 violations');
    expect(sink.out.split('\n').filter(Boolean)).toEqual([
      'verify: 40/100 events (40%), 40 events/s',
      'verify: 80/100 events (80%), 40 events/s',
      'verify: 100 events in 2.50s (40/s); 0 violations',
    ]);
    sink.out = '';
    t = 0;
    const bar = createProgress({ label: 'export', mode: 'bar', sink, total: 10, now, width: 10 });
    t = 500;
    bar.update(5);
    expect(sink.out).toBe('\rexport [#####-----]  50% 5/10 events 10/s ETA 1s\x1b[K');
    bar.finish();
    expect(sink.out.endsWith('\rexport: 5 events in 0.50s (10/s)\x1b[K\n')).toBe(true);
    sink.out = '';
    const off = createProgress({ label: 'x', mode: 'off', sink, now });
    off.update(1);
    off.finish();
    expect(sink.out).toBe('');
  });
});

describe('config', () => {
  it('reads the Docker socket from DOCKER_SOCKET, as the host actor does, then DOCKER_SOCK', () => {
    expect(loadConfig({}).dockerSocket).toBe('/var/run/docker.sock');
    expect(loadConfig({ DOCKER_SOCKET: '/run/a.sock' }).dockerSocket).toBe('/run/a.sock');
    expect(loadConfig({ DOCKER_SOCK: '/run/b.sock' }).dockerSocket).toBe('/run/b.sock');
    expect(loadConfig({ DOCKER_SOCKET: '/run/a.sock', DOCKER_SOCK: '/run/b.sock' }).dockerSocket).toBe('/run/a.sock');
  });
});
