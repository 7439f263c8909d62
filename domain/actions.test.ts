import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ContainerEvent, RecordedEvent } from '../events/index.js';
import { arbHistory, specOf } from '../test/support/container-gen.js';
import { deriveContainerActions } from './actions.js';
import { decideContainer, type ContainerCommand } from './container-decider.js';
import { desiredNets, evolveContainer, initialContainerState } from './container.js';

const UUID = '11111111-2222-3333-4444-555555555555';
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

/** Runs commands as the services do: one request id per command (its events share it). */
function history(cmds: readonly ContainerCommand[]): RecordedEvent[] {
  let s = initialContainerState(UUID);
  const log: RecordedEvent[] = [];
  cmds.forEach((cmd, i) => {
    const d = decideContainer(cmd, s);
    if ('rejected' in d) return;
    for (const e of d.events) {
      const rec = {
        ...e,
        id: `e${log.length + 1}`,
        schemaVersion: 1,
        aggregateKind: 'container',
        aggregateId: UUID,
        projectId: 'p1',
        userId: cmd.type === 'RecordObservation' ? 'host' : 'u1',
        requestId: `req-${i + 1}`,
        correlationId: `req-${i + 1}`,
        causationId: null,
        occurredAt: at(i + 1),
        seq: log.length + 1,
      } as RecordedEvent<ContainerEvent>;
      log.push(rec);
      s = evolveContainer(s, rec);
    }
  });
  return log;
}

const create = (run: boolean): ContainerCommand => ({ type: 'CreateContainer', spec: specOf(), run });
const schedule: ContainerCommand = { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } };
const obs = (observation: Extract<ContainerCommand, { type: 'RecordObservation' }>['observation']): ContainerCommand => ({
  type: 'RecordObservation',
  observation,
});
const created = obs({ type: 'ContainerCreated', data: { dockerId: 'd' } });
const started = obs({ type: 'ContainerStarted', data: { dockerId: 'd' } });
const exited = obs({ type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } });

describe('container actions from the log', () => {
  it('create with run: one action, a create step finished by ContainerCreated and a start step by ContainerStarted', () => {
    const actions = deriveContainerActions(UUID, history([create(true), schedule, created, started]));
    expect(actions).toHaveLength(1);
    const [a] = actions;
    expect(a).toMatchObject({ action: 'create', requestId: 'req-1', userId: 'u1', projectId: 'p1', startTime: at(1), finishTime: at(4), message: null });
    expect(a!.events).toEqual([
      { event: 'compute__do_container_create', startTime: at(1), finishTime: at(3), result: 'Success', detail: null },
      { event: 'compute__do_container_start', startTime: at(3), finishTime: at(4), result: 'Success', detail: null },
    ]);
  });

  it('an action stays open (finish_time null) until the host reports it done', () => {
    const actions = deriveContainerActions(UUID, history([create(false), schedule, created, { type: 'StartContainer' }]));
    expect(actions.map((a) => [a.action, a.finishTime])).toEqual([
      ['create', at(3)],
      ['start', null],
    ]);
  });

  it('stop, pause, unpause, reboot, kill and delete finish at the observation that completes them', () => {
    const actions = deriveContainerActions(
      UUID,
      history([
        create(true), schedule, created, started,
        { type: 'PauseContainer' }, obs({ type: 'ContainerPaused', data: {} }),
        { type: 'UnpauseContainer' }, obs({ type: 'ContainerUnpaused', data: {} }),
        { type: 'RebootContainer', timeout: 1 }, obs({ type: 'ContainerRestarted', data: { generation: 1 } }),
        { type: 'KillContainer', signal: 'SIGKILL' }, obs({ type: 'ContainerSignalled', data: { generation: 1, signal: 'SIGKILL' } }), exited,
        { type: 'StartContainer' }, started,
        { type: 'StopContainer', timeout: 1 }, exited,
        { type: 'DeleteContainer', stop: false, force: false }, obs({ type: 'ContainerDeleted', data: {} }),
      ]),
    );
    expect(actions.map((a) => [a.action, a.startTime, a.finishTime, a.events[0]!.result])).toEqual([
      ['create', at(1), at(4), 'Success'],
      ['pause', at(5), at(6), 'Success'],
      ['unpause', at(7), at(8), 'Success'],
      ['reboot', at(9), at(10), 'Success'],
      ['kill', at(11), at(12), 'Success'],
      ['start', at(14), at(15), 'Success'],
      ['stop', at(16), at(17), 'Success'],
      ['delete', at(18), at(19), 'Success'],
    ]);
  });

  it('commit: finished by ContainerCommitted of its generation, failed by ContainerCommitFailed of it; it supersedes nothing', () => {
    const commit = (repository: string): ContainerCommand => ({ type: 'CommitContainer', repository, tag: 'latest', imageUuid: `img-${repository}` });
    const actions = deriveContainerActions(
      UUID,
      history([
        create(true), schedule, created, started,
        { type: 'StopContainer', timeout: 1 }, commit('a'), commit('b'),
        obs({ type: 'ContainerCommitted', data: { generation: 1, repository: 'a', tag: 'latest', imageUuid: 'img-a', imageId: 'sha256:1' } }),
        obs({ type: 'ContainerCommitFailed', data: { generation: 2, reason: 'no space left on device' } }),
        exited,
      ]),
    );
    expect(actions.map((a) => [a.action, a.startTime, a.finishTime, a.message, a.events.map((e) => [e.event, e.result])])).toEqual([
      ['create', at(1), at(4), null, [['compute__do_container_create', 'Success'], ['compute__do_container_start', 'Success']]],
      ['stop', at(5), at(10), null, [['compute__do_container_stop', 'Success']]],
      ['commit', at(6), at(8), null, [['compute__do_container_commit', 'Success']]],
      ['commit', at(7), at(9), 'no space left on device', [['compute__do_container_commit', 'Error']]],
    ]);
  });

  it('a commit still pending when the container is deleted is superseded by the delete, as other actions are', () => {
    const actions = deriveContainerActions(
      UUID,
      history([
        create(true), schedule, created, started,
        { type: 'CommitContainer', repository: 'a', tag: 'latest', imageUuid: 'img-a' },
        { type: 'DeleteContainer', stop: false, force: true }, obs({ type: 'ContainerDeleted', data: {} }),
      ]),
    );
    expect(actions.map((a) => [a.action, a.finishTime, a.message])).toEqual([
      ['create', at(4), null],
      ['commit', at(6), 'Superseded by req-6'],
      ['delete', at(7), null],
    ]);
  });

  it('network_attach and network_detach: finished when the host has the container on (off) that network; Zun\'s event names', () => {
    const ref = { id: 'net-1', neutronNetId: 'net-1', name: 'n1', projectId: 'p1', cidr: '10.9.1.0/24', gateway: '10.9.1.1' };
    const attached = obs({ type: 'ContainerNetworkAttached', data: { network: 'net-1', neutronNetId: 'net-1', addresses: [] } });
    const other = obs({ type: 'ContainerNetworkAttached', data: { network: 'net-2', neutronNetId: 'net-2', addresses: [] } });
    const actions = deriveContainerActions(
      UUID,
      history([
        create(true), schedule, created, started,
        { type: 'AttachNetwork', net: { network: 'n1', resolved: ref } }, other, attached,
        { type: 'DetachNetwork', network: 'net-1' }, obs({ type: 'ContainerNetworkDetached', data: { network: 'net-1' } }),
        { type: 'AttachNetwork', net: { network: 'n1', resolved: ref } },
      ]),
    );
    expect(actions.map((a) => [a.action, a.startTime, a.finishTime, a.events.map((e) => [e.event, e.result])])).toEqual([
      ['create', at(1), at(4), [['compute__do_container_create', 'Success'], ['compute__do_container_start', 'Success']]],
      ['network_attach', at(5), at(7), [['compute__do_network_attach', 'Success']]],
      ['network_detach', at(8), at(9), [['compute__do_network_detach', 'Success']]],
      ['network_attach', at(10), null, [['compute__do_network_attach', null]]],
    ]);
  });

  it('a run recorded by ContainerStarted alone (no ContainerCreated) finishes create; a start that carries a network finishes its attach', () => {
    const ref = { id: 'net-1', neutronNetId: 'net-1', name: 'n1', projectId: 'p1', cidr: '10.9.1.0/24', gateway: '10.9.1.1' };
    const withNet = obs({
      type: 'ContainerStarted',
      data: { dockerId: 'd', networks: [{ network: 'net-1', neutronNetId: 'net-1', addresses: [] }] },
    });
    // The attach is asked for, the container dies before it is carried out, and its restart (the policy's) records the network.
    const log = history([
      { type: 'CreateContainer', spec: specOf({ restartPolicy: { name: 'always', maximumRetryCount: 0 } }), run: true }, schedule, started,
      { type: 'AttachNetwork', net: { network: 'n1', resolved: ref } },
      obs({ type: 'ContainerExited', data: { exitCode: 1, oomKilled: false } }),
      withNet,
    ]);
    const actions = deriveContainerActions(UUID, log);
    expect(actions.map((a) => [a.action, a.startTime, a.finishTime, a.events.map((e) => [e.event, e.result])])).toEqual([
      ['create', at(1), at(3), [['compute__do_container_create', 'Success'], ['compute__do_container_start', 'Success']]],
      ['network_attach', at(4), at(6), [['compute__do_network_attach', 'Success']]],
    ]);
    const state = log.reduce((s, e) => evolveContainer(s, e as RecordedEvent<ContainerEvent>), initialContainerState(UUID));
    expect(state.status).toBe('Running');
    expect(Object.keys(state.networks ?? {})).toEqual(['net-1']);
  });

  it('network_attach fails at ContainerNetworkAttachFailed for its network, with the reason, and the network is no longer wanted', () => {
    const ref = { id: 'net-1', neutronNetId: 'net-1', name: 'n1', projectId: 'p1', cidr: '10.9.1.0/24', gateway: '10.9.1.1' };
    const cmds: ContainerCommand[] = [
      create(true), schedule, created, started,
      { type: 'AttachNetwork', net: { network: 'n1', resolved: ref } },
      obs({ type: 'ContainerNetworkAttachFailed', data: { network: 'net-2', reason: 'not this one' } }),
      obs({ type: 'ContainerNetworkAttachFailed', data: { network: 'net-1', reason: 'Address already in use' } }),
    ];
    const log = history(cmds);
    const attach = deriveContainerActions(UUID, log)[1]!;
    expect(attach).toMatchObject({ action: 'network_attach', finishTime: at(7), message: 'Address already in use' });
    expect(attach.events).toEqual([{ event: 'compute__do_network_attach', startTime: at(5), finishTime: at(7), result: 'Error', detail: 'Address already in use' }]);
    const state = log.reduce((s, e) => evolveContainer(s, e as RecordedEvent<ContainerEvent>), initialContainerState(UUID));
    expect(desiredNets(state).map((n) => n.resolved?.id ?? n.network)).not.toContain('net-1');
    expect(state.status).toBe('Running');
  });

  it('a failed Docker operation fails its action with the reason as message', () => {
    const actions = deriveContainerActions(
      UUID,
      history([create(false), schedule, created, { type: 'StartContainer' }, obs({ type: 'ContainerOperationFailed', data: { operation: 'start', reason: 'no such file' } })]),
    );
    expect(actions[1]).toMatchObject({ action: 'start', finishTime: at(5), message: 'no such file' });
    expect(actions[1]!.events[0]).toMatchObject({ result: 'Error', detail: 'no such file' });
  });

  it('scheduling failure fails the create with the placement reason', () => {
    const actions = deriveContainerActions(UUID, history([create(true), { type: 'FailScheduling', reason: 'There are not enough hosts available.' }]));
    expect(actions[0]).toMatchObject({ action: 'create', finishTime: at(2), message: 'There are not enough hosts available.' });
  });

  it('delete of a container never placed finishes in its own request', () => {
    const actions = deriveContainerActions(UUID, history([create(true), { type: 'DeleteContainer', stop: false, force: true }]));
    expect(actions.map((a) => [a.action, a.finishTime, a.message])).toEqual([
      ['create', at(2), 'the container was deleted before the action completed'],
      ['delete', at(2), null],
    ]);
  });

  it('a newer request supersedes an unfinished one, except the create step', () => {
    const actions = deriveContainerActions(UUID, history([create(false), schedule, created, { type: 'StartContainer' }, { type: 'RebootContainer', timeout: 1 }, obs({ type: 'ContainerRestarted', data: { generation: 1 } })]));
    expect(actions.map((a) => [a.action, a.finishTime, a.message])).toEqual([
      ['create', at(3), null],
      ['start', at(5), 'Superseded by req-5'],
      ['reboot', at(6), null],
    ]);
  });

  it('updates are not actions; observations alone make none', () => {
    const actions = deriveContainerActions(UUID, history([create(true), schedule, created, started, { type: 'UpdateContainer', patch: { cpu: 2 } }, exited]));
    expect(actions.map((a) => a.action)).toEqual(['create']);
  });

  it('on any history: one action per request with an intent, finish never before start', () => {
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        const log = history(cmds);
        const actions = deriveContainerActions(UUID, log);
        const intents = new Set(log.filter((e) => e.type.endsWith('Requested')).map((e) => e.requestId));
        expect(actions.map((a) => a.requestId)).toEqual([...intents]);
        for (const a of actions) {
          if (a.finishTime !== null) expect(a.finishTime >= a.startTime).toBe(true);
          for (const e of a.events) if (e.finishTime !== null) expect(e.result === 'Success' || e.result === 'Error').toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
