/**
 * Commands placement sends to containers and capsules (ScheduleContainer,
 * FailScheduling, MarkHostLost and their capsule twins), with a fast path.
 *
 * The fast path decides on the state placement already folded from the
 * stream and appends fenced on that state's sequence: one publish, no load.
 * If the state was stale the fence fails (or the decider rejects it) and the
 * command goes the ordinary way, executeContainerCommand / executeCapsuleCommand,
 * which loads, decides and retries. Same decider, same fence, same command id:
 * the fast path changes the cost, never the outcome.
 */
import type { CapsuleEvent, ContainerEvent, RecordedEvent } from '../../events/index.js';
import { decideContainer, type ContainerCommand, type ContainerRejection } from '../../domain/container-decider.js';
import { evolveContainer, type ContainerState } from '../../domain/container.js';
import { decideCapsule, type CapsuleCommand, type CapsuleRejection } from '../../domain/capsule-decider.js';
import { evolveCapsule, type CapsuleState } from '../../domain/capsule.js';
import {
  executeCapsuleCommand,
  executeContainerCommand,
  toEnvelopes,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../platform/commands.js';
import { ConcurrencyError } from '../platform/eventstore.js';
import {
  NO_VALID_HOST,
  capsuleNeedsPlacement,
  claimIsLive,
  containerNeedsPlacement,
  type ConsumerKind,
  type LedgerClaim,
} from '../../domain/placement.js';

export type ContainerOutcome = CommandResult<ContainerState, ContainerRejection>;
export type CapsuleOutcome = CommandResult<CapsuleState, CapsuleRejection>;

interface FastKind<S extends { seq: number; status: unknown }, C, R, E> {
  readonly kind: 'container' | 'capsule';
  readonly decide: (c: C, s: S) => { readonly events: readonly E[] } | { readonly rejected: R };
  readonly evolve: (s: S, e: RecordedEvent) => S;
  readonly slow: (deps: CommandDeps, id: string, c: C, ctx: CommandContext) => Promise<CommandResult<S, R>>;
}

async function fast<S extends { seq: number; status: unknown }, C, R, E extends ContainerEvent | CapsuleEvent>(
  k: FastKind<S, C, R, E>,
  deps: CommandDeps,
  known: S | undefined,
  id: string,
  cmd: C,
  ctx: CommandContext,
): Promise<CommandResult<S, R>> {
  if (known && known.status !== null) {
    const decision = k.decide(cmd, known);
    if ('events' in decision) {
      const envs = toEnvelopes(deps, k.kind, id, decision.events, ctx);
      try {
        const res = await deps.store.append(k.kind, id, envs, known.seq, ctx.commandId ?? ctx.requestId);
        if (!res.duplicate) {
          let state = known;
          const appended = envs.map((e, i) => ({ ...e, seq: res.seqs[i]! }) as RecordedEvent);
          for (const e of appended) state = k.evolve(state, e);
          return { ok: true, state, appended, duplicate: false };
        }
        // A duplicate: the slow path reports the stored state.
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err;
      }
    }
  }
  return k.slow(deps, id, cmd, ctx);
}

const containerFast: FastKind<ContainerState, ContainerCommand, ContainerRejection, ContainerEvent> = {
  kind: 'container',
  decide: decideContainer,
  evolve: (s, e) => evolveContainer(s, e as RecordedEvent<ContainerEvent>),
  slow: executeContainerCommand,
};

const capsuleFast: FastKind<CapsuleState, CapsuleCommand, CapsuleRejection, CapsuleEvent> = {
  kind: 'capsule',
  decide: decideCapsule,
  evolve: (s, e) => evolveCapsule(s, e as RecordedEvent<CapsuleEvent>),
  slow: executeCapsuleCommand,
};

/** Runs a container command, first against `known` (placement's folded state), else the ordinary way. */
export function runContainerCommand(
  deps: CommandDeps,
  known: ContainerState | undefined,
  id: string,
  cmd: ContainerCommand,
  ctx: CommandContext,
): Promise<ContainerOutcome> {
  return fast(containerFast, deps, known, id, cmd, ctx);
}

export function runCapsuleCommand(
  deps: CommandDeps,
  known: CapsuleState | undefined,
  id: string,
  cmd: CapsuleCommand,
  ctx: CommandContext,
): Promise<CapsuleOutcome> {
  return fast(capsuleFast, deps, known, id, cmd, ctx);
}

// ---------------------------------------------------------------------------
// The steps placement takes per consumer

export interface PlacementCommandDeps extends CommandDeps {
  /** The ledger's domain: part of the command ids. */
  readonly domain: string;
}

type Known = ContainerState | CapsuleState | undefined;

function ctxFor(known: Known, requestId: string, commandId: string): CommandContext {
  return { projectId: known?.projectId ?? 'system', userId: 'zun-placement', requestId, commandId };
}

export type ScheduleResult =
  /** The consumer now runs on the claim's host. */
  | { readonly result: 'scheduled'; readonly state: ContainerState | CapsuleState }
  /** The consumer went away (deleted, failed, placed elsewhere): release the claim. */
  | { readonly result: 'orphaned'; readonly state: ContainerState | CapsuleState };

/**
 * Appends ContainerScheduled / CapsuleScheduled for a claim committed to the
 * ledger. The command id is derived from the commit's ledger sequence and the
 * consumer id, so any instance retrying the same claim appends it once.
 */
export async function scheduleClaim(
  deps: PlacementCommandDeps,
  known: Known,
  claim: LedgerClaim,
  requestId: string,
): Promise<ScheduleResult> {
  const ctx = ctxFor(known, requestId, `schedule-${deps.domain}-${claim.seq}-${claim.id}`);
  const res =
    claim.kind === 'container'
      ? await runContainerCommand(deps, known as ContainerState | undefined, claim.id, { type: 'ScheduleContainer', host: claim.host, claim: claim.claim }, ctx)
      : await runCapsuleCommand(deps, known as CapsuleState | undefined, claim.id, { type: 'ScheduleCapsule', host: claim.host, claim: claim.claim }, ctx);
  const s = res.state;
  const pending = claim.kind === 'container' ? containerNeedsPlacement(s as ContainerState) : capsuleNeedsPlacement(s as CapsuleState);
  return claimIsLive(claim, { status: s.status, host: s.host, pending }) ? { result: 'scheduled', state: s } : { result: 'orphaned', state: s };
}

/** Appends SchedulingFailed with Zun's reason. A rejection (deleted meanwhile) is not an error. */
export async function failScheduling(
  deps: PlacementCommandDeps,
  known: Known,
  kind: ConsumerKind,
  id: string,
  requestId: string,
): Promise<ContainerState | CapsuleState> {
  const ctx = ctxFor(known, requestId, `nohost-${id}-${known?.seq ?? 0}`);
  const res =
    kind === 'container'
      ? await runContainerCommand(deps, known as ContainerState | undefined, id, { type: 'FailScheduling', reason: NO_VALID_HOST }, ctx)
      : await runCapsuleCommand(deps, known as CapsuleState | undefined, id, { type: 'FailCapsuleScheduling', reason: NO_VALID_HOST }, ctx);
  return res.state;
}

/** Appends ContainerHostLost / CapsuleHostLost. The command id names the state it was decided on. */
export async function markHostLost(
  deps: PlacementCommandDeps,
  known: Known,
  kind: ConsumerKind,
  id: string,
  host: string,
  requestId: string,
): Promise<ContainerState | CapsuleState> {
  const ctx = ctxFor(known, requestId, `hostlost-${id}-${known?.seq ?? 0}`);
  const res =
    kind === 'container'
      ? await runContainerCommand(deps, known as ContainerState | undefined, id, { type: 'MarkHostLost', host }, ctx)
      : await runCapsuleCommand(deps, known as CapsuleState | undefined, id, { type: 'MarkCapsuleHostLost', host }, ctx);
  return res.state;
}
