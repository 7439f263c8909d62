/**
 * The capsule diff against a simulated Docker: the shell's contract (act,
 * record MemberStarted after each start, observe again, ask again) played
 * out in memory, with the capsule decider keeping every record legal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CapsuleContainerSpec, CapsuleEvent, CapsuleSpec } from '../events/index.js';
import { decideCapsule } from './capsule-decider.js';
import { capsuleMember, evolveCapsule, initialCapsuleState, type CapsuleState } from './capsule.js';
import { diffCapsule, type CapsuleDocker, type CapsuleDockerObservation } from './capsule-reconcile.js';
import type { DockerState } from './reconcile.js';

const member = (name: string): CapsuleContainerSpec => ({
  name, image: 'zun-base:latest', command: [], workdir: null, environment: {}, imagePullPolicy: 'ifnotpresent',
  interactive: false, tty: false, cpu: null, memory: null, exposedPorts: [], volumeMounts: [], uuid: `u-${name}`,
});

function spec(o: { inits?: number; containers?: number; policy?: CapsuleSpec['restartPolicy'] } = {}): CapsuleSpec {
  return {
    name: 'pod', labels: {}, annotations: {}, restartPolicy: o.policy ?? 'always', availabilityZone: null, cpu: 0, memory: 0,
    initContainers: Array.from({ length: o.inits ?? 1 }, (_, i) => member(`init-${i}`)),
    containers: Array.from({ length: o.containers ?? 2 }, (_, i) => member(`c-${i}`)),
    volumes: [],
  };
}

/** Docker, in memory: what the diff's actions do to it, and how members behave once started. */
class FakeDocker {
  sandbox: CapsuleDockerObservation | null = null;
  members = new Map<string, CapsuleDockerObservation>();
  startedOrder: string[] = [];
  private n = 0;
  constructor(private readonly exitCodeOf: (name: string, run: number) => number | 'runs') {}
  private runs = new Map<string, number>();
  view(): CapsuleDocker {
    return { sandbox: this.sandbox, members: new Map(this.members) };
  }
  start(name: string): void {
    const run = (this.runs.get(name) ?? 0) + 1;
    this.runs.set(name, run);
    this.startedOrder.push(name);
    const code = this.exitCodeOf(name, run);
    const d = this.members.get(name)!;
    this.members.set(name, code === 'runs' ? { ...d, state: 'running' } : { ...d, state: 'exited', exitCode: code });
  }
  create(name: string): void {
    this.members.set(name, { dockerId: `d${++this.n}`, state: 'created' as DockerState, exitCode: 0 });
  }
}

function drive(s0: CapsuleState, docker: FakeDocker, steps = 200): { state: CapsuleState; records: string[] } {
  let s = s0;
  const records: string[] = [];
  const record = (e: CapsuleEvent) => {
    const d = decideCapsule({ type: 'RecordCapsuleObservation', observation: e }, s);
    if ('rejected' in d) throw new Error(`illegal ${e.type} from ${s.status}: ${d.rejected.message}`);
    for (const ev of d.events) s = evolveCapsule(s, { ...ev, seq: s.seq + 1 });
    records.push(e.type);
  };
  for (let i = 0; i < steps; i++) {
    const actions = diffCapsule(s, docker.view());
    if (actions.length === 0) return { state: s, records };
    for (const a of actions) {
      switch (a.type) {
        case 'record':
          record(a.observation);
          break;
        case 'create-sandbox':
          docker.sandbox = { dockerId: 'sandbox', state: 'running', exitCode: 0 };
          break;
        case 'start-sandbox':
          docker.sandbox = { ...docker.sandbox!, state: 'running' };
          break;
        case 'create-member':
          docker.create(a.member.name);
          docker.start(a.member.name);
          record({ type: 'CapsuleMemberStarted', data: { member: a.member.name } });
          break;
        case 'start-member':
          docker.start(a.member);
          record({ type: 'CapsuleMemberStarted', data: { member: a.member } });
          break;
        case 'remove-members':
          docker.members.clear();
          break;
        case 'remove-all':
          docker.members.clear();
          docker.sandbox = null;
          break;
      }
    }
  }
  throw new Error(`did not converge; records: ${records.join(', ')}`);
}

function placed(sp: CapsuleSpec): CapsuleState {
  let s = initialCapsuleState('cap-1');
  s = evolveCapsule(s, { type: 'CapsuleCreateRequested', data: { spec: sp }, seq: 1 });
  return evolveCapsule(s, { type: 'CapsuleScheduled', data: { host: 'h1', claim: { cpu: 0, memoryMiB: 0, diskGb: 0 } }, seq: 2 });
}

describe('capsule diff', () => {
  it('sandbox, then init containers to completion in order, then every container; Running when all run', () => {
    const docker = new FakeDocker((name) => (name.startsWith('init') ? 0 : 'runs'));
    const { state, records } = drive(placed(spec({ inits: 2, containers: 2 })), docker);
    expect(state.status).toBe('Running');
    expect(state.initDone).toBe(true);
    expect(docker.startedOrder).toEqual(['init-0', 'init-1', 'c-0', 'c-1']);
    expect(records.indexOf('CapsuleInitCompleted')).toBeGreaterThan(records.lastIndexOf('CapsuleMemberExited'));
    expect(records.filter((r) => r === 'CapsuleSandboxCreated')).toHaveLength(1);
  });

  it('a failing init container is retried under Always (on-failure) and fails the capsule under Never', () => {
    const flaky = new FakeDocker((name, run) => (name === 'init-0' ? (run < 3 ? 1 : 0) : 'runs'));
    expect(drive(placed(spec({ policy: 'always' })), flaky).state.status).toBe('Running');
    expect(flaky.startedOrder.filter((n) => n === 'init-0')).toHaveLength(3);
    const broken = new FakeDocker((name) => (name === 'init-0' ? 2 : 'runs'));
    const { state } = drive(placed(spec({ policy: 'no' })), broken);
    expect(state.status).toBe('Error');
    expect(state.statusReason).toBe('init container init-0 exited with 2');
    expect(broken.startedOrder).toEqual(['init-0']);
  });

  it('members that exit are restarted as the policy says; Stopped when none runs and none will', () => {
    const once = new FakeDocker((name, run) => (name.startsWith('init') ? 0 : run === 1 ? 0 : 'runs'));
    expect(drive(placed(spec({ policy: 'always' })), once).state.status).toBe('Running');
    const never = new FakeDocker((name) => (name.startsWith('init') ? 0 : 0));
    const { state, records } = drive(placed(spec({ policy: 'no' })), never);
    expect(state.status).toBe('Stopped');
    expect(records.filter((r) => r === 'CapsuleMemberExited')).toHaveLength(3);
    const onFailure = new FakeDocker((name, run) => (name.startsWith('init') ? 0 : name === 'c-0' && run === 1 ? 1 : 0));
    const r2 = drive(placed(spec({ policy: 'on-failure' })), onFailure);
    expect(r2.state.status).toBe('Stopped');
    expect(onFailure.startedOrder.filter((n) => n === 'c-0')).toHaveLength(2);
  });

  it('after a crash between a start and its record, the run is recorded, not repeated', () => {
    const docker = new FakeDocker((name) => (name.startsWith('init') ? 0 : 'runs'));
    let s = placed(spec({ inits: 1, containers: 1 }));
    docker.sandbox = { dockerId: 'sandbox', state: 'running', exitCode: 0 };
    s = evolveCapsule(s, { type: 'CapsuleSandboxCreated', data: { sandboxId: 'sandbox' }, seq: 3 });
    // The init container ran and exited while the actor was down: nothing recorded.
    docker.create('init-0');
    docker.start('init-0');
    const { state, records } = drive(s, docker);
    expect(records.slice(0, 3)).toEqual(['CapsuleMemberStarted', 'CapsuleMemberExited', 'CapsuleInitCompleted']);
    expect(docker.startedOrder.filter((n) => n === 'init-0')).toHaveLength(1);
    expect(state.status).toBe('Running');
  });

  it('a vanished sandbox takes its members with it and the capsule is made again; delete removes everything', () => {
    const docker = new FakeDocker((name) => (name.startsWith('init') ? 0 : 'runs'));
    let { state } = drive(placed(spec()), docker);
    docker.sandbox = null;
    ({ state } = drive(state, docker));
    expect(state.status).toBe('Running');
    expect(docker.sandbox).not.toBeNull();
    expect(docker.members.size).toBe(3 - 1); // the init container is not run again
    state = evolveCapsule(state, { type: 'CapsuleDeleteRequested', data: {}, seq: state.seq + 1 });
    const done = drive(state, docker);
    expect(done.state.status).toBe('Deleted');
    expect(docker.sandbox).toBeNull();
    expect(docker.members.size).toBe(0);
  });

  it('converges from any mix of member behaviours (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CapsuleSpec['restartPolicy']>('always', 'on-failure', 'no'),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        fc.func(fc.oneof(fc.constant<'runs'>('runs'), fc.constantFrom(0, 1, 137))),
        (policy, inits, containers, behaviour) => {
          // Runs settle eventually: after a few exits every member keeps running.
          // Init containers always finish (a "runs" for one of them is an exit 0 here).
          const docker = new FakeDocker((name, run) => {
            const v = run > 3 ? 'runs' : behaviour(name, run);
            return name.startsWith('init') && v === 'runs' ? 0 : v;
          });
          const { state } = drive(placed(spec({ policy, inits, containers })), docker, 400);
          expect(['Running', 'Stopped', 'Error']).toContain(state.status);
          // Init containers ran in order and before any container.
          const order = docker.startedOrder;
          const firstContainer = order.findIndex((n) => n.startsWith('c-'));
          if (firstContainer >= 0) expect(order.slice(firstContainer).some((n) => n.startsWith('init'))).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('capsule members by name', () => {
  it('a member named like an Object.prototype member has its own state, not the prototype\'s', () => {
    const fresh = initialCapsuleState('c');
    for (const name of ['constructor', 'toString', '__proto__', 'valueOf']) {
      expect(capsuleMember(fresh, name), name).toEqual({ running: false, exitCode: null, exits: 0 });
      expect(capsuleMember({ ...fresh, members: {} }, name), name).toEqual({ running: false, exitCode: null, exits: 0 });
    }
  });
});
