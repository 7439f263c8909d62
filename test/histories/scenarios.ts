/**
 * Scenarios that produce real histories: every event is appended through the
 * real command path (executeContainerCommand / executeCapsuleCommand, and the
 * placement ledger writer commitBatch / releaseClaims) against the store it
 * is given, with the actors' roles played by hand: the gateway (users'
 * requests), placement (ledger commits, scheduling) and the host actors
 * (observations, as a host reports what Docker did).
 *
 * Deterministic: ids come from counters and time from a clock that advances
 * one second per event written, so re-recording gives the same files.
 * Used by test/histories/record.ts (to write the JSONL files) and by the
 * integration tests (to make a live history on a test nats-server).
 */
import type { CapsuleEvent, CapsuleSpec, ContainerObservation, ContainerSpec, Placement } from '../../events/index.js';
import type { ContainerCommand } from '../../domain/container-decider.js';
import type { CapsuleCommand } from '../../domain/capsule-decider.js';
import { initialLedger, requestFromCapsule, requestFromContainer, type MutableLedger } from '../../domain/placement.js';
import type { HostRecord } from '../../domain/host.js';
import type { ContainerState } from '../../domain/container.js';
import type { CapsuleState } from '../../domain/capsule.js';
import type { EventStore } from '../../services/platform/eventstore.js';
import { executeCapsuleCommand, executeContainerCommand, loadCapsule, loadContainer, type CommandDeps } from '../../services/platform/commands.js';
import { commitBatch, releaseClaims } from '../../services/placement/ledger.js';
import { specOf } from '../support/container-gen.js';

export const START = Date.UTC(2026, 2, 1, 9, 0, 0);

export interface Checkpoint {
  /** A time between two events: everything before it happened, nothing after. */
  readonly at: string;
  /** The states loaded from the store (loadContainer / loadCapsule) at that moment. */
  readonly containers: Record<string, ContainerState>;
  readonly capsules: Record<string, CapsuleState>;
}

export interface ScenarioRun {
  readonly checkpoints: Checkpoint[];
  readonly containers: readonly string[];
  readonly capsules: readonly string[];
}

const uuid = (prefix: number, n: number) => `${prefix.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

export function host(hostname: string, cpus = 4, memoryMiB = 4096): HostRecord {
  return {
    hostname, uuid: uuid(0xb0, hostname.length), capacity: { cpus, memoryMiB, diskGb: 50 }, labels: {}, availabilityZone: 'nova',
    runtimes: ['runc'], version: '0.1.0', disabled: false, disabledReason: null, os: 'Debian GNU/Linux 12', osType: 'linux',
    architecture: 'x86_64', kernelVersion: '6.1.0', startedAt: new Date(START).toISOString(),
  };
}

/** The gateway, placement and host actors, played by hand over the real command path. */
export class Actors {
  private n = 0;
  private req = 0;
  private t: number;
  readonly deps: CommandDeps;
  readonly ledger: MutableLedger = initialLedger();
  readonly containers = new Set<string>();
  readonly capsules = new Set<string>();
  readonly checkpoints: Checkpoint[] = [];
  /** Called at each checkpoint (e.g. to ask the API what it reports at that moment). */
  onCheckpoint: ((at: string, containers: readonly string[]) => Promise<void>) | undefined;
  private readonly owner = new Map<string, { projectId: string; userId: string }>();

  constructor(
    readonly store: EventStore,
    readonly hosts: readonly HostRecord[],
    start = START,
  ) {
    this.t = start;
    this.deps = { store, newId: () => uuid(0xe0, ++this.n), now: () => new Date((this.t += 1000)) };
  }

  private ctx(projectId: string, userId: string, prefix = 'req') {
    return { projectId, userId, requestId: `${prefix}-${uuid(0xa0, ++this.req)}` };
  }

  async container(id: string, cmd: ContainerCommand, who?: { projectId: string; userId: string }, prefix?: string): Promise<ContainerState> {
    const o = who ?? this.owner.get(id) ?? { projectId: 'system', userId: 'zun-placement' };
    const r = await executeContainerCommand(this.deps, id, cmd, this.ctx(o.projectId, o.userId, prefix));
    if (!r.ok) throw new Error(`container ${id}: ${cmd.type} rejected: ${r.rejection.message}`);
    return r.state;
  }

  async capsule(id: string, cmd: CapsuleCommand, who?: { projectId: string; userId: string }, prefix?: string): Promise<CapsuleState> {
    const o = who ?? this.owner.get(id) ?? { projectId: 'system', userId: 'zun-placement' };
    const r = await executeCapsuleCommand(this.deps, id, cmd, this.ctx(o.projectId, o.userId, prefix));
    if (!r.ok) throw new Error(`capsule ${id}: ${cmd.type} rejected: ${r.rejection.message}`);
    return r.state;
  }

  // ---- the gateway: a user's request

  async create(id: string, who: { projectId: string; userId: string }, spec: Partial<ContainerSpec> = {}, run = true): Promise<void> {
    this.owner.set(id, who);
    this.containers.add(id);
    await this.container(id, { type: 'CreateContainer', spec: specOf({ name: `web-${this.containers.size}`, ...spec }), run }, who);
  }

  user(id: string, cmd: ContainerCommand): Promise<ContainerState> {
    return this.container(id, cmd);
  }

  async createCapsule(id: string, who: { projectId: string; userId: string }, spec: CapsuleSpec): Promise<void> {
    this.owner.set(id, who);
    this.capsules.add(id);
    await this.capsule(id, { type: 'CreateCapsule', spec }, who);
  }

  // ---- placement

  /** Plans and commits claims for these consumers, then schedules them, as placement does. */
  async place(ids: readonly string[]): Promise<Map<string, string>> {
    const requests = [];
    for (const id of ids) {
      requests.push(this.containers.has(id) ? requestFromContainer(await loadContainer(this.store, id)) : requestFromCapsule(await loadCapsule(this.store, id)));
    }
    const out = await commitBatch(
      { store: this.store, domain: 'default', newId: this.deps.newId, now: this.deps.now },
      this.ledger,
      requests,
      this.hosts,
      'spread',
      `req-placement-${uuid(0xa0, ++this.req)}`,
    );
    const placed = new Map<string, string>();
    for (const p of out.placements as Placement[]) {
      placed.set(p.id, p.host);
      if (p.kind === 'container') await this.container(p.id, { type: 'ScheduleContainer', host: p.host, claim: p.claim }, { projectId: this.owner.get(p.id)!.projectId, userId: 'zun-placement' });
      else await this.capsule(p.id, { type: 'ScheduleCapsule', host: p.host, claim: p.claim }, { projectId: this.owner.get(p.id)!.projectId, userId: 'zun-placement' });
    }
    for (const f of out.failures) {
      if (f.request.kind === 'container') await this.container(f.request.id, { type: 'FailScheduling', reason: f.reason }, { projectId: this.owner.get(f.request.id)!.projectId, userId: 'zun-placement' });
      else await this.capsule(f.request.id, { type: 'FailCapsuleScheduling', reason: f.reason }, { projectId: this.owner.get(f.request.id)!.projectId, userId: 'zun-placement' });
    }
    return placed;
  }

  async release(ids: readonly string[]): Promise<void> {
    await releaseClaims(
      { store: this.store, domain: 'default', newId: this.deps.newId, now: this.deps.now },
      this.ledger,
      ids,
      `req-placement-${uuid(0xa0, ++this.req)}`,
    );
  }

  hostLost(id: string, hostname: string): Promise<ContainerState> {
    return this.container(id, { type: 'MarkHostLost', host: hostname }, { projectId: this.owner.get(id)!.projectId, userId: 'zun-placement' });
  }

  // ---- a host actor: what Docker did

  observe(id: string, observation: ContainerObservation): Promise<ContainerState> {
    return this.container(id, { type: 'RecordObservation', observation }, undefined, 'req-host');
  }

  observeCapsule(id: string, observation: CapsuleEvent): Promise<CapsuleState> {
    return this.capsule(id, { type: 'RecordCapsuleObservation', observation }, undefined, 'req-host');
  }

  // ---- checkpoints

  /** Records what loading each aggregate gives now, half a second after the last event. */
  async checkpoint(): Promise<void> {
    const at = new Date(this.t + 500).toISOString();
    const containers: Record<string, ContainerState> = {};
    const capsules: Record<string, CapsuleState> = {};
    for (const id of this.containers) containers[id] = await loadContainer(this.store, id);
    for (const id of this.capsules) capsules[id] = await loadCapsule(this.store, id);
    this.checkpoints.push({ at, containers, capsules });
    await this.onCheckpoint?.(at, [...this.containers]);
  }

  run(): ScenarioRun {
    return { checkpoints: this.checkpoints, containers: [...this.containers], capsules: [...this.capsules] };
  }
}

const alice = { projectId: 'proj-a', userId: 'alice' };
const bob = { projectId: 'proj-b', userId: 'bob' };

export const containerId = (n: number) => uuid(0xc0, n);
export const capsuleId = (n: number) => uuid(0xca, n);

/** One container through most of Zun's actions, start to delete. */
export async function lifecycle(store: EventStore): Promise<ScenarioRun> {
  const a = new Actors(store, [host('compute-1')]);
  const c = containerId(1);
  await a.create(c, alice, { restartPolicy: { name: 'no', maximumRetryCount: 0 } });
  await a.checkpoint();
  await a.place([c]);
  await a.observe(c, { type: 'ContainerCreated', data: { dockerId: 'd1'.padEnd(64, '0') } });
  await a.observe(c, { type: 'ContainerStarted', data: { dockerId: 'd1'.padEnd(64, '0') } });
  await a.checkpoint();
  await a.user(c, { type: 'PauseContainer' });
  await a.observe(c, { type: 'ContainerPaused', data: {} });
  await a.user(c, { type: 'UnpauseContainer' });
  await a.observe(c, { type: 'ContainerUnpaused', data: {} });
  await a.user(c, { type: 'RebootContainer', timeout: 5 });
  await a.checkpoint();
  await a.observe(c, { type: 'ContainerRestarted', data: { generation: 1 } });
  await a.user(c, { type: 'StopContainer', timeout: 10 });
  await a.observe(c, { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } });
  await a.checkpoint();
  await a.user(c, { type: 'StartContainer' });
  await a.observe(c, { type: 'ContainerStarted', data: { dockerId: 'd1'.padEnd(64, '0') } });
  await a.user(c, { type: 'UpdateContainer', patch: { cpu: 0.5, memory: 256 } });
  await a.user(c, { type: 'KillContainer', signal: 'SIGKILL' });
  await a.observe(c, { type: 'ContainerSignalled', data: { generation: 1, signal: 'SIGKILL' } });
  await a.observe(c, { type: 'ContainerExited', data: { exitCode: 137, oomKilled: false } });
  await a.checkpoint();
  await a.user(c, { type: 'RebuildContainer', image: 'zun-base:latest', imageDriver: 'docker' });
  await a.observe(c, { type: 'ContainerRebuilt', data: { generation: 1, dockerId: 'd2'.padEnd(64, '0') } });
  await a.checkpoint();
  await a.user(c, { type: 'DeleteContainer', stop: false, force: false });
  await a.checkpoint();
  await a.observe(c, { type: 'ContainerDeleted', data: {} });
  await a.release([c]);
  await a.checkpoint();
  return a.run();
}

/** The paths that go wrong: no host, restarts by policy, a lost host, a failed start, a vanished container, OOM. */
export async function failures(store: EventStore): Promise<ScenarioRun> {
  const a = new Actors(store, [host('compute-1', 2, 1024), host('compute-2', 2, 1024)]);
  const big = containerId(10);
  const flaky = containerId(11);
  const lost = containerId(12);
  const broken = containerId(13);
  const oom = containerId(14);
  await a.create(big, alice, { cpu: 16, memory: 65536 });
  await a.create(flaky, alice, { restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } });
  await a.create(lost, bob);
  await a.create(broken, bob);
  await a.create(oom, bob, { memory: 64, restartPolicy: { name: 'always', maximumRetryCount: 0 } });
  await a.place([big, flaky, lost, broken, oom]);
  await a.checkpoint();
  await a.user(big, { type: 'DeleteContainer', stop: false, force: false }); // never placed: deleted at once
  for (const id of [flaky, lost, broken, oom]) await a.observe(id, { type: 'ContainerCreated', data: { dockerId: `d-${id}`.padEnd(64, '0') } });
  await a.observe(flaky, { type: 'ContainerStarted', data: { dockerId: `d-${flaky}`.padEnd(64, '0') } });
  await a.observe(flaky, { type: 'ContainerExited', data: { exitCode: 3, oomKilled: false } }); // restarted by policy
  await a.observe(flaky, { type: 'ContainerStarted', data: { dockerId: `d-${flaky}`.padEnd(64, '0') } });
  await a.observe(lost, { type: 'ContainerStarted', data: { dockerId: `d-${lost}`.padEnd(64, '0') } });
  await a.observe(broken, { type: 'ContainerOperationFailed', data: { operation: 'start', reason: 'Docker internal error: port is already allocated' } });
  await a.observe(oom, { type: 'ContainerStarted', data: { dockerId: `d-${oom}`.padEnd(64, '0') } });
  await a.observe(oom, { type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } });
  await a.checkpoint();
  const lostHost = (await loadContainer(store, lost)).host!;
  await a.hostLost(lost, lostHost);
  await a.user(broken, { type: 'StartContainer' });
  await a.observe(broken, { type: 'ContainerStarted', data: { dockerId: `d-${broken}`.padEnd(64, '0') } });
  await a.observe(broken, { type: 'ContainerMissing', data: {} });
  await a.checkpoint();
  await a.user(lost, { type: 'DeleteContainer', stop: false, force: true });
  await a.observe(lost, { type: 'ContainerDeleted', data: {} });
  await a.user(broken, { type: 'DeleteContainer', stop: false, force: false });
  await a.observe(broken, { type: 'ContainerDeleted', data: {} });
  await a.release([lost, broken]);
  await a.checkpoint();
  return a.run();
}

const capsuleSpec = (name: string): CapsuleSpec => ({
  name, labels: { app: name }, annotations: {}, restartPolicy: 'always', availabilityZone: null, cpu: 1, memory: 256,
  containers: [{
    name: `${name}-main`, image: 'zun-base:latest', command: ['sleep', '3600'], workdir: null, environment: {}, imagePullPolicy: 'never',
    interactive: false, tty: false, cpu: 1, memory: 256, exposedPorts: [], volumeMounts: [],
  }],
  initContainers: [], volumes: [],
});

/** Several containers and a capsule on two hosts, interleaved, two projects; some still running at the end. */
export async function multiHost(
  store: EventStore,
  opts: { hosts?: readonly [string, string]; onCheckpoint?: (at: string, containers: readonly string[]) => Promise<void> } = {},
): Promise<ScenarioRun> {
  const [h1, h2] = opts.hosts ?? ['compute-1', 'compute-2'];
  const a = new Actors(store, [host(h1), host(h2)]);
  a.onCheckpoint = opts.onCheckpoint;
  const ids = [1, 2, 3, 4, 5, 6].map((n) => containerId(20 + n));
  const pod = capsuleId(1);
  for (const [i, id] of ids.entries()) await a.create(id, i % 2 ? bob : alice, { cpu: 0.5, memory: 256 }, i !== 5);
  await a.createCapsule(pod, alice, capsuleSpec('pod-a'));
  await a.place([...ids.slice(0, 3), pod]);
  await a.checkpoint();
  await a.place(ids.slice(3));
  for (const id of ids) await a.observe(id, { type: 'ContainerCreated', data: { dockerId: `d-${id}`.padEnd(64, '0') } });
  await a.observeCapsule(pod, { type: 'CapsuleSandboxCreated', data: { sandboxId: `s-${pod}`.padEnd(64, '0') } });
  for (const id of ids.slice(0, 5)) await a.observe(id, { type: 'ContainerStarted', data: { dockerId: `d-${id}`.padEnd(64, '0') } });
  await a.observeCapsule(pod, { type: 'CapsuleInitCompleted', data: {} });
  await a.observeCapsule(pod, { type: 'CapsuleStarted', data: {} });
  await a.checkpoint();
  await a.user(ids[0]!, { type: 'StopContainer', timeout: null });
  await a.user(ids[5]!, { type: 'StartContainer' });
  await a.observe(ids[0]!, { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } });
  await a.observe(ids[5]!, { type: 'ContainerStarted', data: { dockerId: `d-${ids[5]}`.padEnd(64, '0') } });
  await a.user(ids[1]!, { type: 'PauseContainer' });
  await a.observe(ids[1]!, { type: 'ContainerPaused', data: {} });
  await a.observeCapsule(pod, { type: 'CapsuleMemberExited', data: { member: 'pod-a-main', exitCode: 0 } });
  await a.checkpoint();
  await a.user(ids[2]!, { type: 'DeleteContainer', stop: true, force: false });
  await a.observe(ids[2]!, { type: 'ContainerExited', data: { exitCode: 143, oomKilled: false } });
  await a.observe(ids[2]!, { type: 'ContainerDeleted', data: {} });
  await a.capsule(pod, { type: 'DeleteCapsule' });
  await a.observeCapsule(pod, { type: 'CapsuleDeleted', data: {} });
  await a.release([ids[2]!, pod]);
  await a.user(ids[3]!, { type: 'RebootContainer', timeout: null });
  await a.checkpoint();
  await a.observe(ids[3]!, { type: 'ContainerRestarted', data: { generation: 1 } });
  await a.checkpoint();
  return a.run();
}

export const SCENARIOS = {
  'container-lifecycle': lifecycle,
  failures,
  'multi-host': (store: EventStore) => multiHost(store),
} as const satisfies Record<string, (store: EventStore) => Promise<ScenarioRun>>;
