/**
 * The reconcile diff converges.
 *
 * A random history of user intents, Docker drift (an operator stopping,
 * pausing, starting or removing containers behind the actor's back, a
 * container dying or being OOM-killed) and Docker failures is interleaved with
 * host-actor passes. A pass observes the in-memory Docker twin, asks the pure
 * diff, applies the actions to the twin and feeds every observation back
 * through the decider and the fold, as the service does. Then, with the
 * world quiet, passes run until the diff is empty.
 *
 * Properties:
 * - every observation the diff proposes is accepted by the machine (the
 *   diff never asks for an illegal transition);
 * - within a bounded number of rounds the diff is empty (no action repeats
 *   for ever) and Docker matches desired: running / stopped / paused as
 *   asked, pending reboots, kills and rebuilds carried out, limits applied,
 *   deleted containers gone, never two containers for one uuid;
 * - the same holds through the real reconciler (services/host-actor) on the
 *   in-memory event store, with the same twin.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ContainerEvent, RecordedEvent } from '../../events/index.js';
import { decideContainer, type ContainerCommand } from '../../domain/container-decider.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import { completionOf, diffContainer, type Action, type DockerObservation } from '../../domain/reconcile.js';
import { RuntimeError, RuntimeErrorCode } from '../../services/host-actor/docker.js';
import { createMemoryRuntime, type MemoryRuntime } from '../../services/host-actor/memory-runtime.js';
import { createReconciler, newWorkerMemory } from '../../services/host-actor/reconciler.js';
import { createMemoryEventStore } from '../../services/platform/memory-eventstore.js';
import { executeContainerCommand, loadContainer } from '../../services/platform/commands.js';
import { specOf } from '../support/container-gen.js';
import { runs } from '../support/runs.js';

const HOST = 'h1';
const UUID = '0b5d0c55-8a43-4a4c-9b35-6a3f7c1e2d10';

// ---- the world's moves -----------------------------------------------------

type Drift = 'exit0' | 'exit1' | 'oom' | 'stop' | 'pause' | 'start' | 'remove';
type Failure = 'start' | 'stop' | 'create' | 'pause' | 'remove' | 'update' | 'restart' | 'commit';
type Move =
  | { kind: 'intent'; cmd: ContainerCommand }
  | { kind: 'drift'; drift: Drift }
  | { kind: 'fail'; op: Failure }
  | { kind: 'pass' }
  /** The actor dies right after its next Docker operation, before recording anything, and restarts. */
  | { kind: 'crash' };

const arbIntent: fc.Arbitrary<ContainerCommand> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ type: 'StartContainer' as const }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 5, null).map((timeout) => ({ type: 'StopContainer' as const, timeout })) },
  { weight: 2, arbitrary: fc.constantFrom(1, null).map((timeout) => ({ type: 'RebootContainer' as const, timeout })) },
  { weight: 3, arbitrary: fc.constant({ type: 'PauseContainer' as const }) },
  { weight: 3, arbitrary: fc.constant({ type: 'UnpauseContainer' as const }) },
  { weight: 2, arbitrary: fc.constantFrom('SIGKILL', 'TERM', '9', null).map((signal) => ({ type: 'KillContainer' as const, signal })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('zun-base:latest', 'zun-base:v2').map((image) => ({ type: 'RebuildContainer' as const, image, imageDriver: null })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ cpu: fc.constantFrom(0.5, 1, 2), memory: fc.constantFrom(64, 128, 256) })
      .map((patch) => ({ type: 'UpdateContainer' as const, patch })),
  },
  { weight: 1, arbitrary: fc.record({ stop: fc.boolean(), force: fc.boolean() }).map((r) => ({ type: 'DeleteContainer' as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ type: 'MarkHostLost' as const, host: HOST }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('team/a', 'b').map((repository) => ({ type: 'CommitContainer' as const, repository, tag: 'latest', imageUuid: `img-${repository}` })),
  },
);

const arbMove: fc.Arbitrary<Move> = fc.oneof(
  { weight: 6, arbitrary: arbIntent.map((cmd) => ({ kind: 'intent' as const, cmd })) },
  { weight: 2, arbitrary: fc.constantFrom<Drift>('exit0', 'exit1', 'oom', 'stop', 'pause', 'start', 'remove').map((drift) => ({ kind: 'drift' as const, drift })) },
  { weight: 1, arbitrary: fc.constantFrom<Failure>('start', 'stop', 'create', 'pause', 'remove', 'update', 'restart', 'commit').map((op) => ({ kind: 'fail' as const, op })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'pass' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

const arbSpec = fc
  .record({
    restartPolicy: fc.oneof(
      fc.constant({ name: 'no' as const, maximumRetryCount: 0 }),
      fc.constant({ name: 'always' as const, maximumRetryCount: 0 }),
      fc.constant({ name: 'unless-stopped' as const, maximumRetryCount: 0 }),
      fc.integer({ min: 0, max: 3 }).map((n) => ({ name: 'on-failure' as const, maximumRetryCount: n })),
    ),
    autoRemove: fc.boolean(),
    autoHeal: fc.boolean(),
    imagePullPolicy: fc.constantFrom('never' as const, 'ifnotpresent' as const, 'always' as const),
    image: fc.oneof({ weight: 6, arbitrary: fc.constant('zun-base:latest') }, { weight: 1, arbitrary: fc.constant('zun-base:missing') }),
  })
  .map((o) => specOf(o));

const arbScenario = fc.record({
  spec: arbSpec,
  run: fc.boolean(),
  moves: fc.array(arbMove, { minLength: 5, maxLength: 40, size: 'max' }),
});

// ---- checks ----------------------------------------------------------------

/** Docker matches what the state asks for (the diff being empty is checked apart). */
function dockerMatchesDesired(s: ContainerState, d: DockerObservation | null, containers: number): string | null {
  if (containers > 1) return `${containers} containers for one uuid`;
  if (s.status === 'Deleted') return d === null ? null : 'deleted but still in Docker';
  const { desired: w, observed: o } = s;
  if (w.power === 'deleted') return 'delete not finished';
  if (w.rebootGen > o.rebootDone || w.killGen > o.killDone || w.rebuildGen > o.rebuildDone) return 'a generation is still pending';
  if (w.commits.length > 0 || o.commitDone !== w.commitGen) return 'a commit is still pending';
  if (d && s.spec && (d.cpu !== s.spec.cpu || d.memoryMiB !== s.spec.memory)) return 'limits differ';
  // A failed rebuild is settled and leaves the old container: older generations are fine, newer never.
  if (d && d.generation > w.rebuildGen) return 'container of a rebuild generation nobody asked for';
  // The status tells the truth about Docker.
  const agrees: Record<string, readonly (string | null)[]> = {
    running: ['Running'],
    paused: ['Paused'],
    exited: ['Stopped', 'Error'],
    dead: ['Stopped', 'Error'],
    created: ['Created', 'Error'],
    absent: ['Error'],
  };
  if (!agrees[d?.state ?? 'absent']!.includes(s.status)) return `status ${s.status} but Docker ${d?.state ?? 'absent'}`;
  if (d && d.dockerId !== o.dockerId) return 'recorded docker id is not the container in Docker';
  switch (w.power) {
    case 'running':
      return d?.state === 'running' && s.status === 'Running' ? null : `wants running, Docker ${d?.state ?? 'absent'}, status ${s.status}`;
    case 'stopped':
      if (d === null) return s.status === 'Error' ? null : `wants stopped, Docker absent, status ${s.status}`;
      return d.state !== 'running' && d.state !== 'paused' ? null : `wants stopped, Docker ${d.state}`;
    case 'paused':
      return d?.state !== 'running' ? null : 'wants paused, Docker running';
    default:
      return null;
  }
}

// ---- the pure loop ---------------------------------------------------------

class Sim {
  live: ContainerState = initialContainerState(UUID);
  seq = 0;
  readonly illegal: string[] = [];
  crashAfterNextOp = false;
  /** Rebuilds that replaced a container already rebuilt for that generation (a crash must not cause one). */
  duplicateRebuilds = 0;
  constructor(readonly rt: MemoryRuntime) {}

  /** Decide and fold, as the command path does; false when rejected. */
  apply(cmd: ContainerCommand): boolean {
    const d = decideContainer(cmd, this.live);
    if ('rejected' in d) return false;
    for (const e of d.events) {
      this.seq++;
      const rec = { ...e, seq: this.seq, occurredAt: '2026-01-01T00:00:00.000Z', projectId: 'p', userId: 'u' } as RecordedEvent<ContainerEvent>;
      this.live = evolveContainer(this.live, rec);
    }
    return true;
  }

  observe(obs: Extract<ContainerCommand, { type: 'RecordObservation' }>['observation']): void {
    if (!this.apply({ type: 'RecordObservation', observation: obs })) {
      this.illegal.push(`${obs.type} in ${this.live.status} (power ${this.live.desired.power})`);
    }
  }

  async perform(a: Exclude<Action, { type: 'record' }>): Promise<{ ok: boolean; dockerId: string | null; imageId?: string; error?: string }> {
    const ref = (dockerId: string) => ({ host: HOST, uuid: UUID, dockerId });
    try {
      switch (a.type) {
        case 'create':
        case 'rebuild': {
          if (a.type === 'rebuild') {
            if (this.rt.containers().some((c) => Number(c.labels['zun.rebuild.generation']) >= a.generation)) this.duplicateRebuilds++;
            if (a.dockerId) await this.rt.remove(ref(a.dockerId));
          }
          const id = await this.rt.create({ host: HOST, uuid: UUID, spec: this.live.spec!, image: a.image, generation: a.generation });
          return { ok: true, dockerId: id };
        }
        case 'start': await this.rt.start(ref(a.dockerId)); break;
        case 'stop': await this.rt.stop(ref(a.dockerId), a.timeout); break;
        case 'pause': await this.rt.pause(ref(a.dockerId)); break;
        case 'unpause': await this.rt.unpause(ref(a.dockerId)); break;
        case 'kill': await this.rt.kill(ref(a.dockerId), a.signal); break;
        case 'restart': await this.rt.restart(ref(a.dockerId), a.timeout); break;
        case 'update': await this.rt.update(ref(a.dockerId), { cpu: a.cpu, memoryMiB: a.memoryMiB }); break;
        case 'remove': await this.rt.remove(ref(a.dockerId)); break;
        case 'commit': return { ok: true, dockerId: a.dockerId, imageId: await this.rt.commit(ref(a.dockerId), a) };
      }
      return { ok: true, dockerId: 'dockerId' in a ? a.dockerId : null };
    } catch (err) {
      return { ok: false, dockerId: null, error: (err as Error).message };
    }
  }

  /** One host-actor pass; true when the diff came out empty. */
  async pass(maxRounds = 12): Promise<boolean> {
    rounds: for (let i = 0; i < maxRounds; i++) {
      const d = await this.rt.find(HOST, UUID);
      const actions = diffContainer(this.live, d);
      if (actions.length === 0) return true;
      for (const a of actions) {
        if (a.type === 'record') {
          const before = this.seq;
          this.observe(a.observation);
          if (this.seq === before) return false;
          continue rounds;
        }
        const r = await this.perform(a);
        if (this.crashAfterNextOp) {
          // Died before recording the outcome: whatever Docker did stays, the log does not know.
          this.crashAfterNextOp = false;
          return false;
        }
        if (!r.ok) {
          if (a.type === 'update') continue rounds;
          const reason = r.error ?? 'failed';
          if (a.type === 'commit') {
            this.observe({ type: 'ContainerCommitFailed', data: { generation: a.generation, reason } });
            continue rounds;
          }
          const news = this.live.status !== (this.live.desired.power === 'deleted' ? 'Deleting' : 'Error') || this.live.statusReason !== reason;
          if (news) this.observe({ type: 'ContainerOperationFailed', data: { operation: a.type, reason } });
          continue rounds;
        }
        const done = completionOf(a, r.dockerId, r.imageId ?? null);
        if (done) this.observe(done);
      }
    }
    return false;
  }
}

async function applyDrift(rt: MemoryRuntime, drift: Drift): Promise<void> {
  const c = rt.containers()[0];
  if (!c) return;
  switch (drift) {
    case 'exit0': if (c.state === 'running') rt.drift.exit(c.id, 0); break;
    case 'exit1': if (c.state === 'running') rt.drift.exit(c.id, 1); break;
    case 'oom': if (c.state === 'running') rt.drift.exit(c.id, 137, true); break;
    case 'stop': if (c.state === 'running' || c.state === 'paused') rt.drift.stop(c.id); break;
    case 'pause': if (c.state === 'running') rt.drift.pause(c.id); break;
    case 'start': if (c.state === 'exited' || c.state === 'created') rt.drift.start(c.id); break;
    case 'remove': rt.drift.remove(c.id); break;
  }
}

const failure = (op: Failure) => new RuntimeError(RuntimeErrorCode.docker, `injected ${op} failure`, 500);

describe('reconcile diff (pure loop over the Docker twin)', () => {
  it('converges to desired, proposing only legal observations', async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async ({ spec, run, moves }) => {
        const rt = createMemoryRuntime({ images: ['zun-base:latest', 'zun-base:v2'] });
        const sim = new Sim(rt);
        expect(sim.apply({ type: 'CreateContainer', spec, run })).toBe(true);
        expect(sim.apply({ type: 'ScheduleContainer', host: HOST, claim: { cpu: spec.cpu, memoryMiB: spec.memory, diskGb: 0 } })).toBe(true);
        for (const m of moves) {
          if (m.kind === 'intent') sim.apply(m.cmd);
          else if (m.kind === 'drift') await applyDrift(rt, m.drift);
          else if (m.kind === 'fail') rt.failNext(m.op, failure(m.op));
          else if (m.kind === 'crash') {
            sim.crashAfterNextOp = true;
            await sim.pass();
          } else await sim.pass();
        }
        // The world goes quiet: the actor must settle within a few passes.
        let settled = false;
        for (let i = 0; i < 4 && !settled; i++) settled = await sim.pass();
        const d = await rt.find(HOST, UUID);
        expect(sim.illegal).toEqual([]);
        expect(sim.duplicateRebuilds).toBe(0);
        expect(settled, `not settled: ${JSON.stringify(diffContainer(sim.live, d))}`).toBe(true);
        expect(diffContainer(sim.live, d)).toEqual([]);
        expect(dockerMatchesDesired(sim.live, d, rt.containers().length)).toBeNull();
      }),
      { numRuns: runs(1000) },
    );
  });
});

// ---- through the real reconciler ------------------------------------------

function captureLog() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });
  return { log: pino({ level: 'warn' }, sink), lines };
}

const MUTATING = new Set(['create', 'start', 'stop', 'pause', 'unpause', 'kill', 'restart', 'remove', 'update']);

/** The runtime of an actor that dies right after its next Docker operation (when armed). */
function crashable(rt: MemoryRuntime): { runtime: MemoryRuntime; arm(): void } {
  let armed = false;
  const runtime = new Proxy(rt, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !MUTATING.has(prop) || typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (armed) {
          armed = false;
          throw new RuntimeError(RuntimeErrorCode.unavailable, 'actor crashed');
        }
        return out;
      };
    },
  });
  return { runtime, arm: () => void (armed = true) };
}

describe('reconcile through the host actor reconciler (memory event store, Docker twin)', () => {
  it('converges, never has an observation rejected, never duplicates a container', async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async ({ spec, run, moves }) => {
        const store = createMemoryEventStore();
        const rt = createMemoryRuntime({ images: ['zun-base:latest', 'zun-base:v2'] });
        const crash = crashable(rt);
        const { log, lines } = captureLog();
        let now = 1_000_000;
        let ids = 0;
        const newId = () => `id-${++ids}`;
        const clock = () => new Date(now);
        const deps = { store, newId, now: clock };
        const ctx = () => ({ projectId: 'p', userId: 'u', requestId: `req-${newId()}` });
        const reconciler = createReconciler({ hostname: HOST, store, runtime: crash.runtime, log, clock, newId });
        let mem = newWorkerMemory();
        await executeContainerCommand(deps, UUID, { type: 'CreateContainer', spec, run }, ctx());
        await executeContainerCommand(deps, UUID, { type: 'ScheduleContainer', host: HOST, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } }, ctx());
        const pass = async (): Promise<{ retryInMs: number | null }> => {
          try {
            return await reconciler.pass(await loadContainer(store, UUID), mem, log);
          } catch (err) {
            if (!(err instanceof RuntimeError && err.message === 'actor crashed')) throw err;
            mem = newWorkerMemory(); // a new process remembers nothing
            return { retryInMs: 0 };
          }
        };
        for (const m of moves) {
          if (m.kind === 'intent') await executeContainerCommand(deps, UUID, m.cmd, ctx());
          else if (m.kind === 'drift') await applyDrift(rt, m.drift);
          else if (m.kind === 'fail') rt.failNext(m.op, failure(m.op));
          else {
            if (m.kind === 'crash') crash.arm();
            const out = await pass();
            now += out.retryInMs ?? 1000;
          }
        }
        let converged = false;
        for (let i = 0; i < 8 && !converged; i++) {
          const out = await pass();
          converged = out.retryInMs === null;
          now += out.retryInMs ?? 0;
        }
        const s = await loadContainer(store, UUID);
        const d = await rt.find(HOST, UUID);
        expect(lines.filter((l) => l.msg.startsWith('observation rejected') || l.level >= 50)).toEqual([]);
        expect(converged).toBe(true);
        expect(diffContainer(s, d)).toEqual([]);
        expect(dockerMatchesDesired(s, d, rt.containers().length)).toBeNull();
      }),
      { numRuns: runs(400) },
    );
  });
});
