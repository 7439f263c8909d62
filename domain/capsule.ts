/**
 * The capsule aggregate's state and fast fold. Pure and total, like
 * domain/container.ts; the machine in state-machines/capsule.ts owns legality.
 */
import type { CapsuleEvent, CapsuleSpec, Claim, ContainerStatus, RecordedEvent, TaskState } from '../events/index.js';

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
    case 'CapsuleMemberExited':
      return { ...s, exits: { ...s.exits, [e.data.member]: e.data.exitCode } };
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
