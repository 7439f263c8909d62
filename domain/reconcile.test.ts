import { describe, expect, it } from 'vitest';
import type { ContainerCommand } from './container-decider.js';
import type { ContainerObservation } from '../events/index.js';
import { completionOf, diffContainer, diffHost, normalizeSignal, pullPlan, startsWhenCreated, type DockerObservation } from './reconcile.js';
import { runCommands, specOf } from '../test/support/container-gen.js';

// given (commands already handled) / when (Docker shows ...) / then (actions)
const UUID = '11111111-2222-3333-4444-555555555555';
const given = (...cmds: ContainerCommand[]) => runCommands(UUID, cmds).live;
const create = (run = true, spec = specOf()): ContainerCommand => ({ type: 'CreateContainer', spec, run });
const schedule: ContainerCommand = { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } };
const observe = (observation: ContainerObservation): ContainerCommand => ({ type: 'RecordObservation', observation });
const created = observe({ type: 'ContainerCreated', data: { dockerId: 'd1' } });
const started = observe({ type: 'ContainerStarted', data: { dockerId: 'd1' } });
const exitedWith = (exitCode: number, oomKilled = false) => observe({ type: 'ContainerExited', data: { exitCode, oomKilled } });
const running = [create(), schedule, created, started];

function docker(state: DockerObservation['state'], over: Partial<DockerObservation> = {}): DockerObservation {
  return { dockerId: 'd1', state, exitCode: 0, oomKilled: false, image: 'zun-base:latest', cpu: 1, memoryMiB: 128, generation: 0, ...over };
}

describe('diffContainer: creating', () => {
  it('does nothing for a container that is not placed', () => {
    expect(diffContainer(given(create()), null)).toEqual([]);
  });

  it('creates a placed container that Docker does not have, with its pull policy', () => {
    expect(diffContainer(given(create(), schedule), null)).toEqual([
      { type: 'create', image: 'zun-base:latest', pullPolicy: 'ifnotpresent', generation: 0 },
    ]);
  });

  it('adopts a container made before a crash instead of creating a second one', () => {
    expect(diffContainer(given(create(false), schedule), docker('created'))).toEqual([
      { type: 'record', observation: { type: 'ContainerCreated', data: { dockerId: 'd1' } } },
    ]);
    expect(diffContainer(given(create(), schedule), docker('running'))).toEqual([
      { type: 'record', observation: { type: 'ContainerStarted', data: { dockerId: 'd1' } } },
    ]);
  });

  it('starts a container created to run before recording it: ContainerStarted is its one record', () => {
    const s = given(create(true), schedule);
    expect(startsWhenCreated(s)).toBe(true);
    expect(diffContainer(s, docker('created'))).toEqual([{ type: 'start', dockerId: 'd1' }]);
    // Not without run, or after a failed start (Error): then it is recorded first.
    expect(startsWhenCreated(given(create(false), schedule))).toBe(false);
    const failed = given(create(true), schedule, observe({ type: 'ContainerOperationFailed', data: { operation: 'start', reason: 'boom' } }));
    expect(failed.status).toBe('Error');
    expect(diffContainer(failed, docker('created'))).toEqual([
      { type: 'record', observation: { type: 'ContainerCreated', data: { dockerId: 'd1' } } },
    ]);
  });

  it('a refused start puts the container on hold, unless its restart policy keeps it running: then it is started again', () => {
    const refused = observe({ type: 'ContainerOperationFailed', data: { operation: 'start', reason: 'refused' } });
    const always = specOf({ restartPolicy: { name: 'always', maximumRetryCount: 0 } });
    const kept = given(create(true, always), schedule, created, started, exitedWith(143), refused);
    expect(kept).toMatchObject({ status: 'Error', statusReason: 'refused', desired: { power: 'running' } });
    expect(diffContainer(kept, docker('exited'))).toEqual([{ type: 'start', dockerId: 'd1' }]);
    const held = given(...running, exitedWith(1), { type: 'StartContainer' }, refused);
    expect(held).toMatchObject({ status: 'Error', desired: { power: 'hold' } });
    expect(diffContainer(held, docker('exited'))).toEqual([]);
  });

  it('starts a created container when run was asked for, and leaves it when not', () => {
    expect(diffContainer(given(create(true), schedule, created), docker('created'))).toEqual([{ type: 'start', dockerId: 'd1' }]);
    expect(diffContainer(given(create(false), schedule, created), docker('created'))).toEqual([]);
  });

  it('is done when Docker runs what the log says runs', () => {
    expect(diffContainer(given(...running), docker('running'))).toEqual([]);
  });
});

describe('diffContainer: drift', () => {
  it('records an exit it did not cause, with the exit code and OOM flag', () => {
    expect(diffContainer(given(...running), docker('exited', { exitCode: 137, oomKilled: true }))).toEqual([
      { type: 'record', observation: { type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } } },
    ]);
  });

  it('restarts after an unexpected exit when the restart policy says so (the fold keeps it wanted running)', () => {
    const s = given(create(true, specOf({ restartPolicy: { name: 'always', maximumRetryCount: 0 } })), schedule, created, started, exitedWith(1));
    expect(s.status).toBe('Stopped');
    expect(diffContainer(s, docker('exited', { exitCode: 1 }))).toEqual([{ type: 'start', dockerId: 'd1' }]);
  });

  it('leaves it stopped after an unexpected exit under policy "no"', () => {
    const s = given(...running, exitedWith(0));
    expect(diffContainer(s, docker('exited'))).toEqual([]);
  });

  it('records a pause and an unpause done behind its back', () => {
    expect(diffContainer(given(...running), docker('paused'))).toEqual([{ type: 'record', observation: { type: 'ContainerPaused', data: {} } }]);
    const paused = given(...running, { type: 'PauseContainer' }, observe({ type: 'ContainerPaused', data: {} }));
    expect(diffContainer(paused, docker('running'))).toEqual([{ type: 'record', observation: { type: 'ContainerUnpaused', data: {} } }]);
  });

  it('accepts a pause behind its back (as Zun shows it): Paused, and not unpaused; an unpause behind its back likewise', () => {
    const paused = given(...running, observe({ type: 'ContainerPaused', data: {} }));
    expect([paused.status, paused.desired.power, paused.taskState]).toEqual(['Paused', 'paused', null]);
    expect(diffContainer(paused, docker('paused'))).toEqual([]);
    // The API's unpause then works as usual.
    const unpausing = given(...running, observe({ type: 'ContainerPaused', data: {} }), { type: 'UnpauseContainer' });
    expect(diffContainer(unpausing, docker('paused'))).toEqual([{ type: 'unpause', dockerId: 'd1' }]);
    // Paused through the API, unpaused behind its back: Running, and not paused again.
    const resumed = given(...running, { type: 'PauseContainer' }, observe({ type: 'ContainerPaused', data: {} }), observe({ type: 'ContainerUnpaused', data: {} }));
    expect([resumed.status, resumed.desired.power, resumed.taskState]).toEqual(['Running', 'running', null]);
    expect(diffContainer(resumed, docker('running'))).toEqual([]);
  });

  it('a pause seen while a reboot or a stop is pending does not change what is wanted', () => {
    const stopping = given(...running, { type: 'StopContainer', timeout: 5 }, observe({ type: 'ContainerPaused', data: {} }));
    expect(stopping.desired.power).toBe('stopped');
    expect(diffContainer(stopping, docker('paused'))).toEqual([{ type: 'stop', dockerId: 'd1', timeout: 5 }]);
    const rebooting = given(...running, { type: 'RebootContainer', timeout: 5 }, observe({ type: 'ContainerPaused', data: {} }));
    expect(rebooting.desired.power).toBe('running');
  });

  it('records a container removed behind its back as missing', () => {
    expect(diffContainer(given(...running), null)).toEqual([{ type: 'record', observation: { type: 'ContainerMissing', data: {} } }]);
  });

  it('after "missing" without auto-heal it waits (Error, nothing to do); with auto-heal it creates again', () => {
    const lost = given(...running, observe({ type: 'ContainerMissing', data: {} }));
    expect([lost.status, lost.statusReason]).toEqual(['Error', `No such container: ${UUID} in docker`]);
    expect(diffContainer(lost, null)).toEqual([]);
    const healed = given(create(true, specOf({ autoHeal: true })), schedule, created, started, observe({ type: 'ContainerMissing', data: {} }));
    expect(diffContainer(healed, null)).toEqual([{ type: 'create', image: 'zun-base:latest', pullPolicy: 'ifnotpresent', generation: 0 }]);
  });

  it('records what Docker really shows when the host was lost (Unknown)', () => {
    const lost = given(...running, { type: 'MarkHostLost', host: 'h1' });
    expect(lost.status).toBe('Unknown');
    expect(diffContainer(lost, docker('running'))).toEqual([
      { type: 'record', observation: { type: 'ContainerStarted', data: { dockerId: 'd1' } } },
    ]);
    expect(diffContainer(lost, docker('exited', { exitCode: 2 }))).toEqual([
      { type: 'record', observation: { type: 'ContainerExited', data: { exitCode: 2, oomKilled: false } } },
    ]);
    expect(diffContainer(lost, null)).toEqual([{ type: 'record', observation: { type: 'ContainerMissing', data: {} } }]);
  });

  it('leaves Error alone while Docker shows it stopped or created', () => {
    const failed = given(...running, observe({ type: 'ContainerOperationFailed', data: { operation: 'stop', reason: 'boom' } }));
    expect(diffContainer(failed, docker('exited'))).toEqual([]);
    expect(diffContainer(failed, docker('created'))).toEqual([]);
  });

  it('waits while Docker is between states', () => {
    expect(diffContainer(given(...running), docker('restarting'))).toEqual([]);
    expect(diffContainer(given(...running), docker('removing'))).toEqual([]);
  });
});

describe('diffContainer: user actions', () => {
  it('stop: docker stop with the requested timeout, 10 s by default', () => {
    expect(diffContainer(given(...running, { type: 'StopContainer', timeout: 3 }), docker('running'))).toEqual([
      { type: 'stop', dockerId: 'd1', timeout: 3 },
    ]);
    expect(diffContainer(given(...running, { type: 'StopContainer', timeout: null }), docker('running'))).toEqual([
      { type: 'stop', dockerId: 'd1', timeout: 10 },
    ]);
  });

  it('pause and unpause', () => {
    expect(diffContainer(given(...running, { type: 'PauseContainer' }), docker('running'))).toEqual([{ type: 'pause', dockerId: 'd1' }]);
    const paused = given(...running, { type: 'PauseContainer' }, observe({ type: 'ContainerPaused', data: {} }), { type: 'UnpauseContainer' });
    expect(diffContainer(paused, docker('paused'))).toEqual([{ type: 'unpause', dockerId: 'd1' }]);
  });

  it('start from Stopped', () => {
    const s = given(...running, { type: 'StopContainer', timeout: 1 }, exitedWith(143), { type: 'StartContainer' });
    expect(diffContainer(s, docker('exited', { exitCode: 143 }))).toEqual([{ type: 'start', dockerId: 'd1' }]);
  });

  it('reboot: restart with the generation; Restarting holds even though Docker says running', () => {
    const s = given(...running, { type: 'RebootContainer', timeout: 2 });
    expect(s.status).toBe('Restarting');
    expect(diffContainer(s, docker('running'))).toEqual([{ type: 'restart', dockerId: 'd1', timeout: 2, generation: 1 }]);
    const done = given(...running, { type: 'RebootContainer', timeout: 2 }, observe({ type: 'ContainerRestarted', data: { generation: 1 } }));
    expect(diffContainer(done, docker('running'))).toEqual([]);
  });

  it('kill: the normalised signal and generation; a kill of a stopped container is settled without Docker', () => {
    expect(diffContainer(given(...running, { type: 'KillContainer', signal: 'term' }), docker('running'))).toEqual([
      { type: 'kill', dockerId: 'd1', signal: 'SIGTERM', generation: 1 },
    ]);
    const s = given(...running, { type: 'KillContainer', signal: null }, exitedWith(1));
    expect(diffContainer(s, docker('exited', { exitCode: 1 }))).toEqual([
      { type: 'record', observation: { type: 'ContainerSignalled', data: { generation: 1, signal: 'SIGKILL' } } },
    ]);
  });

  it('rebuild: replaces the container with one of the new generation and image', () => {
    const s = given(...running, { type: 'RebuildContainer', image: 'zun-base:v2', imageDriver: null });
    expect(s.status).toBe('Rebuilding');
    expect(diffContainer(s, docker('running'))).toEqual([
      { type: 'rebuild', dockerId: 'd1', image: 'zun-base:v2', pullPolicy: 'ifnotpresent', generation: 1 },
    ]);
  });

  it('rebuild after a crash: a container stamped with the pending generation is adopted, not rebuilt again', () => {
    const s = given(...running, { type: 'RebuildContainer', image: 'zun-base:v2', imageDriver: null });
    expect(diffContainer(s, docker('created', { dockerId: 'd2', generation: 1 }))).toEqual([
      { type: 'record', observation: { type: 'ContainerRebuilt', data: { generation: 1, dockerId: 'd2' } } },
    ]);
    // removed the old one, died before creating the new one: finish the rebuild, do not call it missing
    expect(diffContainer(s, null)).toEqual([
      { type: 'rebuild', dockerId: null, image: 'zun-base:v2', pullPolicy: 'ifnotpresent', generation: 1 },
    ]);
  });

  it('rebuilt container is started again when it was running', () => {
    const s = given(...running, { type: 'RebuildContainer', image: 'zun-base:v2', imageDriver: null }, observe({ type: 'ContainerRebuilt', data: { generation: 1, dockerId: 'd2' } }));
    expect(s.status).toBe('Created');
    expect(diffContainer(s, docker('created', { dockerId: 'd2', generation: 1 }))).toEqual([{ type: 'start', dockerId: 'd2' }]);
  });

  it('update: docker update when the applied limits differ, after any operation', () => {
    const s = given(...running, { type: 'UpdateContainer', patch: { cpu: 0.5, memory: 256 } });
    expect(diffContainer(s, docker('running'))).toEqual([{ type: 'update', dockerId: 'd1', cpu: 0.5, memoryMiB: 256 }]);
    const stop = given(...running, { type: 'UpdateContainer', patch: { cpu: 2 } }, { type: 'StopContainer', timeout: 1 });
    expect(diffContainer(stop, docker('running'))).toEqual([
      { type: 'stop', dockerId: 'd1', timeout: 1 },
      { type: 'update', dockerId: 'd1', cpu: 2, memoryMiB: 128 },
    ]);
  });
});

describe('diffContainer: commit', () => {
  const commit = (repository: string, tag = 'latest', imageUuid = `img-${repository}`): ContainerCommand => ({ type: 'CommitContainer', repository, tag, imageUuid });
  const committed = (generation: number, repository: string) =>
    observe({ type: 'ContainerCommitted', data: { generation, repository, tag: 'latest', imageUuid: `img-${repository}`, imageId: `sha256:${generation}` } });

  it('commits before any other operation, oldest first, one generation after another; the status never moves', () => {
    const s = given(...running, commit('a'), commit('b'), { type: 'StopContainer', timeout: 1 });
    expect(s.status).toBe('Running');
    expect(diffContainer(s, docker('running'))).toEqual([
      { type: 'commit', dockerId: 'd1', generation: 1, repository: 'a', tag: 'latest', imageUuid: 'img-a' },
    ]);
    const one = given(...running, commit('a'), commit('b'), { type: 'StopContainer', timeout: 1 }, committed(1, 'a'));
    expect(diffContainer(one, docker('running'))).toEqual([
      { type: 'commit', dockerId: 'd1', generation: 2, repository: 'b', tag: 'latest', imageUuid: 'img-b' },
    ]);
    const refused = given(...running, commit('a'), commit('b'), { type: 'StopContainer', timeout: 1 }, committed(1, 'a'),
      observe({ type: 'ContainerCommitFailed', data: { generation: 2, reason: 'no space left on device' } }));
    expect([refused.status, refused.statusReason, refused.observed.commitDone]).toEqual(['Running', null, 2]);
    expect(diffContainer(refused, docker('running'))).toEqual([{ type: 'stop', dockerId: 'd1', timeout: 1 }]);
  });

  it('a commit asked for before a rebuild is made of the container before it is rebuilt', () => {
    const s = given(...running, commit('a'), { type: 'RebuildContainer', image: 'zun-base:v2', imageDriver: null });
    expect(s.status).toBe('Rebuilding');
    expect(diffContainer(s, docker('running'))).toMatchObject([{ type: 'commit', dockerId: 'd1', generation: 1 }]);
    // While the rebuild is under way, no commit is accepted.
    expect(given(...running, { type: 'RebuildContainer', image: 'zun-base:v2', imageDriver: null }, commit('a')).desired.commitGen).toBe(0);
  });

  it('a paused or stopped container is committed as it is; one in transition is waited for', () => {
    const paused = given(...running, { type: 'PauseContainer' }, observe({ type: 'ContainerPaused', data: {} }), commit('p'));
    expect(diffContainer(paused, docker('paused'))).toMatchObject([{ type: 'commit', generation: 1, repository: 'p' }]);
    expect(diffContainer(paused, docker('removing'))).toEqual([]);
  });

  it('a container gone from Docker voids its pending commits', () => {
    const s = given(...running, commit('a'), commit('b'));
    expect(diffContainer(s, null)).toEqual([{ type: 'record', observation: { type: 'ContainerMissing', data: {} } }]);
    const missing = given(...running, commit('a'), commit('b'), observe({ type: 'ContainerMissing', data: {} }));
    expect([missing.desired.commits, missing.observed.commitDone]).toEqual([[], 2]);
  });

  it('refused by the machine outside Running, Stopped and Paused, or once a delete is under way', () => {
    expect(given(create(false), schedule, created, commit('a')).desired.commitGen).toBe(0);
    expect(given(...running, { type: 'DeleteContainer', stop: true, force: false }, commit('a')).desired.commitGen).toBe(0);
  });
});

describe('diffContainer: delete', () => {
  it('removes, then records the deletion once Docker has it no more', () => {
    const s = given(...running, { type: 'StopContainer', timeout: 1 }, exitedWith(0), { type: 'DeleteContainer', stop: false, force: false });
    expect(s.status).toBe('Deleting');
    expect(diffContainer(s, docker('exited'))).toEqual([{ type: 'remove', dockerId: 'd1' }]);
    expect(diffContainer(s, null)).toEqual([{ type: 'record', observation: { type: 'ContainerDeleted', data: {} } }]);
  });

  it('delete?stop=true of a running container stops it gracefully first', () => {
    const s = given(...running, { type: 'DeleteContainer', stop: true, force: false });
    expect(s.status).toBe('Running');
    expect(diffContainer(s, docker('running'))).toEqual([{ type: 'stop', dockerId: 'd1', timeout: 10 }]);
    expect(diffContainer(s, docker('exited', { exitCode: 143 }))).toEqual([
      { type: 'record', observation: { type: 'ContainerExited', data: { exitCode: 143, oomKilled: false } } },
    ]);
    const after = given(...running, { type: 'DeleteContainer', stop: true, force: false }, exitedWith(143));
    expect(after.status).toBe('Deleting');
    expect(diffContainer(after, docker('exited'))).toEqual([{ type: 'remove', dockerId: 'd1' }]);
  });

  it('delete?force=true removes a running container at once', () => {
    const s = given(...running, { type: 'DeleteContainer', stop: false, force: true });
    expect(diffContainer(s, docker('running'))).toEqual([{ type: 'remove', dockerId: 'd1' }]);
  });

  it('a Deleted container still in Docker is removed', () => {
    const s = given(...running, { type: 'DeleteContainer', stop: false, force: true }, observe({ type: 'ContainerDeleted', data: {} }));
    expect(s.status).toBe('Deleted');
    expect(diffContainer(s, docker('running'))).toEqual([{ type: 'remove', dockerId: 'd1' }]);
    expect(diffContainer(s, null)).toEqual([]);
  });

  it('auto_remove: an exit leads to removal', () => {
    const s = given(create(true, specOf({ autoRemove: true })), schedule, created, started, exitedWith(0));
    expect(s.desired.power).toBe('deleted');
    expect(diffContainer(s, docker('exited'))).toEqual([{ type: 'remove', dockerId: 'd1' }]);
  });
});

describe('completionOf', () => {
  it('names what a Docker operation carried out that its state cannot show', () => {
    expect(completionOf({ type: 'create', image: 'i', pullPolicy: 'never', generation: 0 }, 'd9')).toEqual({ type: 'ContainerCreated', data: { dockerId: 'd9' } });
    expect(completionOf({ type: 'start', dockerId: 'd1' }, 'd1')).toEqual({ type: 'ContainerStarted', data: { dockerId: 'd1' } });
    expect(completionOf({ type: 'restart', dockerId: 'd1', timeout: 1, generation: 3 }, 'd1')).toEqual({ type: 'ContainerRestarted', data: { generation: 3 } });
    expect(completionOf({ type: 'kill', dockerId: 'd1', signal: 'SIGKILL', generation: 2 }, 'd1')).toEqual({
      type: 'ContainerSignalled',
      data: { generation: 2, signal: 'SIGKILL' },
    });
    expect(completionOf({ type: 'rebuild', dockerId: 'd1', image: 'i', pullPolicy: 'never', generation: 1 }, 'd2')).toEqual({
      type: 'ContainerRebuilt',
      data: { generation: 1, dockerId: 'd2' },
    });
    const commit = { type: 'commit', dockerId: 'd1', generation: 4, repository: 'r', tag: 't', imageUuid: 'u' } as const;
    expect(completionOf(commit, 'd1', 'sha256:9')).toEqual({
      type: 'ContainerCommitted',
      data: { generation: 4, repository: 'r', tag: 't', imageUuid: 'u', imageId: 'sha256:9' },
    });
    expect(completionOf(commit, 'd1')).toBeNull();
    expect(completionOf({ type: 'stop', dockerId: 'd1', timeout: 1 }, 'd1')).toBeNull();
    expect(completionOf({ type: 'remove', dockerId: 'd1' }, 'd1')).toBeNull();
  });
});

describe('pullPlan: Zun pull policies against local images (no registry)', () => {
  it.each([
    ['never', true, 'none'],
    ['never', false, 'none'],
    ['ifnotpresent', true, 'none'],
    ['ifnotpresent', false, 'required'],
    ['always', true, 'best-effort'],
    ['always', false, 'required'],
  ] as const)('%s with image present=%s -> %s', (policy, present, plan) => {
    expect(pullPlan(policy, present)).toBe(plan);
  });
});

describe('normalizeSignal', () => {
  it.each([
    [null, 'SIGKILL'],
    ['None', 'SIGKILL'],
    ['', 'SIGKILL'],
    ['kill', 'SIGKILL'],
    ['KILL', 'SIGKILL'],
    ['SIGTERM', 'SIGTERM'],
    ['9', '9'],
  ] as const)('%s -> %s', (given, want) => {
    expect(normalizeSignal(given)).toBe(want);
  });
});

describe('diffHost: orphans', () => {
  const c = (uuid: string) => ({ dockerId: `d-${uuid}`, uuid });
  it('suspects an undesired container first and removes it only after the grace period', () => {
    const first = diffHost(new Set(['a']), [c('a'), c('b')], new Map(), 1_000, 5_000);
    expect(first.remove).toEqual([]);
    expect([...first.suspects]).toEqual([['b', 1_000]]);
    const later = diffHost(new Set(['a']), [c('a'), c('b')], first.suspects, 6_000, 5_000);
    expect(later.remove).toEqual([c('b')]);
  });

  it('forgets a suspect that is desired again', () => {
    const first = diffHost(new Set(), [c('b')], new Map(), 0, 5_000);
    const back = diffHost(new Set(['b']), [c('b')], first.suspects, 10_000, 5_000);
    expect(back.remove).toEqual([]);
    expect(back.suspects.size).toBe(0);
  });

  it('with no grace removes at once', () => {
    expect(diffHost(new Set(), [c('x')], new Map(), 0, 0).remove).toEqual([c('x')]);
  });
});
