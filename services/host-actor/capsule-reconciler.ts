/**
 * One reconcile pass for one capsule: observe its containers in Docker (by
 * the capsule label), diff against the folded capsule
 * (domain/capsule-reconcile.ts), act, append what was observed, repeat until
 * the diff is empty.
 *
 * Contracts (as for containers, reconciler.ts):
 * - called by the capsule's worker only, never twice at once for one uuid;
 * - observations go through executeCapsuleCommand (fenced, decided by the
 *   capsule machine); command id `${host}:${uuid}:${seq}:${type}:${member}`,
 *   so an observation of a given state is appended once, even across a crash;
 * - after every start it makes, CapsuleMemberStarted is appended at once
 *   (the diff relies on it to tell a quick exit from a member never run);
 * - volumes are mounted once per capsule (the consumer is the capsule) and
 *   bound into every member that names them; they are let go of before
 *   CapsuleDeleted is recorded;
 * - a member restarted by the restart policy within 10 s of its last start
 *   is backed off (250 ms doubling to 10 s), like a container.
 *
 * The sandbox is `zun-<capsule uuid>`: the base image (there is no pause
 * image here) sleeping for ever, owning the network namespace (the capsule's
 * network, its addresses) and a shareable IPC namespace; members join both
 * (`container:<sandbox>`).
 */
import { ensureImage as sharedEnsureImage } from './images.js';
import type { CapsuleContainerSpec, CapsuleEvent } from '../../events/index.js';
import type { CapsuleState } from '../../domain/capsule.js';
import { diffCapsule, type CapsuleAction, type CapsuleDocker, type CapsuleDockerObservation } from '../../domain/capsule-reconcile.js';
import { sameAddresses } from '../../domain/network-reconcile.js';
import { executeCapsuleCommand } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, SANDBOX_COMMAND, type ContainerRuntime } from './docker.js';
import { failureBackoff } from './reconciler.js';
import { terminalResourceError, type ConsumerMount, type HostResources } from './resources.js';

export interface CapsuleReconcilerDeps {
  readonly hostname: string;
  readonly store: EventStore;
  readonly runtime: ContainerRuntime;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly newId: () => string;
  readonly resources?: HostResources | null;
  /** The sandbox image (default zun-base:latest: there is no registry and no pause image here). */
  readonly sandboxImage?: string;
  readonly maxSteps?: number;
}

export interface CapsuleMemory {
  last: CapsuleState | null;
  failures: number;
  /** Per member: last start (ms) and the crash-loop depth. */
  starts: Map<string, { at: number; loop: number }>;
}

export const newCapsuleMemory = (): CapsuleMemory => ({ last: null, failures: 0, starts: new Map() });

export const DEFAULT_SANDBOX_IMAGE = 'zun-base:latest';
const CRASH_WINDOW_MS = 10_000;

/** The capsule's mounts: every declared volume with its resolved Zun volume. */
function volumeOf(s: CapsuleState, name: string): string | null {
  return s.spec?.volumes.find((v) => v.name === name)?.volumeUuid ?? null;
}

/** One member's mounts. */
export function memberMounts(s: CapsuleState, m: CapsuleContainerSpec): ConsumerMount[] {
  return m.volumeMounts.flatMap((vm) => {
    const volumeId = volumeOf(s, vm.name);
    return volumeId ? [{ kind: 'volume' as const, volumeId, destination: vm.mountPath, readOnly: vm.readOnly }] : [];
  });
}

/** Every volume of the capsule, once. */
export function capsuleMounts(s: CapsuleState): ConsumerMount[] {
  return (s.spec?.volumes ?? []).flatMap((v) => (v.volumeUuid ? [{ kind: 'volume' as const, volumeId: v.volumeUuid, destination: '' }] : []));
}

export function createCapsuleReconciler(deps: CapsuleReconcilerDeps) {
  const { hostname, runtime, store, clock, newId } = deps;
  const resources = deps.resources ?? null;
  const maxSteps = deps.maxSteps ?? 24;
  const sandboxImage = deps.sandboxImage ?? DEFAULT_SANDBOX_IMAGE;
  const commandDeps = { store, newId, now: clock };

  async function record(state: CapsuleState, observation: CapsuleEvent, log: Logger): Promise<CapsuleState> {
    const requestId = `req-${newId()}`;
    const member = 'member' in observation.data ? `:${(observation.data as { member: string }).member}` : '';
    const res = await executeCapsuleCommand(commandDeps, state.uuid, { type: 'RecordCapsuleObservation', observation }, {
      projectId: state.projectId ?? 'unknown',
      userId: state.userId ?? 'unknown',
      requestId,
      commandId: `${hostname}:${state.uuid}:${state.seq}:${observation.type}${member}`,
    });
    if (res.ok) log.info({ reqId: requestId, observation: observation.type, status: res.state.status, seq: res.state.seq }, 'observed');
    else log.warn({ reqId: requestId, observation: observation.type, rejection: res.rejection }, 'observation rejected; re-diffing');
    return res.state;
  }

  async function observe(uuid: string): Promise<CapsuleDocker> {
    const list = await runtime.listCapsule(hostname, uuid);
    const obs = (c: (typeof list)[number]): CapsuleDockerObservation => ({ dockerId: c.dockerId, state: c.state, exitCode: c.exitCode });
    const sandbox = list.find((c) => c.role === 'sandbox' && c.uuid === uuid);
    const members = new Map<string, CapsuleDockerObservation>();
    for (const c of list) if (c.role !== 'sandbox') members.set(c.member, obs(c));
    return { sandbox: sandbox ? obs(sandbox) : null, members };
  }

  const ensureImage = (image: string, policy: Parameters<typeof sharedEnsureImage>[3], log: Logger) =>
    sharedEnsureImage(runtime, hostname, image, policy, log);

  /** Performs one Docker action; a start of a member is followed by its CapsuleMemberStarted. */
  async function perform(a: Exclude<CapsuleAction, { type: 'record' }>, state: CapsuleState, mem: CapsuleMemory, log: Logger): Promise<CapsuleState | { wait: number }> {
    const uuid = state.uuid;
    const spec = state.spec!;
    switch (a.type) {
      case 'create-sandbox': {
        await ensureImage(sandboxImage, 'ifnotpresent', log);
        const endpoint = resources ? await resources.endpointFor(uuid, spec.nets ?? []) : null;
        const dockerId = await runtime.createMember({
          host: hostname, capsuleUuid: uuid, uuid, role: 'sandbox', member: '', image: sandboxImage, command: SANDBOX_COMMAND,
          environment: {}, workdir: null, hostname: spec.name || null, tty: false, interactive: false, exposedPorts: [],
          cpu: null, memory: null, binds: [], endpoint, sandboxId: null,
        });
        await runtime.start({ host: hostname, uuid, dockerId });
        log.info({ dockerId }, 'sandbox started');
        return state;
      }
      case 'start-sandbox':
        await runtime.start({ host: hostname, uuid, dockerId: a.dockerId });
        return state;
      case 'remove-members':
      case 'remove-all': {
        const list = await runtime.listCapsule(hostname, uuid);
        for (const c of list) {
          if (!a.dockerIds.includes(c.dockerId)) continue;
          await runtime.remove({ host: hostname, uuid: c.uuid, dockerId: c.dockerId });
        }
        log.info({ removed: a.dockerIds.length, action: a.type }, 'capsule containers removed');
        return state;
      }
      case 'create-member': {
        const m = a.member;
        if (!m.uuid) throw new RuntimeError(RuntimeErrorCode.docker, `capsule member ${m.name} has no uuid`);
        await ensureImage(m.image, m.imagePullPolicy, log);
        const binds = resources ? await resources.prepareMounts(uuid, memberMounts(state, m)) : [];
        const dockerId = await runtime.createMember({
          host: hostname, capsuleUuid: uuid, uuid: m.uuid, role: a.role, member: m.name, image: m.image, command: m.command,
          environment: m.environment, workdir: m.workdir, hostname: null, tty: m.tty, interactive: m.interactive,
          exposedPorts: m.exposedPorts, cpu: m.cpu, memory: m.memory, binds, endpoint: null, sandboxId: a.sandboxId,
        });
        await runtime.start({ host: hostname, uuid: m.uuid, dockerId });
        mem.starts.set(m.name, { at: clock().getTime(), loop: 0 });
        log.info({ member: m.name, role: a.role, dockerId }, 'capsule member started');
        return record(state, { type: 'CapsuleMemberStarted', data: { member: m.name } }, log);
      }
      case 'start-member': {
        const m = [...spec.initContainers, ...spec.containers].find((x) => x.name === a.member);
        if (!m?.uuid) throw new RuntimeError(RuntimeErrorCode.docker, `capsule member ${a.member} has no uuid`);
        const now = clock().getTime();
        const prev = mem.starts.get(a.member);
        let loop = 0;
        if (a.restart && prev) {
          loop = now - prev.at < CRASH_WINDOW_MS ? prev.loop + 1 : 0;
          const wait = prev.at + (loop > 0 ? Math.min(250 * 2 ** (loop - 1), 10_000) : 0) - now;
          if (wait > 0) return { wait };
        }
        if (resources) await resources.prepareMounts(uuid, memberMounts(state, m));
        await runtime.start({ host: hostname, uuid: m.uuid, dockerId: a.dockerId });
        mem.starts.set(a.member, { at: now, loop });
        log.info({ member: a.member, restart: a.restart }, 'capsule member started');
        return record(state, { type: 'CapsuleMemberStarted', data: { member: a.member } }, log);
      }
    }
  }

  /** The sandbox's addresses, recorded when Docker shows new ones. */
  async function syncNetworks(initial: CapsuleState, log: Logger): Promise<CapsuleState> {
    let state = initial;
    if (!resources?.network || state.deleteRequested || state.status === 'Deleted') return state;
    const sandbox = (await observe(state.uuid)).sandbox;
    if (!sandbox || sandbox.state !== 'running') return state;
    const nets = (state.spec?.nets ?? []).filter((n) => n.resolved);
    const known = nets.map((n) => n.resolved!);
    const connected = await resources.connectedNetworks(sandbox.dockerId, state.uuid, known);
    for (const n of nets) {
      const addrs = connected.get(n.resolved!.id);
      if (addrs === undefined) {
        await resources.connect({ dockerId: sandbox.dockerId, uuid: state.uuid }, n);
        continue;
      }
      if (addrs.length > 0 && !sameAddresses(addrs, state.networks?.[n.resolved!.id]?.addresses)) {
        state = await record(state, { type: 'CapsuleNetworkAttached', data: { network: n.resolved!.id, neutronNetId: n.resolved!.neutronNetId, addresses: addrs } }, log);
      }
    }
    return state;
  }

  function failureIsNews(state: CapsuleState, reason: string): boolean {
    return state.status !== 'Error' || state.statusReason !== reason;
  }

  /** One pass. Throws when Docker or the event store cannot be reached (the worker retries with back-off). */
  async function pass(initial: CapsuleState, mem: CapsuleMemory, log: Logger): Promise<{ state: CapsuleState; retryInMs: number | null }> {
    let state = initial;
    rounds: for (let step = 0; step < maxSteps; step++) {
      const docker = await observe(state.uuid);
      const actions = diffCapsule(state, docker);
      if (actions.length === 0) {
        state = await syncNetworks(state, log);
        mem.failures = 0;
        return { state, retryInMs: null };
      }
      let wait: number | null = null;
      for (const a of actions) {
        if (a.type === 'record') {
          if (a.observation.type === 'CapsuleDeleted' && resources) await resources.releaseMounts(state.uuid, capsuleMounts(state));
          const before = state.seq;
          state = await record(state, a.observation, log);
          if (state.seq === before) {
            log.error({ observation: a.observation.type, status: state.status }, 'illegal observation; not retrying until the next change');
            return { state, retryInMs: null };
          }
          continue rounds;
        }
        try {
          const out = await perform(a, state, mem, log);
          if ('wait' in out) wait = Math.min(wait ?? out.wait, out.wait);
          else state = out;
        } catch (err) {
          const terminal = terminalResourceError(err) || (err instanceof RuntimeError && err.code !== RuntimeErrorCode.unavailable && err.code !== RuntimeErrorCode.notFound && err.code !== RuntimeErrorCode.conflict);
          if (!terminal) throw err;
          mem.failures++;
          const reason = (err as Error).message;
          log.warn({ action: a.type, err: reason }, 'capsule operation failed');
          if (failureIsNews(state, reason) && !state.deleteRequested) state = await record(state, { type: 'CapsuleFailed', data: { reason } }, log);
          return { state, retryInMs: failureBackoff(mem.failures) };
        }
      }
      if (wait !== null) return { state, retryInMs: wait };
    }
    log.warn({ steps: maxSteps, status: state.status }, 'capsule not converged within the step limit; retrying');
    return { state, retryInMs: 1_000 };
  }

  return { pass };
}

export type CapsuleReconciler = ReturnType<typeof createCapsuleReconciler>;
