/**
 * The capsule lifecycle machine (XState v5): which capsule event is legal in
 * which status. Built like the container machine: legality from the table
 * below, targets from the fast fold (domain/capsule.ts) through `leadsTo`.
 * Pure.
 */
import { and, assign, setup, transition, type SnapshotFrom } from 'xstate';
import { ContainerStatus, type CapsuleEvent, type CapsuleEventType } from '../events/index.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from '../domain/capsule.js';

export type CapsuleMachineStatus = ContainerStatus | 'New';
export type CapsuleMachineEvent = CapsuleEvent & { seq?: number; occurredAt?: string; projectId?: string; userId?: string };

const S = ContainerStatus;
const STATUSES = [S.Creating, S.Created, S.Running, S.Stopped, S.Error, S.Unknown, S.Deleting, S.Deleted] as const;
const LIVE = STATUSES.filter((s) => s !== S.Deleted);

const ACCEPTED_IN: Record<CapsuleEventType, readonly CapsuleMachineStatus[]> = {
  CapsuleCreateRequested: ['New'],
  CapsuleScheduled: [S.Creating],
  CapsuleSchedulingFailed: [S.Creating],
  // Zun checks no status on capsule delete.
  CapsuleDeleteRequested: LIVE.filter((s) => s !== S.Deleting),
  CapsuleHostLost: LIVE.filter((s) => s !== S.Unknown),
  CapsuleSandboxCreated: LIVE,
  CapsuleInitCompleted: LIVE,
  CapsuleStarted: LIVE,
  CapsuleMemberExited: LIVE,
  CapsuleStopped: LIVE,
  CapsuleFailed: LIVE,
  CapsuleDeleted: [S.Deleting],
  CapsuleMemberStarted: LIVE,
  CapsuleNetworkAttached: LIVE,
};

const HOST_EVENTS = new Set<CapsuleEventType>([
  'CapsuleSandboxCreated', 'CapsuleInitCompleted', 'CapsuleStarted', 'CapsuleMemberExited', 'CapsuleStopped',
  'CapsuleFailed', 'CapsuleHostLost', 'CapsuleMemberStarted', 'CapsuleNetworkAttached',
]);

let memo: { ctx: CapsuleState; ev: CapsuleMachineEvent; out: CapsuleState } | null = null;
function evolved(ctx: CapsuleState, ev: CapsuleMachineEvent): CapsuleState {
  if (memo && memo.ctx === ctx && memo.ev === ev) return memo.out;
  const out = evolveCapsule(ctx, ev);
  memo = { ctx, ev, out };
  return out;
}

export const capsuleMachine = setup({
  types: { context: {} as CapsuleState, events: {} as CapsuleMachineEvent, input: {} as { uuid: string } },
  guards: {
    permitted: ({ context, event }) => {
      if (event.type === 'CapsuleScheduled' || event.type === 'CapsuleSchedulingFailed') {
        return context.host === null && !context.deleteRequested;
      }
      return HOST_EVENTS.has(event.type) ? context.host !== null : true;
    },
    leadsTo: ({ context, event }, params: { status: ContainerStatus }) => evolved(context, event).status === params.status,
  },
  actions: { apply: assign(({ context, event }) => evolved(context, event)) },
}).createMachine({
  id: 'capsule',
  context: ({ input }) => initialCapsuleState(input.uuid),
  initial: 'New',
  states: buildStates() as never,
});

function buildStates(): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const status of ['New', ...STATUSES] as CapsuleMachineStatus[]) {
    const on: Record<string, unknown> = {};
    for (const type of Object.keys(ACCEPTED_IN) as CapsuleEventType[]) {
      if (!ACCEPTED_IN[type].includes(status)) continue;
      on[type] = STATUSES.map((target) => ({
        target,
        guard: and(['permitted', { type: 'leadsTo', params: { status: target } }]),
        actions: 'apply',
      }));
    }
    states[status] = status === S.Deleted ? { type: 'final', on } : { on };
  }
  return states;
}

export type CapsuleSnapshot = SnapshotFrom<typeof capsuleMachine>;

export function capsuleSnapshotOf(state: CapsuleState): CapsuleSnapshot {
  return capsuleMachine.resolveState({ value: state.status ?? 'New', context: state });
}

export function capsuleAccepts(state: CapsuleState, event: CapsuleMachineEvent): boolean {
  return capsuleSnapshotOf(state).can(event);
}

export function verifyCapsuleFold(uuid: string, events: Iterable<CapsuleMachineEvent>) {
  let snap = capsuleMachine.resolveState({ value: 'New', context: initialCapsuleState(uuid) });
  const violations: { seq: number | undefined; type: string; from: CapsuleMachineStatus }[] = [];
  for (const e of events) {
    if (snap.can(e)) {
      snap = transition(capsuleMachine, snap, e)[0];
    } else {
      violations.push({ seq: e.seq, type: e.type, from: snap.value as CapsuleMachineStatus });
      snap = capsuleSnapshotOf(evolveCapsule(snap.context, e));
    }
  }
  return { state: snap.context, violations };
}
