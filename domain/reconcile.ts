/**
 * The host actor's reconcile diff: `diffContainer(state, docker) -> actions`.
 *
 * Pure and level-based: it looks only at the folded container state (as the
 * projector publishes it) and at what Docker shows right now for the
 * container labelled with its uuid, never at the event that triggered it.
 * Calling it again with the same inputs gives the same answer, so a trigger
 * that arrives twice does no harm.
 *
 * Two phases, in order:
 * 1. Observe: when Docker differs from what the log records (it exited, was
 *    paused, vanished, or a container made before a crash was never recorded),
 *    the only answer is a `record` of that observation. Acting on a state the
 *    log does not yet reflect would be acting on a guess.
 * 2. Act: with the log in step with Docker, the Docker operations that move
 *    it towards `desired` (create, start, stop, pause, unpause, kill, restart,
 *    rebuild, update limits, remove).
 *
 * Contract with the shell (services/host-actor): it executes the actions in
 * order, stops at the first failure, appends `completionOf(action)` after a
 * Docker operation succeeds, then observes Docker again and asks again. Every
 * recorded observation changes the fold so that the same Docker state no
 * longer asks for it: the loop converges (test/property/reconcile.test.ts).
 *
 * One-shot operations (reboot, kill, rebuild, commit) are generations: requested in
 * `desired`, carried out in `observed`. A rebuild stamps its generation on the
 * new container's labels, so an actor that crashed after the rebuild but
 * before recording it adopts the new container instead of rebuilding again.
 * Reboot and kill are at-least-once across a crash; a commit is found again
 * by its image's label (services/host-actor/docker.ts). Pending commits
 * go first, oldest first, before any other operation: they were asked of the
 * container as it was (a commit then a stop commits the running container).
 */
import type { ContainerObservation, ContainerSpec, ImagePullPolicy } from '../events/index.js';
import { pendingCommits, type ContainerState } from './container.js';

/** Docker's container states (`State.Status`). */
export const DockerState = {
  created: 'created',
  running: 'running',
  paused: 'paused',
  restarting: 'restarting',
  removing: 'removing',
  exited: 'exited',
  dead: 'dead',
} as const;
export type DockerState = (typeof DockerState)[keyof typeof DockerState];

/** What Docker shows for one container that carries our labels. */
export interface DockerObservation {
  readonly dockerId: string;
  readonly state: DockerState;
  readonly exitCode: number;
  readonly oomKilled: boolean;
  /** The image reference the container was created from (Config.Image). */
  readonly image: string;
  /** Applied CPU limit in vCPUs (NanoCpus / 1e9); null when unlimited. */
  readonly cpu: number | null;
  /** Applied memory limit in MiB; null when unlimited. */
  readonly memoryMiB: number | null;
  /** The rebuild generation the container was created for (label `zun.rebuild.generation`). */
  readonly generation: number;
}

/** Seconds Docker waits after SIGTERM before SIGKILL, when the request named none. */
export const DEFAULT_STOP_TIMEOUT = 10;

export type Action =
  /** Append this observation (through the fenced command path). */
  | { readonly type: 'record'; readonly observation: ContainerObservation }
  | {
      readonly type: 'create';
      readonly image: string;
      readonly pullPolicy: ImagePullPolicy;
      /** Stamped on the container's labels. */
      readonly generation: number;
    }
  | { readonly type: 'start'; readonly dockerId: string }
  | { readonly type: 'stop'; readonly dockerId: string; readonly timeout: number }
  | { readonly type: 'pause'; readonly dockerId: string }
  | { readonly type: 'unpause'; readonly dockerId: string }
  | { readonly type: 'kill'; readonly dockerId: string; readonly signal: string; readonly generation: number }
  | { readonly type: 'restart'; readonly dockerId: string; readonly timeout: number; readonly generation: number }
  /** Remove the old container (if any) and create a new one from `image`. */
  | {
      readonly type: 'rebuild';
      readonly dockerId: string | null;
      readonly image: string;
      readonly pullPolicy: ImagePullPolicy;
      readonly generation: number;
    }
  | { readonly type: 'update'; readonly dockerId: string; readonly cpu: number; readonly memoryMiB: number }
  /** `docker commit` to repository:tag, the image labelled with `imageUuid`. */
  | {
      readonly type: 'commit';
      readonly dockerId: string;
      readonly generation: number;
      readonly repository: string;
      readonly tag: string;
      readonly imageUuid: string;
    }
  | { readonly type: 'remove'; readonly dockerId: string };

export type ActionType = Action['type'];
export type DockerAction = Exclude<Action, { type: 'record' }>;

const rebuildPending = (s: ContainerState) => s.desired.rebuildGen > s.observed.rebuildDone;
const rebootPending = (s: ContainerState) => s.desired.rebootGen > s.observed.rebootDone;
const killPending = (s: ContainerState) => s.desired.killGen > s.observed.killDone;

/** Docker states in which nothing can be done but wait for the next look. */
const transient = (d: DockerObservation) => d.state === 'restarting' || d.state === 'removing';
const alive = (d: DockerObservation) => d.state === 'running' || d.state === 'paused';
const finished = (d: DockerObservation) => d.state === 'exited' || d.state === 'dead';

const record = (observation: ContainerObservation): Action => ({ type: 'record', observation });
const exited = (d: DockerObservation): ContainerObservation => ({
  type: 'ContainerExited',
  data: { exitCode: d.exitCode, oomKilled: d.oomKilled },
});

/**
 * The next actions for one container. `docker` is null when no container
 * carries the uuid's labels on this host.
 */
export function diffContainer(s: ContainerState, docker: DockerObservation | null): Action[] {
  // Not (yet) ours: never placed, or never requested.
  if (s.status === null || s.host === null || s.spec === null) return [];
  if (s.status === 'Deleted') return docker ? [{ type: 'remove', dockerId: docker.dockerId }] : [];
  if (s.desired.power === 'deleted') return diffDelete(s, docker);
  const seen = observationFor(s, docker);
  if (seen) return [record(seen)];
  return actionsFor(s, s.spec, docker);
}

function diffDelete(s: ContainerState, d: DockerObservation | null): Action[] {
  if (d === null) {
    // Gone: the delete is done. A stop-first delete still shows Running or
    // Paused until it is observed gone.
    return s.status === 'Deleting' ? [record({ type: 'ContainerDeleted', data: {} })] : [record({ type: 'ContainerMissing', data: {} })];
  }
  if (transient(d)) return [];
  if (s.status === 'Running' || s.status === 'Paused') {
    // delete?stop=true: stop gracefully first; the exit moves it to Deleting.
    return alive(d) ? [{ type: 'stop', dockerId: d.dockerId, timeout: stopTimeout(s) }] : [record(exited(d))];
  }
  return [{ type: 'remove', dockerId: d.dockerId }];
}

/** Phase 1: the observation that brings the log in step with Docker, if any. */
function observationFor(s: ContainerState, d: DockerObservation | null): ContainerObservation | null {
  if (d === null) {
    // Never created (or already recorded missing): nothing to report, except
    // to a status that says "unknown" while nothing will be created.
    if (s.observed.dockerId === null) {
      return s.status === 'Unknown' && s.desired.power === 'hold' && !rebuildPending(s) ? { type: 'ContainerMissing', data: {} } : null;
    }
    // Half-done rebuild (old one removed, new one not yet made): the rebuild finishes it.
    if (rebuildPending(s)) return null;
    return { type: 'ContainerMissing', data: {} };
  }
  if (transient(d)) return null;
  if (rebuildPending(s)) {
    // A container stamped with the pending generation is the rebuild's result.
    return d.generation >= s.desired.rebuildGen
      ? { type: 'ContainerRebuilt', data: { generation: s.desired.rebuildGen, dockerId: d.dockerId } }
      : null;
  }
  if (d.dockerId !== s.observed.dockerId) {
    // Created to run: started first, then recorded once, as ContainerStarted (see startsWhenCreated).
    if (d.state === 'created' && startsWhenCreated(s)) return null;
    // Made by us but not recorded (a crash between create and append): adopt it.
    return d.state === 'running'
      ? { type: 'ContainerStarted', data: { dockerId: d.dockerId } }
      : { type: 'ContainerCreated', data: { dockerId: d.dockerId } };
  }
  // The fold holds Restarting until the reboot generation is carried out.
  if (rebootPending(s)) return null;
  const st = s.status;
  switch (d.state) {
    case 'running':
      if (st === 'Running') return null;
      return st === 'Paused' ? { type: 'ContainerUnpaused', data: {} } : { type: 'ContainerStarted', data: { dockerId: d.dockerId } };
    case 'paused':
      return st === 'Paused' ? null : { type: 'ContainerPaused', data: {} };
    case 'exited':
    case 'dead':
      // Error stays Error until someone acts; Stopped already says it.
      return st === 'Stopped' || st === 'Error' ? null : exited(d);
    case 'created':
      return st === 'Created' || st === 'Error' ? null : { type: 'ContainerCreated', data: { dockerId: d.dockerId } };
    default:
      return null;
  }
}

/**
 * Whether a container Docker has just created (and the log does not record
 * yet) is to be started before anything is recorded: it is being created to
 * run, and nothing else is asked of it. Then Creating goes straight to
 * Running, and ContainerStarted, which carries the Docker id, is its one
 * record: one event fewer for every `run`, and no wait for an append between
 * Docker's create and start. If the start fails, the shell records the
 * container as created, then the failure (Error, with its Docker id, as
 * before); if the host actor dies in between, its successor finds the
 * container created and unrecorded, and starts it the same way. A create
 * without `run` is still recorded as ContainerCreated.
 */
export function startsWhenCreated(s: ContainerState): boolean {
  return s.status === 'Creating' && s.desired.power === 'running' && s.observed.dockerId === null && !rebuildPending(s) && !rebootPending(s) && !killPending(s);
}

/** Phase 2: Docker operations towards `desired`, the log being in step with Docker. */
function actionsFor(s: ContainerState, spec: ContainerSpec, d: DockerObservation | null): Action[] {
  // A commit is refused while a rebuild or reboot is under way, so one pending
  // with them was asked for first: it goes first, on the container as it is.
  const commit = pendingCommits(s)[0];
  if (commit && d !== null && !transient(d)) return [{ type: 'commit', dockerId: d.dockerId, ...commit }];
  if (rebuildPending(s)) {
    return [{ type: 'rebuild', dockerId: d?.dockerId ?? null, image: spec.image, pullPolicy: spec.imagePullPolicy, generation: s.desired.rebuildGen }];
  }
  if (d === null) {
    // Nothing on the host and nothing recorded: make it (first create, a healed
    // container that went missing, or one the host lost before creating).
    const wanted = s.desired.power === 'running' || s.desired.power === 'stopped' || s.desired.power === 'paused';
    return wanted && s.observed.dockerId === null
      ? [{ type: 'create', image: spec.image, pullPolicy: spec.imagePullPolicy, generation: s.desired.rebuildGen }]
      : [];
  }
  if (transient(d)) return [];
  const op = operationFor(s, d);
  // Limits last: a failed `docker update` must not hold up the operation.
  const limits: Action[] =
    d.state !== 'dead' && !sameLimits(spec, d) ? [{ type: 'update', dockerId: d.dockerId, cpu: spec.cpu, memoryMiB: spec.memory }] : [];
  return op ? [op, ...limits] : limits;
}

function operationFor(s: ContainerState, d: DockerObservation): Action | null {
  if (rebootPending(s)) return { type: 'restart', dockerId: d.dockerId, timeout: stopTimeout(s), generation: s.desired.rebootGen };
  if (killPending(s)) {
    const signal = normalizeSignal(s.desired.killSignal);
    // A kill of a container that is not running has nothing to signal: settle it.
    return alive(d)
      ? { type: 'kill', dockerId: d.dockerId, signal, generation: s.desired.killGen }
      : record({ type: 'ContainerSignalled', data: { generation: s.desired.killGen, signal } });
  }
  switch (s.desired.power) {
    case 'running':
      if (d.state === 'paused') return { type: 'unpause', dockerId: d.dockerId };
      return d.state === 'created' || finished(d) ? { type: 'start', dockerId: d.dockerId } : null;
    case 'stopped':
      return alive(d) ? { type: 'stop', dockerId: d.dockerId, timeout: stopTimeout(s) } : null;
    case 'paused':
      return d.state === 'running' ? { type: 'pause', dockerId: d.dockerId } : null;
    default:
      return null;
  }
}

/**
 * What to append once a Docker operation has succeeded, for operations whose
 * effect Docker's state alone cannot show (a generation carried out, a start
 * that may already have exited again). The others are observed by level.
 */
export function completionOf(action: DockerAction, dockerId: string | null, imageId: string | null = null): ContainerObservation | null {
  switch (action.type) {
    case 'create':
      return dockerId ? { type: 'ContainerCreated', data: { dockerId } } : null;
    case 'start':
      return { type: 'ContainerStarted', data: { dockerId: action.dockerId } };
    case 'kill':
      return { type: 'ContainerSignalled', data: { generation: action.generation, signal: action.signal } };
    case 'restart':
      return { type: 'ContainerRestarted', data: { generation: action.generation } };
    case 'rebuild':
      return dockerId ? { type: 'ContainerRebuilt', data: { generation: action.generation, dockerId } } : null;
    case 'commit': {
      const { generation, repository, tag, imageUuid } = action;
      return imageId ? { type: 'ContainerCommitted', data: { generation, repository, tag, imageUuid, imageId } } : null;
    }
    default:
      return null;
  }
}

/** Limits are equal within Docker's resolution (NanoCpus, bytes). */
export function sameLimits(spec: Pick<ContainerSpec, 'cpu' | 'memory'>, d: Pick<DockerObservation, 'cpu' | 'memoryMiB'>): boolean {
  return d.cpu !== null && Math.abs(d.cpu - spec.cpu) < 1e-6 && d.memoryMiB !== null && Math.abs(d.memoryMiB - spec.memory) < 1e-6;
}

function stopTimeout(s: ContainerState): number {
  return s.desired.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
}

/**
 * Zun accepts `SIGKILL`, `KILL`, `kill`, `9` or nothing; Docker wants a name
 * or a number. Nothing means SIGKILL, as in Docker.
 */
export function normalizeSignal(signal: string | null | undefined): string {
  const s = (signal ?? '').trim();
  if (s === '' || s.toLowerCase() === 'none') return 'SIGKILL';
  if (/^\d+$/.test(s)) return s;
  const upper = s.toUpperCase();
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}

/** How to get the image before a create. `best-effort`: a failed pull is fine, the image is here. */
export type PullPlan = 'none' | 'required' | 'best-effort';

/** Zun's `should_pull_image`, against the images on this host (there may be no registry). */
export function pullPlan(policy: ImagePullPolicy, imagePresent: boolean): PullPlan {
  switch (policy) {
    case 'never':
      return 'none';
    case 'ifnotpresent':
      return imagePresent ? 'none' : 'required';
    case 'always':
      return imagePresent ? 'best-effort' : 'required';
  }
}

/** A labelled container on this host, as listed (not inspected). */
export interface LabelledContainer {
  readonly dockerId: string;
  readonly uuid: string;
}

export interface HostDiff {
  /** Remove these: no longer desired for at least the grace period. */
  readonly remove: readonly LabelledContainer[];
  /** Orphan suspects and since when (ms); carry into the next call. */
  readonly suspects: ReadonlyMap<string, number>;
}

/**
 * Orphans: containers with this host's labels whose uuid is not desired here.
 * A suspect is removed only once it has stayed undesired for `graceMs`, so a
 * read model that is being rebuilt (all keys briefly absent) removes nothing.
 * The shell confirms each against the event log before removing.
 */
export function diffHost(
  desiredIds: ReadonlySet<string>,
  labelled: readonly LabelledContainer[],
  suspects: ReadonlyMap<string, number>,
  nowMs: number,
  graceMs: number,
): HostDiff {
  const next = new Map<string, number>();
  const remove: LabelledContainer[] = [];
  for (const c of labelled) {
    if (desiredIds.has(c.uuid)) continue;
    const since = suspects.get(c.uuid) ?? nowMs;
    next.set(c.uuid, since);
    if (nowMs - since >= graceMs) remove.push(c);
  }
  return { remove, suspects: next };
}
