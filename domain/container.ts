/**
 * The container aggregate's state and its fast fold (`evolve`).
 *
 * Pure and total: evolve never throws and never consults the clock. It is the
 * fast fold; the verifying fold runs the same events through the machine in
 * state-machines/container.ts, whose transitions are legal only where Zun's
 * table allows them. A property test holds the two folds equal.
 *
 * Desired and observed are kept apart, as in Nomad: `desired` is written by
 * intents (gateway, placement), `observed` by the host actor's observations.
 * `status` is Zun's status; `taskState` is derived from both on every event.
 */
import type {
  Claim,
  ContainerEvent,
  ContainerEventType,
  ContainerObservation,
  ContainerSpec,
  ContainerStatus,
  NetRequest,
  RecordedEvent,
  TaskState,
} from '../events/index.js';
import type { ContainerNetworkAttached } from '../events/container.js';
import type { NetworkAddress } from '../events/network.js';

/** What the container should be doing. `hold` means: leave it as it is. */
export type Power = 'running' | 'stopped' | 'paused' | 'hold' | 'deleted';

export interface Desired {
  readonly power: Power;
  /** delete?stop=true on a Running container: stop it first, then delete. */
  readonly stopFirst: boolean;
  readonly force: boolean;
  readonly stopTimeout: number | null;
  /** One-shot operations are generations: requested vs carried out. */
  readonly rebootGen: number;
  readonly killGen: number;
  readonly killSignal: string | null;
  readonly rebuildGen: number;
  readonly commitGen: number;
  /** Commits requested and not yet carried out, oldest first. */
  readonly commits: readonly PendingCommit[];
}

/** One requested commit (ContainerCommitRequested), numbered by its generation. */
export interface PendingCommit {
  readonly generation: number;
  readonly repository: string;
  readonly tag: string;
  readonly imageUuid: string;
}

const NO_COMMITS: readonly PendingCommit[] = [];

export interface Observed {
  readonly dockerId: string | null;
  readonly exitCode: number | null;
  readonly oomKilled: boolean;
  readonly rebootDone: number;
  readonly killDone: number;
  readonly rebuildDone: number;
  readonly commitDone: number;
  readonly restartCount: number;
}

/** A network the container is on, as the host observed it (Zun's `addresses` entry). */
export interface AttachedNetwork {
  readonly neutronNetId: string;
  readonly addresses: readonly NetworkAddress[];
}

export interface ContainerState {
  readonly uuid: string;
  /** Stream sequence of the last event folded; 0 for a new aggregate. */
  readonly seq: number;
  readonly projectId: string | null;
  readonly userId: string | null;
  /** null until ContainerCreateRequested. */
  readonly status: ContainerStatus | null;
  readonly statusReason: string | null;
  readonly taskState: TaskState | null;
  readonly spec: ContainerSpec | null;
  readonly host: string | null;
  readonly claim: Claim | null;
  readonly desired: Desired;
  readonly observed: Observed;
  /**
   * Networks the container should be on (desired): the resolved `nets` of the
   * spec, then network_attach / network_detach. Absent (= spec.nets) in
   * states stored before networks.
   */
  readonly nets?: readonly NetRequest[];
  /** Networks it is on, by Zun network id, as observed (observed). */
  readonly networks?: Readonly<Record<string, AttachedNetwork>>;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

const NO_NETWORKS: Readonly<Record<string, AttachedNetwork>> = Object.freeze({});

/** The Zun network id a resolved net request is for ('' when unresolved). */
export const netKey = (n: NetRequest): string => n.resolved?.id ?? '';

/** Desired networks (resolved requests), whatever shape the state was stored in. */
export const desiredNets = (s: ContainerState): readonly NetRequest[] => s.nets ?? s.spec?.nets ?? [];

/** Observed networks by Zun network id. */
export const observedNetworks = (s: ContainerState): Readonly<Record<string, AttachedNetwork>> => s.networks ?? NO_NETWORKS;

/** Zun's `addresses`: `{"<neutron net id>": [{addr, version, port, subnet_id, preserve_on_delete}]}`. */
export function addressesOf(s: ContainerState): Record<string, NetworkAddress[]> {
  const out: Record<string, NetworkAddress[]> = {};
  for (const n of Object.values(observedNetworks(s))) out[n.neutronNetId] = [...n.addresses];
  return out;
}

export function initialContainerState(uuid: string): ContainerState {
  return {
    uuid,
    seq: 0,
    projectId: null,
    userId: null,
    status: null,
    statusReason: null,
    taskState: null,
    spec: null,
    host: null,
    claim: null,
    desired: {
      power: 'hold',
      stopFirst: false,
      force: false,
      stopTimeout: null,
      rebootGen: 0,
      killGen: 0,
      killSignal: null,
      rebuildGen: 0,
      commitGen: 0,
      commits: NO_COMMITS,
    },
    observed: { dockerId: null, exitCode: null, oomKilled: false, rebootDone: 0, killDone: 0, rebuildDone: 0, commitDone: 0, restartCount: 0 },
    createdAt: null,
    updatedAt: null,
  };
}

/** Zun's status_reason for a container that vanished from Docker. */
export const missingReason = (uuid: string) => `No such container: ${uuid} in docker`;

const rebuildPending = (s: ContainerState) => s.desired.rebuildGen > s.observed.rebuildDone;
const rebootPending = (s: ContainerState) => s.desired.rebootGen > s.observed.rebootDone;
const killPending = (s: ContainerState) => s.desired.killGen > s.observed.killDone;

/**
 * The status an observation leads to, given what is pending. A pending delete,
 * rebuild or reboot keeps the status the API set until that work is done.
 */
function observedStatus(s: ContainerState, seen: ContainerStatus): ContainerStatus {
  if (s.desired.power === 'deleted') {
    return s.desired.stopFirst && !s.desired.force && (seen === 'Running' || seen === 'Paused') ? seen : 'Deleting';
  }
  if (rebuildPending(s)) return 'Rebuilding';
  if (rebootPending(s)) return 'Restarting';
  return seen;
}

/** Zun's task_state, derived from status and what is still wanted. */
export function deriveTaskState(s: ContainerState): TaskState | null {
  const { status, desired } = s;
  if (status === null || status === 'Deleted') return null;
  if (desired.power === 'deleted') {
    return status === 'Running' || status === 'Paused' ? 'container_stopping' : 'container_deleting';
  }
  if (status === 'Creating') return 'container_creating';
  if (status === 'Unknown') return null;
  if (rebuildPending(s)) return 'container_rebuilding';
  if (rebootPending(s)) return 'container_rebooting';
  if (killPending(s)) return 'container_killing';
  switch (desired.power) {
    case 'running':
      if (status === 'Created' || status === 'Stopped' || status === 'Error') return 'container_starting';
      if (status === 'Paused') return 'container_unpausing';
      return null;
    case 'stopped':
      return status === 'Running' || status === 'Paused' ? 'container_stopping' : null;
    case 'paused':
      return status === 'Running' ? 'container_pausing' : null;
    default:
      return null;
  }
}

/** Whether the restart policy keeps the container running whatever stops it (always, unless-stopped). */
function restartsAlways(spec: ContainerState['spec']): boolean {
  const name = spec?.restartPolicy.name;
  return name === 'always' || name === 'unless-stopped';
}

/** Whether an exit nobody asked for is repaired by restarting, per the restart policy. */
function restartsAfterExit(s: ContainerState, exitCode: number): boolean {
  const policy = s.spec?.restartPolicy;
  if (!policy) return false;
  if (restartsAlways(s.spec)) return true;
  if (policy.name === 'on-failure') {
    return exitCode !== 0 && (policy.maximumRetryCount === 0 || s.observed.restartCount < policy.maximumRetryCount);
  }
  return false;
}

// Explicit constructions rather than spreads of a partial: every Desired and
// Observed has the same shape, which keeps the fast fold monomorphic (the
// replay benchmark's pure fold depends on it). States written before commits
// were recorded (read models, snapshots) lack the commit fields: they read
// as none requested.
function withDesired(s: ContainerState, d: Partial<Desired>): ContainerState {
  const b = s.desired;
  const desired: Desired = {
    power: 'power' in d ? d.power! : b.power,
    stopFirst: 'stopFirst' in d ? d.stopFirst! : b.stopFirst,
    force: 'force' in d ? d.force! : b.force,
    stopTimeout: 'stopTimeout' in d ? d.stopTimeout! : b.stopTimeout,
    rebootGen: 'rebootGen' in d ? d.rebootGen! : b.rebootGen,
    killGen: 'killGen' in d ? d.killGen! : b.killGen,
    killSignal: 'killSignal' in d ? d.killSignal! : b.killSignal,
    rebuildGen: 'rebuildGen' in d ? d.rebuildGen! : b.rebuildGen,
    commitGen: 'commitGen' in d ? d.commitGen! : (b.commitGen ?? 0),
    commits: 'commits' in d ? d.commits! : (b.commits ?? NO_COMMITS),
  };
  return { ...s, desired };
}
function withObserved(s: ContainerState, o: Partial<Observed>): ContainerState {
  const b = s.observed;
  const observed: Observed = {
    dockerId: 'dockerId' in o ? o.dockerId! : b.dockerId,
    exitCode: 'exitCode' in o ? o.exitCode! : b.exitCode,
    oomKilled: 'oomKilled' in o ? o.oomKilled! : b.oomKilled,
    rebootDone: 'rebootDone' in o ? o.rebootDone! : b.rebootDone,
    killDone: 'killDone' in o ? o.killDone! : b.killDone,
    rebuildDone: 'rebuildDone' in o ? o.rebuildDone! : b.rebuildDone,
    commitDone: 'commitDone' in o ? o.commitDone! : (b.commitDone ?? 0),
    restartCount: 'restartCount' in o ? o.restartCount! : b.restartCount,
  };
  return { ...s, observed };
}

type MutableState = { -readonly [K in keyof ContainerState]: ContainerState[K] };

/**
 * Sets status (and reason) on a state that withDesired/withObserved just
 * copied: that object is not shared yet, so it is written in place rather
 * than copied a second time.
 */
function settle(fresh: ContainerState, status: ContainerStatus, statusReason?: string | null): ContainerState {
  const m = fresh as MutableState;
  m.status = status;
  if (statusReason !== undefined) m.statusReason = statusReason;
  return m;
}

/** The recorded networks with these attachments (ContainerNetworkAttached, or a ContainerStarted's `networks`) folded in. */
function withAttached(
  recorded: Readonly<Record<string, AttachedNetwork>>,
  attached: readonly ContainerNetworkAttached['data'][],
): Readonly<Record<string, AttachedNetwork>> {
  const out = { ...recorded };
  for (const a of attached) out[a.network] = { neutronNetId: a.neutronNetId, addresses: a.addresses };
  return out;
}

function apply(s: ContainerState, e: ContainerEvent): ContainerState {
  switch (e.type) {
    case 'ContainerCreateRequested': {
      const next = withDesired(s, { power: e.data.run ? 'running' : 'stopped' }) as MutableState;
      next.spec = e.data.spec;
      return settle(next, 'Creating', null);
    }
    case 'ContainerScheduled':
      return { ...s, host: e.data.host, claim: e.data.claim };
    case 'ContainerSchedulingFailed':
      return settle(withDesired(s, { power: 'hold' }), 'Error', e.data.reason);
    case 'ContainerStartRequested': {
      const next = withDesired(s, { power: 'running' }) as MutableState;
      next.statusReason = null;
      return next;
    }
    case 'ContainerStopRequested':
      return withDesired(s, { power: 'stopped', stopTimeout: e.data.timeout });
    case 'ContainerRebootRequested':
      return settle(withDesired(s, { power: 'running', stopTimeout: e.data.timeout, rebootGen: s.desired.rebootGen + 1 }), 'Restarting', null);
    case 'ContainerPauseRequested':
      return withDesired(s, { power: 'paused' });
    case 'ContainerUnpauseRequested':
      return withDesired(s, { power: 'running' });
    case 'ContainerKillRequested':
      return withDesired(s, { power: 'hold', killGen: s.desired.killGen + 1, killSignal: e.data.signal });
    case 'ContainerRebuildRequested': {
      const spec = s.spec ? { ...s.spec, image: e.data.image, imageDriver: e.data.imageDriver } : s.spec;
      return withDesired(
        { ...s, status: 'Rebuilding', statusReason: null, spec },
        { power: s.desired.power === 'running' ? 'running' : 'stopped', rebuildGen: s.desired.rebuildGen + 1 },
      );
    }
    case 'ContainerUpdated': {
      if (!s.spec) return s;
      const { name, cpu, memory, autoHeal } = e.data;
      const spec: ContainerSpec = {
        ...s.spec,
        ...(name !== undefined ? { name } : {}),
        ...(cpu !== undefined ? { cpu } : {}),
        ...(memory !== undefined ? { memory } : {}),
        ...(autoHeal !== undefined ? { autoHeal } : {}),
      };
      const claim = s.claim && (cpu !== undefined || memory !== undefined)
        ? { ...s.claim, cpu: spec.cpu, memoryMiB: spec.memory }
        : s.claim;
      return { ...s, spec, claim };
    }
    case 'ContainerDeleteRequested': {
      const next = withDesired(s, { power: 'deleted', stopFirst: e.data.stop, force: e.data.force });
      return settle(next, observedStatus(next, s.status ?? 'Creating'));
    }
    case 'ContainerHostLost':
      return { ...s, status: 'Unknown', statusReason: `host ${e.data.host} is not reachable` };

    case 'ContainerCreated': {
      const next = withObserved(s, { dockerId: e.data.dockerId, exitCode: null });
      return settle(next, observedStatus(next, 'Created'), null);
    }
    case 'ContainerStarted': {
      let next = withObserved(s, { dockerId: e.data.dockerId, exitCode: null, oomKilled: false });
      if (e.data.networks?.length) next = { ...next, networks: withAttached(observedNetworks(next), e.data.networks) };
      return settle(next, observedStatus(next, 'Running'), null);
    }
    case 'ContainerExited': {
      const { exitCode, oomKilled } = e.data;
      let next = withObserved(s, { exitCode, oomKilled });
      const unexpected = s.desired.power === 'running' || s.desired.power === 'paused';
      if (s.spec?.autoRemove && s.desired.power !== 'deleted' && !rebootPending(s) && !rebuildPending(s)) {
        next = withDesired(next, { power: 'deleted', stopFirst: false });
      } else if (unexpected && !rebootPending(s) && !rebuildPending(s)) {
        next = restartsAfterExit(s, exitCode)
          ? withObserved(next, { restartCount: s.observed.restartCount + 1 })
          : withDesired(next, { power: 'stopped' });
      }
      return settle(next, observedStatus(next, 'Stopped'), oomKilled ? 'OOMKilled' : null);
    }
    // A pause or unpause nobody asked for (done with `docker pause` behind the
    // system's back) is accepted, as Zun shows what Docker has: the desired
    // power follows it, so it is not undone. No restart policy covers a
    // pause. Through the API these cannot race a request: unpause is legal
    // only from Paused and pause only from Running, and the status changes
    // only when the observation is recorded.
    case 'ContainerPaused': {
      const next = s.desired.power === 'running' && !rebootPending(s) && !rebuildPending(s) ? withDesired(s, { power: 'paused' }) : s;
      return { ...next, status: observedStatus(next, 'Paused') };
    }
    case 'ContainerUnpaused': {
      const next = s.desired.power === 'paused' ? withDesired(s, { power: 'running' }) : s;
      return { ...next, status: observedStatus(next, 'Running') };
    }
    case 'ContainerRestarted': {
      const next = withObserved(s, { rebootDone: Math.max(s.observed.rebootDone, e.data.generation), exitCode: null });
      return settle(next, observedStatus(next, 'Running'), null);
    }
    case 'ContainerSignalled':
      return withObserved(s, { killDone: Math.max(s.observed.killDone, e.data.generation) });
    case 'ContainerRebuilt': {
      const next = withObserved(s, {
        rebuildDone: Math.max(s.observed.rebuildDone, e.data.generation),
        dockerId: e.data.dockerId,
        exitCode: null,
      });
      return settle(next, observedStatus(next, 'Created'), null);
    }
    case 'ContainerMissing': {
      let next = withObserved(s, { dockerId: null });
      if (s.desired.power === 'deleted') return { ...next, status: 'Deleting' };
      if (s.spec?.autoRemove) {
        next = withDesired(next, { power: 'deleted', stopFirst: false });
        return { ...next, status: 'Deleting' };
      }
      const heal = s.spec?.autoHeal || restartsAlways(s.spec);
      if (!heal) next = withDesired(next, { power: 'hold' });
      // A vanished container cannot finish a reboot, rebuild, kill or commit: they are void.
      next = withObserved(next, {
        rebootDone: next.desired.rebootGen,
        rebuildDone: next.desired.rebuildGen,
        killDone: next.desired.killGen,
      });
      next = commitSettled(next, next.desired.commitGen ?? 0);
      return { ...next, status: 'Error', statusReason: missingReason(s.uuid) };
    }
    case 'ContainerOperationFailed': {
      // The failed operation is not retried by itself: generations are settled.
      const next = withObserved(s, {
        rebootDone: s.desired.rebootGen,
        rebuildDone: s.desired.rebuildGen,
        killDone: s.desired.killGen,
      });
      if (s.desired.power === 'deleted') return { ...next, status: 'Deleting', statusReason: e.data.reason };
      // A refused start of a container whose restart policy keeps it running stays wanted: the
      // host tries again (with back-off), as Docker starts such containers again when it comes
      // back. The refusal may be dockerd's own shutdown, which stopped the container.
      const keepsRunning = e.data.operation === 'start' && s.desired.power === 'running' && restartsAlways(s.spec);
      return { ...(keepsRunning ? next : withDesired(next, { power: 'hold' })), status: 'Error', statusReason: e.data.reason };
    }
    case 'ContainerDeleted':
      return settle(withDesired(s, { power: 'deleted' }), 'Deleted', null);
    case 'ContainerNetworkAttachRequested': {
      const key = netKey(e.data.net);
      return { ...s, nets: [...desiredNets(s).filter((n) => netKey(n) !== key), e.data.net] };
    }
    case 'ContainerNetworkDetachRequested':
      return { ...s, nets: desiredNets(s).filter((n) => netKey(n) !== e.data.network) };
    case 'ContainerCommitRequested': {
      const generation = (s.desired.commitGen ?? 0) + 1;
      const { repository, tag, imageUuid } = e.data;
      return withDesired(s, { commitGen: generation, commits: [...pendingCommits(s), { generation, repository, tag, imageUuid }] });
    }
    case 'ContainerCommitted':
    case 'ContainerCommitFailed':
      return commitSettled(s, e.data.generation);
    case 'ContainerNetworkAttached':
      return { ...s, networks: withAttached(observedNetworks(s), [e.data]) };
    case 'ContainerNetworkDetached': {
      const { [e.data.network]: _gone, ...rest } = observedNetworks(s);
      return { ...s, networks: rest };
    }
    case 'ContainerNetworkAttachFailed':
      return { ...s, nets: desiredNets(s).filter((n) => netKey(n) !== e.data.network) };
  }
}

/** Commits requested and not yet carried out (none in a state from before commits were recorded). */
export function pendingCommits(s: ContainerState): readonly PendingCommit[] {
  return s.desired.commits ?? NO_COMMITS;
}

/** Commit generations up to `generation` are done (carried out, refused, or void). */
function commitSettled(s: ContainerState, generation: number): ContainerState {
  const next = withObserved(s, { commitDone: Math.max(s.observed.commitDone ?? 0, generation) });
  return withDesired(next, { commits: pendingCommits(s).filter((c) => c.generation > generation) });
}

/** The fast fold of one container event. */
export function evolveContainer(s: ContainerState, e: RecordedEvent<ContainerEvent> | (ContainerEvent & { seq?: number; occurredAt?: string; projectId?: string; userId?: string })): ContainerState {
  const next = apply(s, e as ContainerEvent);
  const at = e.occurredAt ?? next.updatedAt;
  const created = e.type === 'ContainerCreateRequested';
  // apply() returns a fresh object unless nothing changed; that object is ours
  // until returned, so metadata is written into it instead of copying again.
  type Mutable = { -readonly [K in keyof ContainerState]: ContainerState[K] };
  const out = (next === s ? { ...s } : next) as Mutable;
  if (e.seq !== undefined) out.seq = e.seq;
  if (created) {
    out.projectId = e.projectId ?? next.projectId;
    out.userId = e.userId ?? next.userId;
    out.createdAt = at ?? null;
  }
  out.updatedAt = at ?? null;
  out.taskState = deriveTaskState(out);
  return out;
}

export function foldContainer(uuid: string, events: Iterable<RecordedEvent>): ContainerState {
  let s = initialContainerState(uuid);
  for (const e of events) s = evolveContainer(s, e as RecordedEvent<ContainerEvent>);
  return s;
}

/**
 * The event types the host actor appends itself (every ContainerObservation).
 * The compile-time check below fails when the union gains a member this list
 * lacks.
 */
const HOST_OBSERVATIONS = [
  'ContainerCreated', 'ContainerStarted', 'ContainerExited', 'ContainerPaused', 'ContainerUnpaused',
  'ContainerRestarted', 'ContainerSignalled', 'ContainerRebuilt', 'ContainerMissing', 'ContainerOperationFailed',
  'ContainerDeleted', 'ContainerNetworkAttached', 'ContainerNetworkDetached', 'ContainerNetworkAttachFailed', 'ContainerCommitted',
  'ContainerCommitFailed',
] as const satisfies readonly ContainerObservation['type'][];
type UnlistedObservation = Exclude<ContainerObservation['type'], (typeof HOST_OBSERVATIONS)[number]>;
const observationsListed: [UnlistedObservation] extends [never] ? true : never = true;
void observationsListed;
const hostObservations: ReadonlySet<string> = new Set(HOST_OBSERVATIONS);

/**
 * Whether a container event rewrites its host's desired entry (`zun_desired`).
 *
 * The entry is the state folded up to the container's last event that its
 * host actor did not append itself: intents (gateway, placement) and host
 * loss rewrite it; the host's own observations do not, because the actor that
 * appended them holds them already and would only be sent its own news back.
 * A deletion removes the entry whatever its type. Pure; the projector writes
 * by it, and `zunctl diff` checks the bucket by it.
 */
export const rewritesDesiredEntry = (type: ContainerEventType): boolean => !hostObservations.has(type);
