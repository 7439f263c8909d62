/**
 * The container lifecycle machine (XState v5): the single definition of which
 * event is legal in which status.
 *
 * States are Zun's statuses (plus `New`, before the create request). Intents
 * are legal only where Zun's table (zun-api.md section b) allows the action;
 * observations are legal in every live status of a placed container, because
 * the host reports what Docker did whether or not anyone asked for it.
 *
 * Where an event leads is computed by the fast fold (domain/container.ts):
 * each transition is guarded by `leadsTo(status)`, so the machine and the
 * fold cannot disagree on a status; the machine adds legality on top.
 *
 * Pure: no I/O, no clock; guards and actions are named and side-effect free.
 */
import { and, assign, setup, transition, type SnapshotFrom } from 'xstate';
import {
  ContainerStatus,
  type ContainerEvent,
  type ContainerEventType,
  type RecordedEvent,
} from '../events/index.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../domain/container.js';

export type MachineStatus = ContainerStatus | 'New';
/** What the machine consumes: an event, recorded or about to be. */
export type ContainerMachineEvent = ContainerEvent & { seq?: number; occurredAt?: string; projectId?: string; userId?: string };

const S = ContainerStatus;
const ALL_STATUSES = Object.values(ContainerStatus);
const LIVE = ALL_STATUSES.filter((s) => s !== S.Deleted);

/** Zun's VALID_STATES for each API action (zun/common/utils.py). */
export const ACTION_STATES = {
  start: [S.Created, S.Stopped, S.Error],
  stop: [S.Running],
  reboot: [S.Created, S.Running, S.Stopped, S.Error],
  pause: [S.Running],
  unpause: [S.Paused],
  kill: [S.Running],
  rebuild: [S.Created, S.Running, S.Stopped, S.Error],
  update: [S.Created, S.Running, S.Stopped, S.Paused],
  delete: [S.Created, S.Error, S.Stopped, S.Deleted, S.Dead],
  deleteStop: [S.Running, S.Created, S.Error, S.Stopped, S.Deleted, S.Dead],
  deleteForce: [S.Created, S.Creating, S.Error, S.Running, S.Stopped, S.Unknown, S.Deleted, S.Dead, S.Restarting, S.Rebuilding, S.Deleting],
  logs: [S.Created, S.Error, S.Paused, S.Running, S.Stopped, S.Unknown],
  archive: [S.Created, S.Paused, S.Running, S.Stopped],
  /** commit (zun/common/consts.py: Running, Stopped, Paused). */
  commit: [S.Running, S.Stopped, S.Paused],
  running: [S.Running],
} as const satisfies Record<string, readonly ContainerStatus[]>;

/** Statuses in which each event type may be accepted (guards narrow further). */
const ACCEPTED_IN: Record<ContainerEventType, readonly MachineStatus[]> = {
  ContainerCreateRequested: ['New'],
  ContainerScheduled: [S.Creating],
  ContainerSchedulingFailed: [S.Creating],
  ContainerStartRequested: ACTION_STATES.start,
  ContainerStopRequested: ACTION_STATES.stop,
  ContainerRebootRequested: ACTION_STATES.reboot,
  ContainerPauseRequested: ACTION_STATES.pause,
  ContainerUnpauseRequested: ACTION_STATES.unpause,
  ContainerKillRequested: ACTION_STATES.kill,
  ContainerRebuildRequested: ACTION_STATES.rebuild,
  ContainerUpdated: ACTION_STATES.update,
  ContainerDeleteRequested: ACTION_STATES.deleteForce.filter((s) => s !== S.Deleted),
  ContainerHostLost: LIVE.filter((s) => s !== S.Unknown),
  ContainerCreated: LIVE,
  ContainerStarted: LIVE,
  ContainerExited: LIVE,
  ContainerPaused: LIVE,
  ContainerUnpaused: LIVE,
  ContainerRestarted: LIVE,
  ContainerSignalled: LIVE,
  ContainerRebuilt: LIVE,
  ContainerMissing: LIVE,
  ContainerOperationFailed: LIVE,
  ContainerDeleted: [S.Deleting],
  // Zun checks no status for network attach/detach; a container being deleted takes no new work.
  ContainerNetworkAttachRequested: LIVE.filter((s) => s !== S.Deleting),
  ContainerNetworkDetachRequested: LIVE.filter((s) => s !== S.Deleting),
  ContainerNetworkAttached: LIVE,
  ContainerNetworkDetached: LIVE,
  ContainerNetworkAttachFailed: LIVE,
  ContainerCommitRequested: ACTION_STATES.commit,
  ContainerCommitted: LIVE,
  ContainerCommitFailed: LIVE,
};

const OBSERVATIONS = new Set<ContainerEventType>([
  'ContainerCreated', 'ContainerStarted', 'ContainerExited', 'ContainerPaused', 'ContainerUnpaused',
  'ContainerRestarted', 'ContainerSignalled', 'ContainerRebuilt', 'ContainerMissing', 'ContainerOperationFailed',
  'ContainerHostLost', 'ContainerNetworkAttached', 'ContainerNetworkDetached', 'ContainerNetworkAttachFailed', 'ContainerCommitted',
  'ContainerCommitFailed',
]);

/** Single-entry memo: the `leadsTo` guards of one transition share one evolve. */
let memo: { ctx: ContainerState; ev: ContainerMachineEvent; out: ContainerState } | null = null;
function evolved(ctx: ContainerState, ev: ContainerMachineEvent): ContainerState {
  if (memo && memo.ctx === ctx && memo.ev === ev) return memo.out;
  const out = evolveContainer(ctx, ev);
  memo = { ctx, ev, out };
  return out;
}

function deleteAllowed(ctx: ContainerState, ev: ContainerMachineEvent): boolean {
  if (ev.type !== 'ContainerDeleteRequested' || ctx.status === null) return false;
  const states: readonly ContainerStatus[] = ev.data.force
    ? ACTION_STATES.deleteForce
    : ev.data.stop
      ? ACTION_STATES.deleteStop
      : ACTION_STATES.delete;
  return states.includes(ctx.status);
}

export const containerMachine = setup({
  types: {
    context: {} as ContainerState,
    events: {} as ContainerMachineEvent,
    input: {} as { uuid: string },
  },
  guards: {
    /** Event-specific conditions beyond the status. */
    permitted: ({ context, event }) => {
      switch (event.type) {
        case 'ContainerScheduled':
        case 'ContainerSchedulingFailed':
          return context.host === null && context.desired.power !== 'deleted';
        case 'ContainerDeleteRequested':
          return deleteAllowed(context, event);
        case 'ContainerDeleted':
          return true;
        case 'ContainerNetworkAttachRequested':
        case 'ContainerNetworkDetachRequested':
        case 'ContainerCommitRequested':
          return context.desired.power !== 'deleted';
        default:
          // Only the owning host observes, so an unplaced container has no observations.
          return OBSERVATIONS.has(event.type) ? context.host !== null : true;
      }
    },
    leadsTo: ({ context, event }, params: { status: ContainerStatus }) =>
      evolved(context, event).status === params.status,
  },
  actions: {
    apply: assign(({ context, event }) => evolved(context, event)),
  },
}).createMachine({
  id: 'container',
  context: ({ input }) => initialContainerState(input.uuid),
  initial: 'New',
  // Built from ACCEPTED_IN: one state per status, one transition per possible
  // target, each guarded by legality and by where the fold leads.
  states: buildStates() as never,
});

function buildStates(): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const status of ['New', ...ALL_STATUSES] as MachineStatus[]) {
    const on: Record<string, unknown> = {};
    for (const type of Object.keys(ACCEPTED_IN) as ContainerEventType[]) {
      if (!ACCEPTED_IN[type].includes(status)) continue;
      on[type] = ALL_STATUSES.map((target) => ({
        target,
        guard: and(['permitted', { type: 'leadsTo', params: { status: target } }]),
        actions: 'apply',
      }));
    }
    states[status] = status === S.Deleted ? { type: 'final', on } : { on };
  }
  return states;
}

export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;

/** The machine positioned at a folded state, without replaying its history. */
export function containerSnapshotOf(state: ContainerState): ContainerSnapshot {
  return containerMachine.resolveState({ value: state.status ?? 'New', context: state });
}

/** Whether the machine accepts `event` in `state`: the only legality check there is. */
export function containerAccepts(state: ContainerState, event: ContainerMachineEvent): boolean {
  return containerSnapshotOf(state).can(event);
}

export interface Violation {
  readonly seq: number | undefined;
  readonly type: string;
  readonly from: MachineStatus;
}

/**
 * The verifying fold: every event through the machine. An illegal event is
 * reported and then folded anyway, so the rest of the history can still be
 * checked; the resulting state is the fast fold's.
 */
export function verifyContainerFold(uuid: string, events: Iterable<ContainerMachineEvent>): { state: ContainerState; violations: Violation[] } {
  let snap = containerMachine.resolveState({ value: 'New', context: initialContainerState(uuid) });
  const violations: Violation[] = [];
  for (const e of events) {
    if (snap.can(e)) {
      snap = transition(containerMachine, snap, e)[0];
    } else {
      violations.push({ seq: e.seq, type: e.type, from: snap.value as MachineStatus });
      const next = evolveContainer(snap.context, e);
      snap = containerSnapshotOf(next);
    }
  }
  return { state: snap.context, violations };
}

export type { RecordedEvent };
