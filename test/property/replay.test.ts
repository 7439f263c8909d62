/**
 * Replay determinism and machine/decider agreement over random histories.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldContainer } from '../../domain/container.js';
import { verifyContainerFold, ACTION_STATES } from '../../state-machines/container.js';
import { arbHistory, runCommands } from '../support/container-gen.js';
import type { ContainerStatus } from '../../events/index.js';
import { runs } from '../support/runs.js';

describe('container replay', () => {
  it('the fast fold and the verifying fold of the stored log both equal the live state', () => {
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        const { live, log } = runCommands('c-1', cmds);
        expect(foldContainer('c-1', log)).toEqual(live);
        const verified = verifyContainerFold('c-1', log);
        expect(verified.violations).toEqual([]);
        expect(verified.state).toEqual(live);
      }),
      { numRuns: runs(400) },
    );
  });

  it('a decided event is always accepted by the machine; a rejected command appends nothing', () => {
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        const { outcomes, log } = runCommands('c-2', cmds);
        const appended = outcomes.reduce((n, o) => n + o.events.length, 0);
        expect(appended).toBe(log.length);
        for (const o of outcomes) if (!o.accepted) expect(o.events).toHaveLength(0);
      }),
      { numRuns: runs(300) },
    );
  });

  it("user actions are accepted exactly in the statuses of Zun's table", () => {
    const actionOf: Record<string, keyof typeof ACTION_STATES> = {
      StartContainer: 'start', StopContainer: 'stop', RebootContainer: 'reboot', PauseContainer: 'pause',
      UnpauseContainer: 'unpause', KillContainer: 'kill', RebuildContainer: 'rebuild', UpdateContainer: 'update',
    };
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        const { outcomes } = runCommands('c-3', cmds);
        for (const o of outcomes) {
          const status = o.before.status;
          if (status === null || status === 'Deleted') continue;
          const action = actionOf[o.cmd.type];
          if (action) {
            expect(o.accepted, `${o.cmd.type} from ${status}`).toBe((ACTION_STATES[action] as readonly ContainerStatus[]).includes(status));
          }
          if (o.cmd.type === 'DeleteContainer') {
            const table = o.cmd.force ? ACTION_STATES.deleteForce : o.cmd.stop ? ACTION_STATES.deleteStop : ACTION_STATES.delete;
            expect(o.accepted, `delete ${JSON.stringify(o.cmd)} from ${status}`).toBe((table as readonly ContainerStatus[]).includes(status));
          }
        }
      }),
      { numRuns: runs(300) },
    );
  });

  it('the verifying fold flags an illegal transition that the fast fold would swallow', () => {
    const illegal = verifyContainerFold('c-4', [{ type: 'ContainerStopRequested', data: { timeout: null }, seq: 1 }]);
    expect(illegal.violations).toEqual([{ seq: 1, type: 'ContainerStopRequested', from: 'New' }]);
  });

  it('the generator reaches the whole status set (the properties above are not vacuous)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        for (const o of runCommands('c-5', cmds).outcomes) if (o.before.status) seen.add(o.before.status);
      }),
      { numRuns: 300, seed: 42 },
    );
    for (const s of ['Creating', 'Created', 'Running', 'Paused', 'Stopped', 'Restarting', 'Rebuilding', 'Deleting', 'Error', 'Unknown']) {
      expect(seen, s).toContain(s);
    }
  });
});
