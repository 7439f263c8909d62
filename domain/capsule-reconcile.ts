/**
 * The host actor's reconcile diff for a capsule: `diffCapsule(state, docker)`.
 *
 * Pure and level-based, like domain/reconcile.ts for containers. Inputs: the
 * folded capsule (desired: its spec, delete requested; observed: sandbox id,
 * members' recorded runs and exits, init done) and what Docker shows now for
 * the containers labelled with the capsule's uuid (the sandbox and each
 * member, by role and member name). The shell acts, appends, observes again
 * and asks again.
 *
 * The capsule's life on a host, Zun's docker capsule driver plus the init
 * containers of its cri driver:
 *   1. the sandbox: the base image sleeping for ever; it owns the network
 *      namespace (the capsule's network) and the IPC namespace;
 *   2. init containers, one at a time and in order, each run to completion
 *      (exit 0) before the next; a failing one is retried as its restart
 *      policy says (under `always`: on-failure, 10 retries), else the capsule
 *      fails;
 *   3. the containers, all started once every init container is done; each
 *      restarted after an exit as the capsule's restart policy says;
 *   4. Running once every container runs; Stopped once none runs and none
 *      will be restarted.
 * Members join the sandbox's namespaces (NetworkMode/IpcMode
 * `container:<sandbox>`); volumes are mounted once and bound into each.
 *
 * Observations first, as for containers: when Docker differs from the log
 * (a member started or exited, the sandbox was made), the only answer is a
 * record of it; Docker operations are asked for only with the log in step.
 * Every record changes the fold so the same Docker state no longer asks for
 * it, so the loop converges.
 */
import type { CapsuleContainerSpec, CapsuleEvent } from '../events/index.js';
import type { DockerState } from './reconcile.js';
import { capsuleMember, type CapsuleState } from './capsule.js';
import { capsuleMemberRestartPolicy } from './capsule-template.js';

/** Docker's view of one container of the capsule. */
export interface CapsuleDockerObservation {
  readonly dockerId: string;
  readonly state: DockerState;
  readonly exitCode: number;
}

export interface CapsuleDocker {
  readonly sandbox: CapsuleDockerObservation | null;
  /** By member name (init and regular containers). */
  readonly members: ReadonlyMap<string, CapsuleDockerObservation>;
}

export type CapsuleAction =
  | { readonly type: 'record'; readonly observation: CapsuleEvent }
  /** Create and start the sandbox (volumes and the first network are prepared by the shell). */
  | { readonly type: 'create-sandbox' }
  | { readonly type: 'start-sandbox'; readonly dockerId: string }
  /** Create the member in the sandbox's namespaces and start it. */
  | { readonly type: 'create-member'; readonly member: CapsuleContainerSpec; readonly role: 'init' | 'container'; readonly sandboxId: string }
  | { readonly type: 'start-member'; readonly member: string; readonly dockerId: string; readonly restart: boolean }
  /** Remove every member (the sandbox they shared is gone: they are made again). */
  | { readonly type: 'remove-members'; readonly dockerIds: readonly string[] }
  /** Remove the sandbox and every member. */
  | { readonly type: 'remove-all'; readonly dockerIds: readonly string[] };

const running = (d: CapsuleDockerObservation) => d.state === 'running' || d.state === 'paused' || d.state === 'restarting';
const ended = (d: CapsuleDockerObservation) => d.state === 'exited' || d.state === 'dead';

function allDockerIds(d: CapsuleDocker): string[] {
  return [...(d.sandbox ? [d.sandbox.dockerId] : []), ...[...d.members.values()].map((m) => m.dockerId)];
}

/** Whether a member that exited with `exitCode` (its `exits`-th exit) is started again. */
export function restartsAfter(s: CapsuleState, role: 'init' | 'container', exitCode: number, exits: number): boolean {
  const policy = capsuleMemberRestartPolicy(s.spec?.restartPolicy ?? 'always', role);
  if (policy.Name === 'always') return true;
  if (policy.Name === 'no') return false;
  const max = Number(policy.MaximumRetryCount) || 0;
  return exitCode !== 0 && (max === 0 || exits <= max);
}

const record = (observation: CapsuleEvent): CapsuleAction => ({ type: 'record', observation });

type MemberStep =
  /** Something to do for this member first. */
  | { readonly kind: 'act'; readonly action: CapsuleAction }
  | { readonly kind: 'running' }
  /** Exited, recorded, and not started again. */
  | { readonly kind: 'ended'; readonly exitCode: number };

/**
 * One member: create it, start it, record what Docker shows, or restart it
 * after an exit as the policy says. The shell records CapsuleMemberStarted
 * right after each start it makes, so an exited member that is not recorded
 * as running has had its exit recorded, unless the actor crashed between the
 * start and that record (no exit recorded yet: then it did run).
 */
function memberStep(
  s: CapsuleState,
  spec: CapsuleContainerSpec,
  role: 'init' | 'container',
  obs: CapsuleDockerObservation | undefined,
  sandboxId: string,
): MemberStep {
  const m = capsuleMember(s, spec.name);
  if (!obs) return { kind: 'act', action: { type: 'create-member', member: spec, role, sandboxId } };
  if (running(obs)) {
    return m.running ? { kind: 'running' } : { kind: 'act', action: record({ type: 'CapsuleMemberStarted', data: { member: spec.name } }) };
  }
  if (!ended(obs)) {
    // created, never started
    return { kind: 'act', action: { type: 'start-member', member: spec.name, dockerId: obs.dockerId, restart: false } };
  }
  if (m.running) return { kind: 'act', action: record({ type: 'CapsuleMemberExited', data: { member: spec.name, exitCode: obs.exitCode } }) };
  if (m.exits === 0) return { kind: 'act', action: record({ type: 'CapsuleMemberStarted', data: { member: spec.name } }) };
  const exitCode = m.exitCode ?? obs.exitCode;
  if (!(role === 'init' && exitCode === 0) && restartsAfter(s, role, exitCode, m.exits)) {
    return { kind: 'act', action: { type: 'start-member', member: spec.name, dockerId: obs.dockerId, restart: true } };
  }
  return { kind: 'ended', exitCode };
}

/** The next actions for one capsule on its host. */
export function diffCapsule(s: CapsuleState, d: CapsuleDocker): CapsuleAction[] {
  if (s.status === null || s.host === null || s.spec === null) return [];
  const ids = allDockerIds(d);
  if (s.status === 'Deleted') return ids.length > 0 ? [{ type: 'remove-all', dockerIds: ids }] : [];
  if (s.deleteRequested) {
    return ids.length > 0 ? [{ type: 'remove-all', dockerIds: ids }] : [record({ type: 'CapsuleDeleted', data: {} })];
  }
  // A failed capsule is left as it is for the user to see and delete; so is one whose host was lost.
  if (s.status === 'Error' || s.status === 'Unknown') return [];

  const spec = s.spec;
  // 1. The sandbox.
  if (d.sandbox === null) {
    const members = [...d.members.values()].map((m) => m.dockerId);
    // Members in a namespace that is gone cannot run again: make them anew.
    if (members.length > 0) return [{ type: 'remove-members', dockerIds: members }];
    return [{ type: 'create-sandbox' }];
  }
  if (d.sandbox.dockerId !== s.sandboxId) return [record({ type: 'CapsuleSandboxCreated', data: { sandboxId: d.sandbox.dockerId } })];
  if (!running(d.sandbox)) {
    // Its members lost their network namespace with it; they are made again in the new one.
    const members = [...d.members.values()].map((m) => m.dockerId);
    return members.length > 0 ? [{ type: 'remove-members', dockerIds: members }] : [{ type: 'start-sandbox', dockerId: d.sandbox.dockerId }];
  }
  const sandboxId = d.sandbox.dockerId;

  // 2. Init containers, in order, one at a time.
  if (!s.initDone) {
    for (const init of spec.initContainers) {
      const step = memberStep(s, init, 'init', d.members.get(init.name), sandboxId);
      if (step.kind === 'act') return [step.action];
      if (step.kind === 'running') return []; // wait for it to finish
      if (step.kind === 'ended' && step.exitCode !== 0) {
        return [record({ type: 'CapsuleFailed', data: { reason: `init container ${init.name} exited with ${step.exitCode}` } })];
      }
    }
    return [record({ type: 'CapsuleInitCompleted', data: {} })];
  }

  // 3. The containers: records first (one at a time), then every Docker operation due.
  const ops: CapsuleAction[] = [];
  let anyRunning = false;
  for (const c of spec.containers) {
    const step = memberStep(s, c, 'container', d.members.get(c.name), sandboxId);
    if (step.kind === 'act') {
      if (step.action.type === 'record') return [step.action];
      ops.push(step.action);
    } else if (step.kind === 'running') {
      anyRunning = true;
    }
  }
  if (ops.length > 0) return ops;
  // 4. The capsule's status. Here every container runs, or has exited and will
  // not be started again: Running while any runs (all of them, unless the
  // policy let some finish), Stopped once none does.
  if (anyRunning && s.status !== 'Running') return [record({ type: 'CapsuleStarted', data: {} })];
  if (!anyRunning && s.status !== 'Stopped') return [record({ type: 'CapsuleStopped', data: {} })];
  return [];
}
