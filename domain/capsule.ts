/**
 * The capsule aggregate's state and fast fold. Pure and total, like
 * domain/container.ts; the machine in state-machines/capsule.ts owns legality.
 */
import type { CapsuleEvent, CapsuleSpec, Claim, ContainerStatus, RecordedEvent, TaskState } from '../events/index.js';
import type { AttachedNetwork } from './container.js';

/** One member container (init or regular), as the host reported it. */
export interface CapsuleMemberState {
  readonly running: boolean;
  /** Exit code of the last exit; null before any. */
  readonly exitCode: number | null;
  /** How many times it was seen to exit (retries of init containers count them). */
  readonly exits: number;
}

export interface CapsuleState {
  readonly uuid: string;
  readonly seq: number;
  readonly projectId: string | null;
  readonly userId: string | null;
  readonly status: ContainerStatus | null;
  readonly statusReason: string | null;
  readonly taskState: TaskState | null;
  readonly spec: CapsuleSpec | null;
  readonly host: string | null;
  readonly claim: Claim | null;
  readonly deleteRequested: boolean;
  readonly sandboxId: string | null;
  readonly initDone: boolean;
  /** Last exit code per member container name. */
  readonly exits: Readonly<Record<string, number>>;
  /** Per member name, as observed. Absent in states stored before members were tracked. */
  readonly members?: Readonly<Record<string, CapsuleMemberState>>;
  /** The sandbox's networks by Zun network id, as observed. */
  readonly networks?: Readonly<Record<string, AttachedNetwork>>;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

export function initialCapsuleState(uuid: string): CapsuleState {
  return {
    uuid, seq: 0, projectId: null, userId: null, status: null, statusReason: null, taskState: null,
    spec: null, host: null, claim: null, deleteRequested: false, sandboxId: null, initDone: false,
    exits: {}, createdAt: null, updatedAt: null,
  };
}

const NO_MEMBER: CapsuleMemberState = { running: false, exitCode: null, exits: 0 };

/** A member's state by name (own properties only: a member may be named `constructor`). */
export const capsuleMember = (s: CapsuleState, name: string): CapsuleMemberState =>
  (s.members && Object.hasOwn(s.members, name) ? s.members[name] : undefined) ?? NO_MEMBER;

function withMember(s: CapsuleState, name: string, m: CapsuleMemberState): CapsuleState {
  return { ...s, members: { ...(s.members ?? {}), [name]: m } };
}

function seen(s: CapsuleState, status: ContainerStatus): ContainerStatus {
  return s.deleteRequested ? 'Deleting' : status;
}

function apply(s: CapsuleState, e: CapsuleEvent): CapsuleState {
  switch (e.type) {
    case 'CapsuleCreateRequested':
      return { ...s, status: 'Creating', spec: e.data.spec };
    case 'CapsuleScheduled':
      return { ...s, host: e.data.host, claim: e.data.claim };
    case 'CapsuleSchedulingFailed':
      return { ...s, status: 'Error', statusReason: e.data.reason };
    case 'CapsuleDeleteRequested':
      return { ...s, deleteRequested: true, status: 'Deleting' };
    case 'CapsuleHostLost':
      return { ...s, status: 'Unknown', statusReason: `host ${e.data.host} is not reachable` };
    case 'CapsuleSandboxCreated':
      return { ...s, sandboxId: e.data.sandboxId, status: seen(s, 'Created') };
    case 'CapsuleInitCompleted':
      return { ...s, initDone: true };
    case 'CapsuleStarted':
      return { ...s, status: seen(s, 'Running'), statusReason: null };
    case 'CapsuleMemberExited': {
      const next = { ...s, exits: { ...s.exits, [e.data.member]: e.data.exitCode } };
      // Members are tracked from their first CapsuleMemberStarted (histories
      // written before that event fold exactly as they did).
      const m = s.members?.[e.data.member];
      return m ? withMember(next, e.data.member, { running: false, exitCode: e.data.exitCode, exits: m.exits + 1 }) : next;
    }
    case 'CapsuleMemberStarted':
      return withMember(s, e.data.member, { ...capsuleMember(s, e.data.member), running: true });
    case 'CapsuleNetworkAttached':
      return {
        ...s,
        networks: { ...(s.networks ?? {}), [e.data.network]: { neutronNetId: e.data.neutronNetId, addresses: e.data.addresses } },
      };
    case 'CapsuleStopped':
      return { ...s, status: seen(s, 'Stopped') };
    case 'CapsuleFailed':
      return { ...s, status: seen(s, 'Error'), statusReason: e.data.reason };
    case 'CapsuleDeleted':
      return { ...s, status: 'Deleted', statusReason: null };
  }
}

function deriveTask(s: CapsuleState): TaskState | null {
  if (s.status === 'Deleted' || s.status === null) return null;
  if (s.deleteRequested) return 'container_deleting';
  if (s.status === 'Creating') return 'container_creating';
  if (s.status === 'Created') return 'container_starting';
  return null;
}

export function evolveCapsule(s: CapsuleState, e: RecordedEvent<CapsuleEvent> | (CapsuleEvent & { seq?: number; occurredAt?: string; projectId?: string; userId?: string })): CapsuleState {
  const next = apply(s, e as CapsuleEvent);
  const created = e.type === 'CapsuleCreateRequested';
  const at = e.occurredAt ?? next.updatedAt;
  const withMeta: CapsuleState = {
    ...next,
    seq: e.seq ?? next.seq,
    projectId: created ? (e.projectId ?? null) : next.projectId,
    userId: created ? (e.userId ?? null) : next.userId,
    createdAt: created ? (at ?? null) : next.createdAt,
    updatedAt: at ?? null,
  };
  return { ...withMeta, taskState: deriveTask(withMeta) };
}

export function foldCapsule(uuid: string, events: Iterable<RecordedEvent>): CapsuleState {
  let s = initialCapsuleState(uuid);
  for (const e of events) s = evolveCapsule(s, e as RecordedEvent<CapsuleEvent>);
  return s;
}
