/**
 * The capsule decider. Pure; legality comes from the capsule machine.
 */
import type { CapsuleEvent, CapsuleSpec, Claim } from '../events/index.js';
import { capsuleAccepts } from '../state-machines/capsule.js';
import { evolveCapsule, type CapsuleState } from './capsule.js';

export type CapsuleCommand =
  | { readonly type: 'CreateCapsule'; readonly spec: CapsuleSpec }
  | { readonly type: 'ScheduleCapsule'; readonly host: string; readonly claim: Claim }
  | { readonly type: 'FailCapsuleScheduling'; readonly reason: string }
  | { readonly type: 'DeleteCapsule' }
  | { readonly type: 'MarkCapsuleHostLost'; readonly host: string }
  | { readonly type: 'RecordCapsuleObservation'; readonly observation: CapsuleEvent };

export type CapsuleRejection = { readonly code: 'invalid-state' | 'not-found' | 'conflict'; readonly message: string };
export type CapsuleDecision = { readonly events: readonly CapsuleEvent[] } | { readonly rejected: CapsuleRejection };

function candidates(cmd: CapsuleCommand, s: CapsuleState): CapsuleEvent[] {
  switch (cmd.type) {
    case 'CreateCapsule':
      return [{ type: 'CapsuleCreateRequested', data: { spec: cmd.spec } }];
    case 'ScheduleCapsule':
      return [{ type: 'CapsuleScheduled', data: { host: cmd.host, claim: cmd.claim } }];
    case 'FailCapsuleScheduling':
      return [{ type: 'CapsuleSchedulingFailed', data: { reason: cmd.reason } }];
    case 'DeleteCapsule':
      return s.host === null
        ? [{ type: 'CapsuleDeleteRequested', data: {} }, { type: 'CapsuleDeleted', data: {} }]
        : [{ type: 'CapsuleDeleteRequested', data: {} }];
    case 'MarkCapsuleHostLost':
      return [{ type: 'CapsuleHostLost', data: { host: cmd.host } }];
    case 'RecordCapsuleObservation':
      return [cmd.observation];
  }
}

export function decideCapsule(cmd: CapsuleCommand, s: CapsuleState): CapsuleDecision {
  if (cmd.type !== 'CreateCapsule' && s.status === null) {
    return { rejected: { code: 'not-found', message: `Capsule ${s.uuid} could not be found.` } };
  }
  if (cmd.type === 'CreateCapsule' && s.status !== null) {
    return { rejected: { code: 'conflict', message: `A capsule with UUID ${s.uuid} already exists.` } };
  }
  const events = candidates(cmd, s);
  let state = s;
  for (const e of events) {
    if (!capsuleAccepts(state, e)) {
      return { rejected: { code: 'invalid-state', message: `Cannot ${e.type} capsule ${s.uuid} in ${s.status ?? 'New'} state` } };
    }
    state = evolveCapsule(state, e);
  }
  return { events };
}
