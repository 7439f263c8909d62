/**
 * Zun's container actions (`container_actions`), derived from a container's
 * event history instead of being stored: a pure fold. Zun records an action
 * row per API request that changes a container and an event row per compute
 * step (`compute__do_container_<action>`); here both are read off the log.
 *
 * The rule, in full:
 * 1. Every request id that appended an intent of ACTION_OF (create, start,
 *    stop, reboot, pause, unpause, kill, rebuild, delete, commit,
 *    network_attach, network_detach) is one action, named
 *    as Zun names it. Its start_time is the time of that request's first
 *    event; its user and project are the request's. Updates (PATCH,
 *    resize_container) are not actions, as in Zun.
 * 2. Each action has one compute event (create with run=true has two:
 *    create, then start). Observations carry no causation id (the host actor
 *    appends them under its own request ids), so an event is linked to the
 *    request by level: it finishes at the FIRST later event after which the
 *    folded state shows the action done:
 *      create    the container exists in Docker (ContainerCreated/Started)
 *      start, unpause  status Running        stop   status Stopped
 *      pause     status Paused
 *      reboot, kill, rebuild  the host carried out this request's generation
 *                (observed.rebootDone / killDone / rebuildDone >= the
 *                generation the request set)
 *      commit    ContainerCommitted for the request's generation (or it
 *                fails at ContainerCommitFailed for it)
 *      network_attach / network_detach  ContainerNetworkAttached /
 *                Detached for the request's network; an attach fails at
 *                ContainerNetworkAttachFailed for it (the host gave up after
 *                a few connects; a failing detach is retried, and its action
 *                stays open meanwhile)
 *      delete    ContainerDeleted
 *    and it fails (result Error, the action's message = the reason) at the
 *    first event that makes it impossible: ContainerOperationFailed for the
 *    same Docker operation, ContainerSchedulingFailed (create),
 *    ContainerMissing, ContainerHostLost, or the container's deletion.
 * 3. A request that changes what the container should be doing (any action
 *    but kill) supersedes older unfinished ones of that kind: they finish at
 *    the newer request's time with result Error, "Superseded by <request id>".
 *    The create step itself is never superseded (the container is still made).
 * An action's finish_time is the finish of its last event; null while any
 * event is still open.
 *
 * Pure: no clock, no I/O. Times are the events' occurredAt (ISO strings).
 */
import type { ContainerEvent, ContainerEventType, RecordedEvent } from '../events/index.js';
import { evolveContainer, initialContainerState, netKey, type ContainerState } from './container.js';

export const ActionName = {
  create: 'create',
  delete: 'delete',
  reboot: 'reboot',
  rebuild: 'rebuild',
  stop: 'stop',
  start: 'start',
  pause: 'pause',
  unpause: 'unpause',
  kill: 'kill',
  commit: 'commit',
  network_attach: 'network_attach',
  network_detach: 'network_detach',
} as const;
export type ActionName = (typeof ActionName)[keyof typeof ActionName];

/** The intent that opens each action. */
export const ACTION_OF: Partial<Record<ContainerEventType, ActionName>> = {
  ContainerCreateRequested: 'create',
  ContainerStartRequested: 'start',
  ContainerStopRequested: 'stop',
  ContainerRebootRequested: 'reboot',
  ContainerPauseRequested: 'pause',
  ContainerUnpauseRequested: 'unpause',
  ContainerKillRequested: 'kill',
  ContainerRebuildRequested: 'rebuild',
  ContainerDeleteRequested: 'delete',
  ContainerCommitRequested: 'commit',
  ContainerNetworkAttachRequested: 'network_attach',
  ContainerNetworkDetachRequested: 'network_detach',
};

/** The host actor's Docker operation names (ContainerOperationFailed.operation) per step. */
const OPERATIONS: Record<ActionName, readonly string[]> = {
  create: ['create'],
  start: ['start'],
  stop: ['stop'],
  reboot: ['restart'],
  pause: ['pause'],
  unpause: ['unpause'],
  kill: ['kill'],
  rebuild: ['rebuild', 'create'],
  delete: ['remove', 'stop'],
  // A refused commit is ContainerCommitFailed, never an operation failure.
  commit: [],
  network_attach: [],
  network_detach: [],
};

export const ActionResult = { success: 'Success', error: 'Error' } as const;
export type ActionResult = (typeof ActionResult)[keyof typeof ActionResult];

export interface ActionEvent {
  /** `compute__do_container_<step>` */
  readonly event: string;
  readonly startTime: string;
  readonly finishTime: string | null;
  readonly result: ActionResult | null;
  /** Why the step failed (Zun shows its traceback to admins only). */
  readonly detail: string | null;
}

export interface ContainerAction {
  readonly action: ActionName;
  readonly containerUuid: string;
  readonly requestId: string;
  readonly userId: string;
  readonly projectId: string;
  readonly startTime: string;
  readonly finishTime: string | null;
  /** The failure reason, null unless the action failed. */
  readonly message: string | null;
  readonly events: readonly ActionEvent[];
}

type Step = 'create' | Exclude<ActionName, 'create'>;

interface OpenStep {
  step: Step;
  startTime: string;
  finishTime: string | null;
  result: ActionResult | null;
  detail: string | null;
}

interface Building {
  action: ActionName;
  requestId: string;
  userId: string;
  projectId: string;
  startTime: string;
  /** For create: whether a start step follows. */
  run: boolean;
  /** reboot / kill / rebuild / commit: the generation this request asked for. */
  generation: number;
  /** network_attach / network_detach: the Zun network id. */
  network: string | null;
  steps: OpenStep[];
}

type Finished = { readonly ok: true } | { readonly ok: false; readonly reason: string };
type Outcome = Finished | null;

const OK: Finished = { ok: true };
const failed = (reason: string): Finished => ({ ok: false, reason });

/** Zun's compute event names (`compute_` + the manager's method, `_do_container_<action>` or `_do_network_<attach|detach>`). */
const stepName = (s: Step) => (s === 'network_attach' || s === 'network_detach' ? `compute__do_${s}` : `compute__do_container_${s}`);

/** Whether `e` (folded into `after`) finishes `step` of `a`, and how. */
function outcome(a: Building, step: Step, e: RecordedEvent<ContainerEvent>, after: ContainerState): Outcome {
  switch (e.type) {
    case 'ContainerOperationFailed':
      return OPERATIONS[step].includes(e.data.operation) ? failed(e.data.reason) : null;
    case 'ContainerSchedulingFailed':
      return step === 'create' || step === 'start' ? failed(e.data.reason) : null;
    case 'ContainerHostLost':
      return failed(`host ${e.data.host} is not reachable`);
    case 'ContainerMissing':
      return step === 'delete' ? null : failed(after.statusReason ?? 'the container vanished from Docker');
    case 'ContainerDeleted':
      return step === 'delete' ? OK : failed('the container was deleted before the action completed');
    default:
      break;
  }
  switch (step) {
    case 'create':
      return e.type === 'ContainerCreated' || e.type === 'ContainerStarted' || e.type === 'ContainerRebuilt' ? OK : null;
    case 'start':
    case 'unpause':
      return after.status === 'Running' && (e.type === 'ContainerStarted' || e.type === 'ContainerUnpaused' || e.type === 'ContainerRestarted') ? OK : null;
    case 'stop':
      return after.status === 'Stopped' && e.type === 'ContainerExited' ? OK : null;
    case 'pause':
      return after.status === 'Paused' && e.type === 'ContainerPaused' ? OK : null;
    case 'reboot':
      return after.observed.rebootDone >= a.generation ? OK : null;
    case 'kill':
      return after.observed.killDone >= a.generation ? OK : null;
    case 'rebuild':
      return after.observed.rebuildDone >= a.generation ? OK : null;
    case 'commit':
      if (e.type === 'ContainerCommitFailed' && e.data.generation === a.generation) return failed(e.data.reason);
      return e.type === 'ContainerCommitted' && e.data.generation === a.generation ? OK : null;
    case 'network_attach':
      if (e.type === 'ContainerNetworkAttachFailed' && e.data.network === a.network) return failed(e.data.reason);
      if (e.type === 'ContainerStarted') return e.data.networks?.some((n) => n.network === a.network) ? OK : null;
      return e.type === 'ContainerNetworkAttached' && e.data.network === a.network ? OK : null;
    case 'network_detach':
      return e.type === 'ContainerNetworkDetached' && e.data.network === a.network ? OK : null;
    case 'delete':
      return null;
  }
}

/** Every action that replaces what the container should be doing; kill only delivers a signal. */
const SUPERSEDING: ReadonlySet<ActionName> = new Set(['start', 'stop', 'reboot', 'pause', 'unpause', 'rebuild', 'delete']);

function close(step: OpenStep, at: string, o: Finished): void {
  step.finishTime = at;
  step.result = o.ok ? ActionResult.success : ActionResult.error;
  step.detail = o.ok ? null : o.reason;
}

function view(uuid: string, a: Building): ContainerAction {
  const done = a.steps.every((s) => s.finishTime !== null);
  const failedStep = a.steps.find((s) => s.result === ActionResult.error);
  return {
    action: a.action,
    containerUuid: uuid,
    requestId: a.requestId,
    userId: a.userId,
    projectId: a.projectId,
    startTime: a.startTime,
    finishTime: done ? a.steps[a.steps.length - 1]!.finishTime : null,
    message: failedStep?.detail ?? null,
    events: a.steps.map((s) => ({ event: stepName(s.step), startTime: s.startTime, finishTime: s.finishTime, result: s.result, detail: s.detail })),
  };
}

/** The container's actions, oldest first. `history` is the container's events in stream order. */
export function deriveContainerActions(uuid: string, history: readonly RecordedEvent[]): ContainerAction[] {
  let state = initialContainerState(uuid);
  const all: Building[] = [];
  const byRequest = new Map<string, Building>();
  let open: Building[] = [];
  for (const raw of history) {
    const e = raw as RecordedEvent<ContainerEvent>;
    state = evolveContainer(state, e);
    const at = e.occurredAt;
    const name = ACTION_OF[e.type];
    if (name && !byRequest.has(e.requestId)) {
      const a: Building = {
        action: name,
        requestId: e.requestId,
        userId: e.userId,
        projectId: e.projectId,
        startTime: at,
        run: e.type === 'ContainerCreateRequested' ? e.data.run : false,
        generation:
          name === 'reboot'
            ? state.desired.rebootGen
            : name === 'kill'
              ? state.desired.killGen
              : name === 'rebuild'
                ? state.desired.rebuildGen
                : name === 'commit'
                  ? state.desired.commitGen
                  : 0,
        network:
          e.type === 'ContainerNetworkAttachRequested' ? netKey(e.data.net) : e.type === 'ContainerNetworkDetachRequested' ? e.data.network : null,
        steps: [{ step: name, startTime: at, finishTime: null, result: null, detail: null }],
      };
      if (SUPERSEDING.has(name)) {
        for (const b of open) {
          for (const s of b.steps) {
            if (s.finishTime === null && s.step !== 'create') close(s, at, failed(`Superseded by ${e.requestId}`));
          }
        }
      }
      byRequest.set(e.requestId, a);
      all.push(a);
      open.push(a);
      // The request's own events (e.g. an unplaced container's ContainerDeleted) are checked below.
    }
    for (const a of open) {
      for (let i = 0; i < a.steps.length; i++) {
        const s = a.steps[i]!;
        if (s.finishTime !== null) continue;
        if (s.startTime === at && a.requestId === e.requestId && ACTION_OF[e.type]) continue; // opened by this very event
        const o = outcome(a, s.step, e, state);
        if (!o) continue;
        close(s, at, o);
        if (s.step === 'create' && a.action === 'create' && a.run && o.ok && a.steps.length === 1) {
          a.steps.push({ step: 'start', startTime: at, finishTime: null, result: null, detail: null });
        }
      }
    }
    open = open.filter((a) => a.steps.some((s) => s.finishTime === null));
  }
  return all.map((a) => view(uuid, a));
}
