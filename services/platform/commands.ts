/**
 * The command path shared by every writer (gateway, placement, host actor):
 * load the aggregate, fold it, ask the decider, append fenced and idempotent,
 * and on a concurrency conflict reload and decide again (bounded).
 *
 * Rejections are values and append nothing. The returned state is the fold
 * including the appended events, with their real stream sequences.
 */
import {
  envelope,
  type AggregateKind,
  type CapsuleEvent,
  type ContainerEvent,
  type DomainEvent,
  type EventEnvelope,
  type RecordedEvent,
} from '../../events/index.js';
import { decideContainer, type ContainerCommand, type ContainerRejection } from '../../domain/container-decider.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import { decideCapsule, type CapsuleCommand, type CapsuleRejection } from '../../domain/capsule-decider.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from '../../domain/capsule.js';
import { ConcurrencyError, type EventStore } from './eventstore.js';

export interface CommandContext {
  readonly projectId: string;
  readonly userId: string;
  readonly requestId: string;
  /** Idempotency key: the same id never appends twice. Defaults to requestId. */
  readonly commandId?: string;
  readonly correlationId?: string;
  readonly causationId?: string | null;
}

export interface CommandDeps {
  readonly store: EventStore;
  readonly newId: () => string;
  readonly now: () => Date;
  readonly maxRetries?: number;
}

export type CommandResult<S, R> =
  | { readonly ok: true; readonly state: S; readonly appended: readonly RecordedEvent[]; readonly duplicate: boolean }
  | { readonly ok: false; readonly rejection: R; readonly state: S };

interface Kind<S, C, R, E extends DomainEvent> {
  readonly kind: AggregateKind;
  readonly initial: (id: string) => S;
  readonly evolve: (s: S, e: RecordedEvent<E>) => S;
  readonly decide: (c: C, s: S) => { readonly events: readonly E[] } | { readonly rejected: R };
  readonly seqOf: (s: S) => number;
}

async function execute<S, C, R, E extends DomainEvent>(
  k: Kind<S, C, R, E>,
  deps: CommandDeps,
  id: string,
  command: C,
  ctx: CommandContext,
): Promise<CommandResult<S, R>> {
  const maxRetries = deps.maxRetries ?? 5;
  const commandId = ctx.commandId ?? ctx.requestId;
  for (let attempt = 0; ; attempt++) {
    const history = (await deps.store.load(k.kind, id)) as RecordedEvent<E>[];
    let state = history.reduce(k.evolve, k.initial(id));
    const decision = k.decide(command, state);
    if ('rejected' in decision) return { ok: false, rejection: decision.rejected, state };
    const occurredAt = deps.now().toISOString();
    const envelopes = decision.events.map((e) =>
      envelope(e, { id: deps.newId(), aggregateKind: k.kind, aggregateId: id }, {
        projectId: ctx.projectId,
        userId: ctx.userId,
        requestId: ctx.requestId,
        correlationId: ctx.correlationId ?? ctx.requestId,
        causationId: ctx.causationId ?? null,
        occurredAt,
      }),
    ) as EventEnvelope[];
    try {
      const res = await deps.store.append(k.kind, id, envelopes, k.seqOf(state), commandId);
      const appended = envelopes.map((e, i) => ({ ...e, seq: res.seqs[i]! }) as RecordedEvent);
      if (res.duplicate) {
        // Already applied by an earlier attempt of the same command: report the stored state.
        const stored = (await deps.store.load(k.kind, id)) as RecordedEvent<E>[];
        return { ok: true, state: stored.reduce(k.evolve, k.initial(id)), appended: [], duplicate: true };
      }
      for (const e of appended) state = k.evolve(state, e as RecordedEvent<E>);
      return { ok: true, state, appended, duplicate: false };
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < maxRetries) continue;
      throw err;
    }
  }
}

const containerKind: Kind<ContainerState, ContainerCommand, ContainerRejection, ContainerEvent> = {
  kind: 'container',
  initial: initialContainerState,
  evolve: evolveContainer,
  decide: decideContainer,
  seqOf: (s) => s.seq,
};

const capsuleKind: Kind<CapsuleState, CapsuleCommand, CapsuleRejection, CapsuleEvent> = {
  kind: 'capsule',
  initial: initialCapsuleState,
  evolve: evolveCapsule,
  decide: decideCapsule,
  seqOf: (s) => s.seq,
};

export function executeContainerCommand(deps: CommandDeps, uuid: string, command: ContainerCommand, ctx: CommandContext) {
  return execute(containerKind, deps, uuid, command, ctx);
}

export function executeCapsuleCommand(deps: CommandDeps, uuid: string, command: CapsuleCommand, ctx: CommandContext) {
  return execute(capsuleKind, deps, uuid, command, ctx);
}

export async function loadContainer(store: EventStore, uuid: string): Promise<ContainerState> {
  return ((await store.load('container', uuid)) as RecordedEvent<ContainerEvent>[]).reduce(evolveContainer, initialContainerState(uuid));
}

export async function loadCapsule(store: EventStore, uuid: string): Promise<CapsuleState> {
  return ((await store.load('capsule', uuid)) as RecordedEvent<CapsuleEvent>[]).reduce(evolveCapsule, initialCapsuleState(uuid));
}

export { ConcurrencyError };
