import { describe, expect, it } from 'vitest';
import { decideContainer, type ContainerCommand } from './container-decider.js';
import { runCommands, specOf } from '../test/support/container-gen.js';

// given (commands already handled) / when (command) / then (events or rejection)
function given(...cmds: ContainerCommand[]) {
  return runCommands('11111111-2222-3333-4444-555555555555', cmds).live;
}
const create = (run = true): ContainerCommand => ({ type: 'CreateContainer', spec: specOf(), run });
const schedule: ContainerCommand = { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } };
const observe = (observation: Extract<ContainerCommand, { type: 'RecordObservation' }>['observation']): ContainerCommand => ({
  type: 'RecordObservation', observation,
});
const running = [create(), schedule, observe({ type: 'ContainerCreated', data: { dockerId: 'd' } }), observe({ type: 'ContainerStarted', data: { dockerId: 'd' } })];

describe('container decider', () => {
  it('create with run: Creating, container_creating, wants to run', () => {
    const s = given(create(true));
    expect(s.status).toBe('Creating');
    expect(s.taskState).toBe('container_creating');
    expect(s.desired.power).toBe('running');
  });

  it('created on the host with run pending: Created, container_starting', () => {
    const s = given(create(true), schedule, observe({ type: 'ContainerCreated', data: { dockerId: 'd' } }));
    expect([s.status, s.taskState]).toEqual(['Created', 'container_starting']);
  });

  it('stop from Running is a StopRequested; the exit makes it Stopped', () => {
    const s = given(...running);
    expect(decideContainer({ type: 'StopContainer', timeout: 5 }, s)).toEqual({
      events: [{ type: 'ContainerStopRequested', data: { timeout: 5 } }],
    });
    const after = given(...running, { type: 'StopContainer', timeout: 5 }, observe({ type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } }));
    expect([after.status, after.taskState]).toEqual(['Stopped', null]);
  });

  it("stop from Stopped is rejected with Zun's message", () => {
    const s = given(...running, { type: 'StopContainer', timeout: 5 }, observe({ type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } }));
    expect(decideContainer({ type: 'StopContainer', timeout: 5 }, s)).toEqual({
      rejected: { code: 'invalid-state', message: `Cannot stop container ${s.uuid} in Stopped state` },
    });
  });

  it('reboot sets Restarting at once and Running when done', () => {
    const s = given(...running, { type: 'RebootContainer', timeout: 1 });
    expect([s.status, s.taskState]).toEqual(['Restarting', 'container_rebooting']);
    const done = given(...running, { type: 'RebootContainer', timeout: 1 }, observe({ type: 'ContainerRestarted', data: { generation: 1 } }));
    expect([done.status, done.taskState]).toEqual(['Running', null]);
  });

  it('delete of a never-placed container removes it at once', () => {
    const d = decideContainer({ type: 'DeleteContainer', stop: false, force: true }, given(create()));
    expect(d).toEqual({ events: [{ type: 'ContainerDeleteRequested', data: { stop: false, force: true } }, { type: 'ContainerDeleted', data: {} }] });
  });

  it('delete?stop on Running stops first, then Deleting, then Deleted', () => {
    const s = given(...running, { type: 'DeleteContainer', stop: true, force: false });
    expect([s.status, s.taskState]).toEqual(['Running', 'container_stopping']);
    const s2 = given(...running, { type: 'DeleteContainer', stop: true, force: false }, observe({ type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } }));
    expect([s2.status, s2.taskState]).toEqual(['Deleting', 'container_deleting']);
  });

  it('plain delete of a Running container is a 409', () => {
    const d = decideContainer({ type: 'DeleteContainer', stop: false, force: false }, given(...running));
    expect(d).toMatchObject({ rejected: { code: 'invalid-state' } });
  });

  it('an unexpected exit with restart policy "no" leaves it Stopped and wanting to stay stopped', () => {
    const s = given(...running, observe({ type: 'ContainerExited', data: { exitCode: 1, oomKilled: false } }));
    expect([s.status, s.desired.power, s.taskState]).toEqual(['Stopped', 'stopped', null]);
  });

  it('an unexpected exit with restart policy "always" is repaired', () => {
    const s = given(
      { type: 'CreateContainer', spec: specOf({ restartPolicy: { name: 'always', maximumRetryCount: 0 } }), run: true },
      ...running.slice(1),
      observe({ type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } }),
    );
    expect([s.status, s.desired.power, s.taskState]).toEqual(['Stopped', 'running', 'container_starting']);
  });

  it('a container removed behind our back is Error with Zun\'s reason', () => {
    const s = given(...running, observe({ type: 'ContainerMissing', data: {} }));
    expect([s.status, s.statusReason]).toEqual(['Error', `No such container: ${s.uuid} in docker`]);
  });

  it('a lost host makes it Unknown; the next observation restores the status', () => {
    const lost = given(...running, { type: 'MarkHostLost', host: 'h1' });
    expect(lost.status).toBe('Unknown');
    const back = given(...running, { type: 'MarkHostLost', host: 'h1' }, observe({ type: 'ContainerStarted', data: { dockerId: 'd' } }));
    expect(back.status).toBe('Running');
  });

  it('placement cannot schedule twice', () => {
    expect(decideContainer(schedule, given(create(), schedule))).toMatchObject({ rejected: { code: 'conflict' } });
  });

  it('an OOM kill is Stopped with reason OOMKilled', () => {
    const s = given(...running, observe({ type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } }));
    expect([s.status, s.statusReason]).toEqual(['Stopped', 'OOMKilled']);
  });
});
