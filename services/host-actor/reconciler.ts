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
 *   records addresses.
 */
import { ensureImage as sharedEnsureImage } from './images.js';
import type { ContainerObservation, ContainerSpec } from '../../events/index.js';
import type { NetworkRef } from '../../events/network.js';
import { desiredNets, observedNetworks, type ContainerState } from '../../domain/container.js';
import { diffContainerNetworks, networksApply } from '../../domain/network-reconcile.js';
import {
  completionOf,
  diffContainer,
  type DockerAction,
  type DockerObservation,
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
}

export const newWorkerMemory = (): WorkerMemory => ({ last: null, failures: 0, conflicts: 0, lastStartAt: null, restartsSeen: 0, crashLoop: 0 });

export interface PassOutcome {
  readonly state: ContainerState;
  /** Run again after this many ms (null: converged, wait for the next trigger). */
  readonly retryInMs: number | null;
}

const CRASH_WINDOW_MS = 10_000;
const MAX_CRASH_BACKOFF_MS = 10_000;
const MAX_FAILURE_BACKOFF_MS = 30_000;
const MAX_CONFLICTS = 3;

export const failureBackoff = (n: number) => Math.min(500 * 2 ** Math.max(0, n - 1), MAX_FAILURE_BACKOFF_MS);

type Performed = { ok: true; dockerId: string | null } | { ok: false; error: RuntimeError };

export function createReconciler(deps: ReconcilerDeps) {
  const { hostname, runtime, store, clock, newId } = deps;
  const maxSteps = deps.maxSteps ?? 12;
  const resources = deps.resources ?? null;
  const commandDeps = { store, newId, now: clock };

  async function record(state: ContainerState, observation: ContainerObservation, log: Logger): Promise<ContainerState> {
    const requestId = `req-${newId()}`;
    const res = await executeContainerCommand(commandDeps, state.uuid, { type: 'RecordObservation', observation }, {
      projectId: state.projectId ?? 'unknown',
      userId: state.userId ?? 'unknown',
      requestId,
      commandId: `${hostname}:${state.uuid}:${state.seq}:${observation.type}`,
    });
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
          const dockerId = await runtime.create({ host: hostname, uuid, spec: state.spec!, image: a.image, generation: a.generation, binds, endpoint });
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
  async function syncNetworks(initial: ContainerState, dockerId: string, log: Logger): Promise<{ state: ContainerState; retry: boolean }> {
    let state = initial;
    if (!resources?.network || !networksApply(state)) return { state, retry: false };
    // Containers from before networks (Docker's default bridge) have nothing to sync.
    const resolvedAtCreate = (state.spec?.nets ?? []).some((n) => n.resolved);
    if (!resolvedAtCreate && state.nets === undefined && Object.keys(observedNetworks(state)).length === 0) return { state, retry: false };
    const uuid = state.uuid;
    for (let step = 0; step < maxSteps; step++) {
      const known = [...knownNetworks(state), ...recordedRefs(state)];
      const connected = await resources.connectedNetworks(dockerId, uuid, known);
      const actions = diffContainerNetworks(state, connected);
      if (actions.length === 0) return { state, retry: false };
      for (const a of actions) {
        try {
          if (a.type === 'record') {
            const before = state.seq;
            state = await record(state, a.observation, log);
            if (state.seq === before) return { state, retry: false };
          } else if (a.type === 'connect') {
            await resources.connect({ dockerId, uuid }, a.net);
            log.info({ network: a.net.resolved?.id }, 'network connected');
          } else {
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

  /** Networks recorded on the container but no longer wanted: enough to find and disconnect them. */
  function recordedRefs(s: ContainerState): NetworkRef[] {
    return Object.entries(observedNetworks(s)).map(([id, n]) => ({ id, neutronNetId: n.neutronNetId, name: id, projectId: s.projectId ?? '', cidr: null, gateway: null }));
  }

  const ensureImage = (image: string, policy: Parameters<typeof sharedEnsureImage>[3], log: Logger) =>
    sharedEnsureImage(runtime, hostname, image, policy, log);

  /** A failure changes the record only if the status or its reason would change. */
  function failureIsNews(state: ContainerState, reason: string): boolean {
    const status = state.desired.power === 'deleted' ? 'Deleting' : 'Error';
    return state.status !== status || state.statusReason !== reason;
  }

  /**
   * One pass. Throws only when Docker or the event store cannot be reached;
   * the worker then retries with back-off.
   */
  async function pass(initial: ContainerState, mem: WorkerMemory, log: Logger): Promise<PassOutcome> {
    let state = initial;
    const uuid = state.uuid;
    rounds: for (let step = 0; step < maxSteps; step++) {
      const docker: DockerObservation | null = await runtime.find(hostname, uuid);
      const actions = diffContainer(state, docker);
      if (actions.length === 0) {
        if (docker) {
          const net = await syncNetworks(state, docker.dockerId, log);
          state = net.state;
          if (net.retry) {
            mem.failures++;
            return { state, retryInMs: failureBackoff(mem.failures) };
          }
        }
        mem.failures = 0;
        mem.conflicts = 0;
        return { state, retryInMs: null };
      }
      for (const a of actions) {
        if (a.type === 'record') {
          // The volumes go before the record that drops the container from this host's slice.
          if (a.observation.type === 'ContainerDeleted' && resources) await resources.releaseMounts(uuid, mountsOf(state.spec));
          const before = state.seq;
          state = await record(state, a.observation, log);
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
        const done = await perform(a, uuid, state, log);
        if (!done.ok) {
          const e = done.error;
          log.warn({ action: a.type, code: e.code, err: e.message }, 'docker operation failed');
          if (e.code === RuntimeErrorCode.unavailable) throw e;
          if (e.code === RuntimeErrorCode.notFound) continue rounds; // gone meanwhile: observe it
          if (e.code === RuntimeErrorCode.conflict && ++mem.conflicts <= MAX_CONFLICTS) continue rounds;
          mem.failures++;
          if (a.type === 'update') return { state, retryInMs: failureBackoff(mem.failures) };
          if (failureIsNews(state, e.message)) {
            state = await record(state, { type: 'ContainerOperationFailed', data: { operation: a.type, reason: e.message } }, log);
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
        const completion = completionOf(a, done.dockerId);
        if (completion) state = await record(state, completion, log);
      }
    }
    log.warn({ steps: maxSteps, status: state.status }, 'not converged within the step limit; retrying');
    return { state, retryInMs: 1_000 };
  }

  return { pass };
}

export type Reconciler = ReturnType<typeof createReconciler>;
