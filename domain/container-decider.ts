/**
 * The container decider: `decide(command, state) -> events | rejection`.
 *
 * Pure. Legality is asked of the machine (`containerAccepts`), never re-coded
 * here; the decider only builds the candidate events and names the rejection
 * in Zun's terms. Rejections are values, not exceptions.
 */
import type {
  Claim,
  ContainerEvent,
  ContainerObservation,
  ContainerSpec,
  NetRequest,
} from '../events/index.js';
import { containerAccepts } from '../state-machines/container.js';
import { evolveContainer, type ContainerState } from './container.js';

export type ContainerCommand =
  | { readonly type: 'CreateContainer'; readonly spec: ContainerSpec; readonly run: boolean }
  | { readonly type: 'ScheduleContainer'; readonly host: string; readonly claim: Claim }
  | { readonly type: 'FailScheduling'; readonly reason: string }
  | { readonly type: 'StartContainer' }
  | { readonly type: 'StopContainer'; readonly timeout: number | null }
  | { readonly type: 'RebootContainer'; readonly timeout: number | null }
  | { readonly type: 'PauseContainer' }
  | { readonly type: 'UnpauseContainer' }
  | { readonly type: 'KillContainer'; readonly signal: string | null }
  | { readonly type: 'RebuildContainer'; readonly image: string | null; readonly imageDriver: 'docker' | 'glance' | null }
  | {
      readonly type: 'UpdateContainer';
      readonly patch: { readonly name?: string; readonly cpu?: number; readonly memory?: number; readonly autoHeal?: boolean };
    }
  | { readonly type: 'DeleteContainer'; readonly stop: boolean; readonly force: boolean }
  | { readonly type: 'MarkHostLost'; readonly host: string }
  /** network_attach: `net` resolved by the gateway (net.resolved set). */
  | { readonly type: 'AttachNetwork'; readonly net: NetRequest }
  /** network_detach: by Zun network id. */
  | { readonly type: 'DetachNetwork'; readonly network: string }
  /** commit: repository and tag checked by the gateway; `imageUuid` minted there. */
  | { readonly type: 'CommitContainer'; readonly repository: string; readonly tag: string; readonly imageUuid: string }
  | { readonly type: 'RecordObservation'; readonly observation: ContainerObservation };

/** Rejection codes map to Zun's exceptions at the HTTP boundary. */
export type ContainerRejection =
  | { readonly code: 'invalid-state'; readonly message: string }
  | { readonly code: 'not-found'; readonly message: string }
  | { readonly code: 'conflict'; readonly message: string };

export type Decision =
  | { readonly events: readonly ContainerEvent[] }
  | { readonly rejected: ContainerRejection };

const ACTION_OF: Partial<Record<ContainerCommand['type'], string>> = {
  StartContainer: 'start',
  StopContainer: 'stop',
  RebootContainer: 'reboot',
  PauseContainer: 'pause',
  UnpauseContainer: 'unpause',
  KillContainer: 'kill',
  RebuildContainer: 'rebuild',
  UpdateContainer: 'update',
  DeleteContainer: 'delete',
  AttachNetwork: 'network_attach',
  DetachNetwork: 'network_detach',
  CommitContainer: 'commit',
};

function candidates(cmd: ContainerCommand, s: ContainerState): ContainerEvent[] {
  switch (cmd.type) {
    case 'CreateContainer':
      return [{ type: 'ContainerCreateRequested', data: { spec: cmd.spec, run: cmd.run } }];
    case 'ScheduleContainer':
      return [{ type: 'ContainerScheduled', data: { host: cmd.host, claim: cmd.claim } }];
    case 'FailScheduling':
      return [{ type: 'ContainerSchedulingFailed', data: { reason: cmd.reason } }];
    case 'StartContainer':
      return [{ type: 'ContainerStartRequested', data: {} }];
    case 'StopContainer':
      return [{ type: 'ContainerStopRequested', data: { timeout: cmd.timeout } }];
    case 'RebootContainer':
      return [{ type: 'ContainerRebootRequested', data: { timeout: cmd.timeout } }];
    case 'PauseContainer':
      return [{ type: 'ContainerPauseRequested', data: {} }];
    case 'UnpauseContainer':
      return [{ type: 'ContainerUnpauseRequested', data: {} }];
    case 'KillContainer':
      return [{ type: 'ContainerKillRequested', data: { signal: cmd.signal } }];
    case 'RebuildContainer':
      return [
        {
          type: 'ContainerRebuildRequested',
          data: { image: cmd.image ?? s.spec?.image ?? '', imageDriver: cmd.imageDriver ?? s.spec?.imageDriver ?? 'docker' },
        },
      ];
    case 'UpdateContainer':
      return [{ type: 'ContainerUpdated', data: { ...cmd.patch } }];
    case 'DeleteContainer': {
      const requested: ContainerEvent = { type: 'ContainerDeleteRequested', data: { stop: cmd.stop, force: cmd.force } };
      // Never placed on a host: nothing to clean up, so the record goes at once.
      return s.host === null ? [requested, { type: 'ContainerDeleted', data: {} }] : [requested];
    }
    case 'MarkHostLost':
      return [{ type: 'ContainerHostLost', data: { host: cmd.host } }];
    case 'AttachNetwork':
      return [{ type: 'ContainerNetworkAttachRequested', data: { net: cmd.net } }];
    case 'DetachNetwork':
      return [{ type: 'ContainerNetworkDetachRequested', data: { network: cmd.network } }];
    case 'CommitContainer':
      return [{ type: 'ContainerCommitRequested', data: { repository: cmd.repository, tag: cmd.tag, imageUuid: cmd.imageUuid } }];
    case 'RecordObservation':
      return [cmd.observation];
  }
}

export function decideContainer(cmd: ContainerCommand, s: ContainerState): Decision {
  if (cmd.type !== 'CreateContainer' && s.status === null) {
    return { rejected: { code: 'not-found', message: `Container ${s.uuid} could not be found.` } };
  }
  if (cmd.type === 'CreateContainer' && s.status !== null) {
    return { rejected: { code: 'conflict', message: `A container with UUID ${s.uuid} already exists.` } };
  }
  const events = candidates(cmd, s);
  let state = s;
  for (const e of events) {
    if (!containerAccepts(state, e)) {
      const action = ACTION_OF[cmd.type];
      if (action && s.status !== null) {
        return { rejected: { code: 'invalid-state', message: `Cannot ${action} container ${s.uuid} in ${s.status} state` } };
      }
      return { rejected: { code: 'conflict', message: `${e.type} is not allowed for container ${s.uuid} in ${s.status ?? 'New'} state` } };
    }
    state = evolveContainer(state, e);
  }
  return { events };
}
