/**
 * One reconcile pass for one container: observe Docker, diff against the
 * folded state (domain/reconcile.ts), act, append what was observed, repeat
 * until the diff is empty (or a step limit, a failure or a back-off stops it
 * and a retry is asked for).
 *
 * Contracts:
 * - Called by the container's worker only, never twice at once for one uuid
 *   (the worker's single-slot mailbox guarantees it).
 * - Observations go through executeContainerCommand, so they are fenced and
 *   decided by the machine against the log as it is now; a rejection means
 *   our view was stale: the fresh state it returns is diffed again, nothing is
 *   forced. The command id is `${host}:${uuid}:${seq}:${type}`, so the same
 *   observation of the same state is appended once, even across a crash.
 * - A Docker failure is recorded (ContainerOperationFailed) only when that
 *   changes the status or its reason, so a failure that repeats does not
 *   flood the log; transport failures (Docker unreachable) are never
 *   recorded, they are retried with back-off.
 * - A start that the restart policy asked for (an unexpected exit) is backed
 *   off when the container keeps dying within 10 s: 250 ms doubling to 10 s,
 *   like Docker's own restart manager. A start the user asked for is not.
 * - Volumes and networks (resources.ts): before a create (or rebuild) the
 *   container's volumes are created, attached and mounted and its first
 *   network made ready, so the Docker create carries the Binds and the
 *   endpoint; before a start the mounts are checked again (a host reboot
 *   loses them). Before ContainerDeleted is recorded the mounts are let go
 *   of (auto-remove volumes deleted), so a crash anywhere in between only
 *   means the pass runs again. Once the container's own diff is empty, the
 *   network diff (domain/network-reconcile.ts) connects, disconnects and
 *   records addresses. Right after a start of ours the addresses Docker
 *   shows are recorded with ContainerStarted (its `networks`) instead of
 *   after it, and that look serves the network diff that follows. A
 *   container created to run is started before it is recorded at all
 *   (startsWhenCreated): ContainerStarted is its one record. A network that network_attach asked for and that
 *   fails to connect NETWORK_ATTACH_ATTEMPTS times in a row is given up:
 *   ContainerNetworkAttachFailed (its action fails with the reason, as in
 *   Zun, and the network is no longer wanted). The networks of the create
 *   request are retried with back-off for as long as it takes.
 */
import { createImagePresence, ensureImage as sharedEnsureImage, type ImagePresence } from './images.js';
import type { ContainerObservation, ContainerSpec } from '../../events/index.js';
import type { ContainerNetworkAttached } from '../../events/container.js';
import type { NetworkAddress, NetworkRef } from '../../events/network.js';
import { desiredNets, netKey, observedNetworks, type ContainerState } from '../../domain/container.js';
import { diffContainerNetworks, networksApply } from '../../domain/network-reconcile.js';
import {
  completionOf,
  diffContainer,
  type DockerAction,
  startsWhenCreated,
  type DockerObservation,
  type DockerState,
} from '../../domain/reconcile.js';
import { executeContainerCommand } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, type ContainerRuntime } from './docker.js';
import { terminalResourceError, type ConsumerMount, type HostResources } from './resources.js';

export interface ReconcilerDeps {
  readonly hostname: string;
  readonly store: EventStore;
  readonly runtime: ContainerRuntime;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly newId: () => string;
  /** Diff/act rounds per pass before giving up and asking for a retry (default 12). */
  readonly maxSteps?: number;
  /** Networks and volumes; without it, containers get Docker's default bridge and no mounts. */
  readonly resources?: HostResources | null;
  /** Image presence, shared by the host's reconcilers (default: a cache of this reconciler's own). */
  readonly images?: ImagePresence;
  /**
   * How often a full pass looks at the networks of a container whose log
   * and Docker state did not change since they were last found in step
   * (default 60 s). See PassOptions. The host actor's resync inspects a
   * settled container in Docker as often (HostActorOptions.recheckMs).
   */
  readonly networkRecheckMs?: number;
}

export interface PassOptions {
  /**
   * The periodic resync's pass. The network part is observed even when
   * neither the log nor the container changed since it last converged, if
   * that was `networkRecheckMs` ago or more: a network change made behind
   * our back (docker network disconnect raises no container event) is found
   * within that time plus one resync period. Other passes look at the
   * networks only when the container or its log changed, which keeps a
   * burst of Docker events from costing a network listing each.
   */
  readonly full?: boolean;
}

/** The resolved mounts of a container spec (mounts from before volumes were resolved are skipped). */
export function mountsOf(spec: ContainerSpec | null): ConsumerMount[] {
  if (!spec) return [];
  return spec.mounts
    .filter((m) => m.volumeId)
    .map((m) => ({
      kind: m.type,
      volumeId: m.volumeId!,
      destination: m.destination,
      ...(m.type === 'bind' ? { contentBase64: m.source ?? '' } : {}),
    }));
}

/** Every network the container wants or is recorded on, resolved. */
function knownNetworks(s: ContainerState): NetworkRef[] {
  return desiredNets(s).flatMap((n) => (n.resolved ? [n.resolved] : []));
}

/** What a worker keeps between passes for one container. */
export interface WorkerMemory {
  /** The freshest state seen (from the read model or our own appends). */
  last: ContainerState | null;
  failures: number;
  conflicts: number;
  lastStartAt: number | null;
  restartsSeen: number;
  crashLoop: number;
  /**
   * The network part converged for this `networkSyncKey` (Docker id, Docker
   * state, log sequence), at `netSyncedAt` (ms): until one of them changes,
   * a pass does not look at the container's networks again (see PassOptions).
   */
  netSynced: string | null;
  netSyncedAt: number;
  /**
   * Docker events our own start will raise (action -> until when,
   * ms): the pass that acts already knows what they say, so the worker drops
   * them instead of running another pass (see `isEcho`). Set before the call
   * (Docker may report the event before it answers), dropped if it fails.
   */
  echoes: Map<string, number>;
  /**
   * Docker as the last pass that converged left it (null: no container), and
   * when (ms); undefined while a pass runs or after one that did not
   * converge. The resync compares it with Docker's listing: a container
   * whose listed id and state are these needs no pass (see actor.ts).
   */
  seen: { readonly dockerId: string; readonly state: DockerState } | null | undefined;
  seenAt: number;
  /** Connects that failed in a row, by Zun network id (reset by a connect that works). */
  attachFailures: Map<string, number>;
}

export const newWorkerMemory = (): WorkerMemory => ({
  last: null,
  failures: 0,
  conflicts: 0,
  lastStartAt: null,
  restartsSeen: 0,
  crashLoop: 0,
  netSynced: null,
  netSyncedAt: 0,
  echoes: new Map(),
  seen: undefined,
  seenAt: 0,
  attachFailures: new Map(),
});

/** How long an expected echo is waited for (Docker sends it within the call). */
const ECHO_WINDOW_MS = 5_000;
/** Docker event actions of the operations whose result the pass takes as observed (see `toldBy`). */
const ECHO_ACTION: Partial<Record<DockerAction['type'], string>> = { start: 'start' };

/**
 * Whether a Docker event is the echo of our own start (consumed:
 * the next event with that action is news again). Anything else (die, stop,
 * pause, destroy, a start we did not make) is news.
 */
export function isEcho(mem: WorkerMemory, action: string, nowMs: number): boolean {
  const until = mem.echoes.get(action);
  if (until === undefined) return false;
  mem.echoes.delete(action);
  return nowMs <= until;
}

/**
 * The container as Docker must show it right after `a` succeeded, when the
 * answer says it (a create: created, with what we asked for; a start:
 * running); null when only a fresh look can tell.
 */
function toldBy(a: DockerAction, dockerId: string | null, before: DockerObservation | null, s: ContainerState): DockerObservation | null {
  if (a.type === 'create' && dockerId && s.spec) {
    return { dockerId, state: 'created', exitCode: 0, oomKilled: false, image: a.image, cpu: s.spec.cpu, memoryMiB: s.spec.memory, generation: a.generation };
  }
  if (a.type === 'start' && before && before.dockerId === a.dockerId) return { ...before, state: 'running', exitCode: 0, oomKilled: false };
  return null;
}

/** What the network part of a pass depends on besides the networks themselves. */
const networkSyncKey = (s: ContainerState, d: DockerObservation) => `${d.dockerId}|${d.state}|${s.seq}`;

export interface PassOutcome {
  readonly state: ContainerState;
  /** Run again after this many ms (null: converged, wait for the next trigger). */
  readonly retryInMs: number | null;
}

const CRASH_WINDOW_MS = 10_000;
const MAX_CRASH_BACKOFF_MS = 10_000;
const MAX_FAILURE_BACKOFF_MS = 30_000;
const MAX_CONFLICTS = 3;
/** Failed connects in a row after which a network asked for by network_attach is given up. */
export const NETWORK_ATTACH_ATTEMPTS = 3;

export const failureBackoff = (n: number) => Math.min(500 * 2 ** Math.max(0, n - 1), MAX_FAILURE_BACKOFF_MS);

type Performed = { ok: true; dockerId: string | null; imageId?: string } | { ok: false; error: RuntimeError };

export function createReconciler(deps: ReconcilerDeps) {
  const { hostname, runtime, store, clock, newId } = deps;
  const maxSteps = deps.maxSteps ?? 12;
  const networkRecheckMs = deps.networkRecheckMs ?? 60_000;
  const resources = deps.resources ?? null;
  const images = deps.images ?? createImagePresence(runtime, { now: () => clock().getTime() });
  /**
   * Where a container of a uuid can be. Before the host's first listing
   * (`sawListing`) anything may exist: `find` looks by name, then by labels.
   * After it, a uuid the listing did not show and that this reconciler never
   * created can only have a container under its own name (ours are only made
   * here, always named zun-<uuid>), and only one that a predecessor's create,
   * still in flight in dockerd when it crashed, left behind: the create's
   * name conflict finds and adopts it. So such a uuid is not looked up at all;
   * this spares every new container a Docker call.
   */
  let listed: Set<string> | null = null;
  const created = new Set<string>();
  const knownAbsent = (uuid: string) => listed !== null && !listed.has(uuid) && !created.has(uuid);
  const commandDeps = { store, newId, now: clock };

  /**
   * Appends an observation through the command path, first on the state we
   * hold without reading the log (executeOn's `from`: fenced on its
   * sequence, so it lands only if that state is the log's latest).
   */
  async function record(state: ContainerState, observation: ContainerObservation, log: Logger): Promise<ContainerState> {
    const requestId = `req-${newId()}`;
    const ctx = {
      projectId: state.projectId ?? 'unknown',
      userId: state.userId ?? 'unknown',
      requestId,
      commandId: `${hostname}:${state.uuid}:${state.seq}:${observation.type}`,
    };
    const res = await executeContainerCommand(commandDeps, state.uuid, { type: 'RecordObservation', observation }, ctx, { from: state });
    if (res.ok) {
      log.info({ reqId: requestId, observation: observation.type, status: res.state.status, seq: res.state.seq, duplicate: res.duplicate }, 'observed');
    } else {
      log.warn({ reqId: requestId, observation: observation.type, rejection: res.rejection, status: res.state.status }, 'observation rejected; re-diffing');
    }
    return res.state;
  }

  async function perform(a: DockerAction, uuid: string, state: ContainerState, log: Logger): Promise<Performed> {
    const ref = (dockerId: string) => ({ host: hostname, uuid, dockerId });
    try {
      switch (a.type) {
        case 'create':
        case 'rebuild': {
          if (a.type === 'rebuild' && a.dockerId) await runtime.remove(ref(a.dockerId));
          await ensureImage(a.image, a.pullPolicy, log);
          const binds = resources ? await resources.prepareMounts(uuid, mountsOf(state.spec)) : [];
          const endpoint = resources ? await resources.endpointFor(uuid, desiredNets(state)) : null;
          created.add(uuid); // from here on a container may exist, renamed or not
          const create = () => runtime.create({ host: hostname, uuid, spec: state.spec!, image: a.image, generation: a.generation, binds, endpoint });
          let dockerId: string;
          try {
            dockerId = await create();
          } catch (err) {
            if (!(err instanceof RuntimeError && err.code === RuntimeErrorCode.imageNotFound)) throw err;
            // The presence cache may have answered for an image removed since: ask Docker again, as the policy says.
            images.forget(a.image);
            await ensureImage(a.image, a.pullPolicy, log);
            dockerId = await create();
          }
          return { ok: true, dockerId };
        }
        case 'start':
          // Mounts do not survive a host reboot: make sure they are there (a no-op when they are).
          if (resources) await resources.prepareMounts(uuid, mountsOf(state.spec));
          await runtime.start(ref(a.dockerId));
          break;
        case 'stop':
          await runtime.stop(ref(a.dockerId), a.timeout);
          break;
        case 'pause':
          await runtime.pause(ref(a.dockerId));
          break;
        case 'unpause':
          await runtime.unpause(ref(a.dockerId));
          break;
        case 'kill':
          await runtime.kill(ref(a.dockerId), a.signal);
          break;
        case 'restart':
          await runtime.restart(ref(a.dockerId), a.timeout);
          break;
        case 'update':
          await runtime.update(ref(a.dockerId), { cpu: a.cpu, memoryMiB: a.memoryMiB });
          break;
        case 'remove':
          await runtime.remove(ref(a.dockerId));
          break;
        case 'commit':
          // Docker pauses and unpauses a running container around it: the
          // events of that arrive during this pass and make one more pass,
          // which finds the container running as before (no drift).
          return { ok: true, dockerId: a.dockerId, imageId: await runtime.commit(ref(a.dockerId), a) };
      }
      return { ok: true, dockerId: 'dockerId' in a ? a.dockerId : null };
    } catch (err) {
      if (err instanceof RuntimeError) return { ok: false, error: err };
      if (terminalResourceError(err)) {
        return { ok: false, error: new RuntimeError(RuntimeErrorCode.docker, (err as Error).message, null, { cause: err }) };
      }
      throw err;
    }
  }

  /**
   * The network diff, once the container's own diff is empty. Connect and
   * disconnect failures are retried with back-off (not recorded: a network
   * that cannot be joined does not make the container an Error).
   */
  async function syncNetworks(
    initial: ContainerState,
    dockerId: string,
    log: Logger,
    note: (s: ContainerState) => ContainerState,
    attachFailures: Map<string, number>,
    seen: Map<string, NetworkAddress[]> | null = null,
  ): Promise<{ state: ContainerState; retry: boolean }> {
    let state = initial;
    if (!resources || !hasNetworkPart(state)) return { state, retry: false };
    const uuid = state.uuid;
    // Docker is looked at again only after a connect or disconnect: a record changes the log, not Docker.
    // `seen`: what a look since the last Docker operation of this pass showed (after a start).
    let connected: Map<string, NetworkAddress[]> | null = seen;
    for (let step = 0; step < maxSteps; step++) {
      const known = [...knownNetworks(state), ...recordedRefs(state)];
      connected ??= await resources.connectedNetworks(dockerId, uuid, known);
      const actions = diffContainerNetworks(state, connected);
      if (actions.length === 0) return { state, retry: false };
      for (const a of actions) {
        try {
          if (a.type === 'record') {
            const before = state.seq;
            state = note(await record(state, a.observation, log));
            if (state.seq === before) return { state, retry: false };
          } else if (a.type === 'connect') {
            connected = null;
            try {
              await resources.connect({ dockerId, uuid }, a.net);
            } catch (err) {
              const key = netKey(a.net);
              const failures = (attachFailures.get(key) ?? 0) + 1;
              attachFailures.set(key, failures);
              const asked = !(state.spec?.nets ?? []).some((n) => netKey(n) === key); // by network_attach, not by the create
              if (!asked || failures < NETWORK_ATTACH_ATTEMPTS) throw err;
              const reason = (err as Error)?.message ?? String(err);
              log.warn({ network: key, failures, err: reason }, 'network attach given up');
              const before = state.seq;
              state = note(await record(state, { type: 'ContainerNetworkAttachFailed', data: { network: key, reason } }, log));
              attachFailures.delete(key);
              if (state.seq === before) return { state, retry: false };
              break; // diff again against the new state
            }
            attachFailures.delete(netKey(a.net));
            log.info({ network: a.net.resolved?.id }, 'network connected');
          } else {
            connected = null;
            await resources.disconnect({ dockerId, uuid }, a.network, known);
            log.info({ network: a.network }, 'network disconnected');
          }
        } catch (err) {
          log.warn({ action: a.type, err: (err as Error)?.message ?? String(err) }, 'network step failed');
          return { state, retry: true };
        }
      }
    }
    return { state, retry: true };
  }

  /** Whether the container has a network part to sync (containers from before networks, on Docker's default bridge, have none). */
  function hasNetworkPart(s: ContainerState): boolean {
    if (!resources?.network || !networksApply(s)) return false;
    const resolvedAtCreate = (s.spec?.nets ?? []).some((n) => n.resolved);
    return resolvedAtCreate || s.nets !== undefined || Object.keys(observedNetworks(s)).length > 0;
  }

  /**
   * Right after a start: the networks Docker shows the container on, and the
   * attachments to record with ContainerStarted (what syncNetworks would
   * record next, as ContainerNetworkAttached). Null when there is no network
   * part, or when Docker could not be asked (then syncNetworks looks again).
   */
  async function networksAfterStart(
    state: ContainerState,
    dockerId: string,
    log: Logger,
  ): Promise<{ connected: Map<string, NetworkAddress[]>; attached: ContainerNetworkAttached['data'][] } | null> {
    if (!resources || !hasNetworkPart(state)) return null;
    try {
      const connected = await resources.connectedNetworks(dockerId, state.uuid, [...knownNetworks(state), ...recordedRefs(state)]);
      const attached = diffContainerNetworks(state, connected).flatMap((a) =>
        a.type === 'record' && a.observation.type === 'ContainerNetworkAttached' ? [a.observation.data] : [],
      );
      return { connected, attached };
    } catch (err) {
      log.warn({ err: (err as Error)?.message ?? String(err) }, 'networks not seen after the start; looked at again after it is recorded');
      return null;
    }
  }

  /** Networks recorded on the container but no longer wanted: enough to find and disconnect them. */
  function recordedRefs(s: ContainerState): NetworkRef[] {
    return Object.entries(observedNetworks(s)).map(([id, n]) => ({ id, neutronNetId: n.neutronNetId, name: id, projectId: s.projectId ?? '', cidr: null, gateway: null }));
  }

  const ensureImage = (image: string, policy: Parameters<typeof sharedEnsureImage>[3], log: Logger) =>
    sharedEnsureImage(runtime, hostname, image, policy, log, images);

  /** A failure changes the record only if the status or its reason would change. */
  function failureIsNews(state: ContainerState, reason: string): boolean {
    const status = state.desired.power === 'deleted' ? 'Deleting' : 'Error';
    return state.status !== status || state.statusReason !== reason;
  }

  /**
   * One pass. Throws only when Docker or the event store cannot be reached;
   * the worker then retries with back-off.
   *
   * Docker is observed (`find`) at the start of every round, except right
   * after a create or start of ours succeeded: Docker's answer already says
   * the state (created; running), so the next round diffs against that. It
   * is never trusted further than the next Docker call: the start that
   * follows a create fails (404, 409) if the container was meddled with,
   * and a container that exits at once raises a Docker event, which runs
   * another pass that observes it. `mem.last` follows every append, so the
   * worker can tell the read model's echo of our own appends from news.
   */
  async function pass(initial: ContainerState, mem: WorkerMemory, log: Logger, opts: PassOptions = {}): Promise<PassOutcome> {
    let state = initial;
    const uuid = state.uuid;
    const note = (s: ContainerState): ContainerState => {
      if (!mem.last || s.seq > mem.last.seq) mem.last = s;
      return s;
    };
    /** What Docker told us about the container, when we need not ask it again (see above). */
    let told: DockerObservation | null = null;
    /** The container's networks as Docker showed them after our last operation (a start), if it was looked at. */
    let netsSeen: Map<string, NetworkAddress[]> | null = null;
    mem.seen = undefined;
    rounds: for (let step = 0; step < maxSteps; step++) {
      // A uuid that can only have a container under its own name, and that we
      // never created, has none: create (whose name conflict adopts one made
      // by a crashed predecessor) rather than ask Docker first.
      const docker: DockerObservation | null = told ?? (knownAbsent(uuid) ? null : await runtime.find(hostname, uuid));
      told = null;
      const actions = diffContainer(state, docker);
      if (actions.length === 0) {
        const now = clock().getTime();
        const stale = (d: DockerObservation) =>
          mem.netSynced !== networkSyncKey(state, d) || (opts.full === true && now - mem.netSyncedAt >= networkRecheckMs);
        // Only a container that runs has endpoints to look at and connect: the networks of a
        // stopped one are its configuration, and what changed meanwhile is done when it runs.
        const live = docker !== null && (docker.state === 'running' || docker.state === 'paused');
        if (docker && live && stale(docker)) {
          mem.netSynced = null;
          const net = await syncNetworks(state, docker.dockerId, log, note, mem.attachFailures, netsSeen);
          state = net.state;
          if (net.retry) {
            mem.failures++;
            return { state, retryInMs: failureBackoff(mem.failures) };
          }
          mem.netSynced = networkSyncKey(state, docker);
          mem.netSyncedAt = now;
        }
        mem.failures = 0;
        mem.conflicts = 0;
        mem.seen = docker ? { dockerId: docker.dockerId, state: docker.state } : null;
        mem.seenAt = now;
        return { state, retryInMs: null };
      }
      for (const a of actions) {
        told = null;
        if (a.type === 'record') {
          // The volumes go before the record that drops the container from this host's slice.
          if (a.observation.type === 'ContainerDeleted' && resources) await resources.releaseMounts(uuid, mountsOf(state.spec));
          const before = state.seq;
          state = note(await record(state, a.observation, log));
          if (state.seq === before) {
            // Rejected against the fresh log and nothing moved: the diff asks for something illegal.
            log.error({ observation: a.observation, status: state.status }, 'illegal observation; not retrying until the next change');
            return { state, retryInMs: null };
          }
          continue rounds;
        }
        const policyRestart = a.type === 'start' && state.observed.restartCount > mem.restartsSeen;
        const now = clock().getTime();
        if (policyRestart && mem.lastStartAt !== null && mem.crashLoop > 0) {
          const wait = mem.lastStartAt + Math.min(250 * 2 ** (mem.crashLoop - 1), MAX_CRASH_BACKOFF_MS) - now;
          if (wait > 0) {
            log.info({ waitMs: wait, restarts: state.observed.restartCount }, 'restart backed off');
            return { state, retryInMs: wait };
          }
        }
        const t0 = clock().getTime();
        const echo = ECHO_ACTION[a.type];
        if (echo) mem.echoes.set(echo, t0 + ECHO_WINDOW_MS);
        let done: Performed | undefined;
        netsSeen = null;
        try {
          done = await perform(a, uuid, state, log);
        } finally {
          if (echo && !done?.ok) mem.echoes.delete(echo);
        }
        if (!done.ok) {
          const e = done.error;
          log.warn({ action: a.type, code: e.code, err: e.message }, 'docker operation failed');
          if (e.code === RuntimeErrorCode.unavailable) throw e;
          if (e.code === RuntimeErrorCode.notFound) continue rounds; // gone meanwhile: observe it
          if (e.code === RuntimeErrorCode.conflict && ++mem.conflicts <= MAX_CONFLICTS) continue rounds;
          if (a.type === 'commit') {
            // A refused commit leaves the container as it is: recorded against its generation, not as an Error.
            state = note(await record(state, { type: 'ContainerCommitFailed', data: { generation: a.generation, reason: e.message } }, log));
            continue rounds;
          }
          mem.failures++;
          if (a.type === 'update') return { state, retryInMs: failureBackoff(mem.failures) };
          // The start of a container created to run failed: record the container first, so the Error keeps its Docker id.
          if (a.type === 'start' && startsWhenCreated(state)) {
            state = note(await record(state, { type: 'ContainerCreated', data: { dockerId: a.dockerId } }, log));
          }
          if (failureIsNews(state, e.message)) {
            state = note(await record(state, { type: 'ContainerOperationFailed', data: { operation: a.type, reason: e.message } }, log));
          }
          return { state, retryInMs: failureBackoff(mem.failures) };
        }
        log.debug({ action: a.type, ms: clock().getTime() - t0 }, 'docker operation done');
        if (a.type === 'start') {
          if (policyRestart) mem.crashLoop = mem.lastStartAt !== null && now - mem.lastStartAt < CRASH_WINDOW_MS ? mem.crashLoop + 1 : 0;
          else mem.crashLoop = 0;
          mem.lastStartAt = now;
          mem.restartsSeen = state.observed.restartCount;
        }
        // A create that a start follows at once is recorded with the start (startsWhenCreated).
        let completion = a.type === 'create' && startsWhenCreated(state) ? null : completionOf(a, done.dockerId, done.imageId ?? null);
        if (completion?.type === 'ContainerStarted') {
          // The addresses go with the start (one record, not two): the look syncNetworks would make next, made now and kept for it.
          const nets = await networksAfterStart(state, completion.data.dockerId, log);
          netsSeen = nets?.connected ?? null;
          if (nets && nets.attached.length > 0) completion = { ...completion, data: { ...completion.data, networks: nets.attached } };
        }
        if (completion) state = note(await record(state, completion, log));
        told = toldBy(a, done.dockerId, docker, state);
      }
    }
    log.warn({ steps: maxSteps, status: state.status }, 'not converged within the step limit; retrying');
    return { state, retryInMs: 1_000 };
  }

  return {
    pass,
    /** The uuids of this host's labelled containers, as listed once the reconciler's host is running (see `knownAbsent`). */
    sawListing(uuids: Iterable<string>): void {
      listed ??= new Set(uuids);
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
