/**
 * fast-check generators for container commands and a tiny in-memory command
 * loop over the pure core (decide + evolve), used by the property tests.
 */
import fc from 'fast-check';
import type { ContainerEvent, ContainerSpec, RecordedEvent } from '../../events/index.js';
import type { ContainerCommand } from '../../domain/container-decider.js';
import { decideContainer } from '../../domain/container-decider.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';

export function specOf(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: 'c1', image: 'zun-base:latest', command: ['sleep', '3600'], entrypoint: null, cpu: 1, memory: 128, disk: null,
    workdir: null, hostname: null, environment: {}, labels: {}, imageDriver: 'docker', imagePullPolicy: 'ifnotpresent',
    restartPolicy: { name: 'no', maximumRetryCount: 0 }, interactive: false, tty: false, autoRemove: false, autoHeal: false,
    runtime: null, privileged: false, healthcheck: null, exposedPorts: [], securityGroups: [], cpuPolicy: 'shared',
    registryId: null, availabilityZone: null, hints: {}, requestedHost: null, nets: [], mounts: [],
    ...overrides,
  };
}

const arbSpec = fc.record({
  restartPolicy: fc.oneof(
    fc.constant({ name: 'no' as const, maximumRetryCount: 0 }),
    fc.constant({ name: 'always' as const, maximumRetryCount: 0 }),
    fc.constant({ name: 'unless-stopped' as const, maximumRetryCount: 0 }),
    fc.integer({ min: 0, max: 3 }).map((n) => ({ name: 'on-failure' as const, maximumRetryCount: n })),
  ),
  autoRemove: fc.boolean(),
  autoHeal: fc.boolean(),
}).map((o) => specOf(o));

export const arbObservation: fc.Arbitrary<ContainerCommand> = fc
  .oneof(
    fc.constant({ type: 'ContainerCreated', data: { dockerId: 'd1' } }),
    fc.constant({ type: 'ContainerStarted', data: { dockerId: 'd1' } }),
    fc.record({ exitCode: fc.constantFrom(0, 1, 137), oomKilled: fc.boolean() }).map((d) => ({ type: 'ContainerExited', data: d })),
    fc.constant({ type: 'ContainerPaused', data: {} }),
    fc.constant({ type: 'ContainerUnpaused', data: {} }),
    fc.integer({ min: 1, max: 3 }).map((g) => ({ type: 'ContainerRestarted', data: { generation: g } })),
    fc.integer({ min: 1, max: 3 }).map((g) => ({ type: 'ContainerSignalled', data: { generation: g, signal: 'SIGKILL' } })),
    fc.integer({ min: 1, max: 3 }).map((g) => ({ type: 'ContainerRebuilt', data: { generation: g, dockerId: 'd2' } })),
    fc.constant({ type: 'ContainerMissing', data: {} }),
    fc.constant({ type: 'ContainerOperationFailed', data: { operation: 'start', reason: 'Docker internal error' } }),
    fc.integer({ min: 1, max: 3 }).map((g) => ({
      type: 'ContainerCommitted',
      data: { generation: g, repository: 'team/web', tag: 'v1', imageUuid: 'img', imageId: `sha256:${g}` },
    })),
    fc.integer({ min: 1, max: 3 }).map((g) => ({ type: 'ContainerCommitFailed', data: { generation: g, reason: 'no space left on device' } })),
    fc.constant({ type: 'ContainerDeleted', data: {} }),
  )
  .map((observation) => ({ type: 'RecordObservation', observation }) as ContainerCommand);

export const arbCommand: fc.Arbitrary<ContainerCommand> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ spec: arbSpec, run: fc.boolean() }).map((r) => ({ type: 'CreateContainer' as const, ...r })) },
  { weight: 2, arbitrary: fc.constantFrom('h1', 'h2').map((host) => ({ type: 'ScheduleContainer' as const, host, claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } })) },
  { weight: 1, arbitrary: fc.constant({ type: 'FailScheduling' as const, reason: 'There are not enough hosts available.' }) },
  { weight: 2, arbitrary: fc.constant({ type: 'StartContainer' as const }) },
  { weight: 2, arbitrary: fc.constant({ type: 'StopContainer' as const, timeout: 10 }) },
  { weight: 1, arbitrary: fc.constant({ type: 'RebootContainer' as const, timeout: 10 }) },
  { weight: 1, arbitrary: fc.constant({ type: 'PauseContainer' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'UnpauseContainer' as const }) },
  { weight: 1, arbitrary: fc.constantFrom('SIGKILL', null).map((signal) => ({ type: 'KillContainer' as const, signal })) },
  { weight: 1, arbitrary: fc.constant({ type: 'RebuildContainer' as const, image: 'zun-base:v2', imageDriver: null }) },
  { weight: 1, arbitrary: fc.record({ cpu: fc.constantFrom(0.5, 2), name: fc.constantFrom('x1', 'x2') }).map((patch) => ({ type: 'UpdateContainer' as const, patch })) },
  { weight: 1, arbitrary: fc.record({ stop: fc.boolean(), force: fc.boolean() }).map((r) => ({ type: 'DeleteContainer' as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ type: 'MarkHostLost' as const, host: 'h1' }) },
  { weight: 1, arbitrary: fc.constantFrom('a', 'b').map((repository) => ({ type: 'CommitContainer' as const, repository, tag: 'latest', imageUuid: `img-${repository}` })) },
  { weight: 6, arbitrary: arbObservation },
);

/** A command sequence that starts with a create, so most of it is meaningful. */
export const arbHistory = fc
  .tuple(fc.record({ spec: arbSpec, run: fc.boolean() }), fc.array(arbCommand, { maxLength: 40 }))
  .map(([create, rest]) => [{ type: 'CreateContainer' as const, ...create }, ...rest] as ContainerCommand[]);

export interface Run {
  live: ContainerState;
  log: RecordedEvent<ContainerEvent>[];
  outcomes: { cmd: ContainerCommand; before: ContainerState; accepted: boolean; events: readonly ContainerEvent[] }[];
}

/** Runs commands against the pure core, as the services do, recording the log. */
export function runCommands(uuid: string, cmds: readonly ContainerCommand[]): Run {
  let live = initialContainerState(uuid);
  const log: RecordedEvent<ContainerEvent>[] = [];
  const outcomes: Run['outcomes'] = [];
  let seq = 0;
  for (const cmd of cmds) {
    const before = live;
    const d = decideContainer(cmd, live);
    if ('rejected' in d) {
      outcomes.push({ cmd, before, accepted: false, events: [] });
      continue;
    }
    for (const e of d.events) {
      seq++;
      const rec = {
        ...e,
        id: `e${seq}`, schemaVersion: 1, aggregateKind: 'container', aggregateId: uuid, projectId: 'p1', userId: 'u1',
        requestId: `req-${seq}`, correlationId: `req-${seq}`, causationId: null,
        occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), seq,
      } as RecordedEvent<ContainerEvent>;
      log.push(rec);
      live = evolveContainer(live, rec);
    }
    outcomes.push({ cmd, before, accepted: true, events: d.events });
  }
  return { live, log, outcomes };
}
