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
import { executeCommand } from './aggregate.js';

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

/** Wraps decided events in envelopes carrying the command's metadata. */
export function toEnvelopes(
  deps: Pick<CommandDeps, 'newId' | 'now'>,
  kind: AggregateKind,
  id: string,
  events: readonly DomainEvent[],
  ctx: CommandContext,
): EventEnvelope[] {
  const occurredAt = deps.now().toISOString();
  return events.map((e) =>
    envelope(e, { id: deps.newId(), aggregateKind: kind, aggregateId: id }, {
      projectId: ctx.projectId,
      userId: ctx.userId,
      requestId: ctx.requestId,
      correlationId: ctx.correlationId ?? ctx.requestId,
      causationId: ctx.causationId ?? null,
      occurredAt,
    }),
  ) as EventEnvelope[];
}

/** One aggregate kind as the command path needs it. */
export interface AggregateDef<S extends { readonly seq: number }, E extends DomainEvent> {
  readonly kind: AggregateKind;
  readonly initial: (id: string) => S;
  readonly evolve: (s: S, e: RecordedEvent<E>) => S;
}

/**
 * Load, fold, decide, append fenced on the folded sequence; on a conflict,
 * again (bounded): the retry loop is executeCommand's (aggregate.ts). This
 * adds the fold, the envelopes and the resulting state. `decide` sees the
 * freshly folded state on every attempt. A decision with no events appends
 * nothing and succeeds.
 *
 * `from`: a state the caller believes is the log's latest (a writer that
 * folds its own appends, like the host actor; or the initial state of an
 * aggregate the caller has just named, like a new uuid, fenced on 0). The
 * first attempt decides on it without reading the log, fenced on its
 * sequence, so it lands only if that state is indeed the latest. Anything else (a fence failure, a
 * rejection or a no-op decision that a stale state may explain, a
 * duplicate) goes the ordinary way; the command id is the same on both, so
 * nothing is appended twice.
 *
 * `fenced` (with `from`): the command holds only on that state. It is decided
 * on `from` alone, and a fence failure throws the ConcurrencyError instead of
 * deciding again on the log (a caller that did other work on the strength of
 * `from`, like reserving room for a resize, must redo that work first).
 */
export async function executeOn<S extends { readonly seq: number }, E extends DomainEvent, R>(
  def: AggregateDef<S, E>,
  deps: CommandDeps,
  id: string,
  decide: (s: S) => { readonly events: readonly E[] } | { readonly rejected: R },
  ctx: CommandContext,
  opts: { readonly from?: S; readonly fenced?: boolean } = {},
): Promise<CommandResult<S, R>> {
  const from = opts.from;
  if (from) {
    const d = decide(from);
    if (opts.fenced && 'rejected' in d) return { ok: false, rejection: d.rejected, state: from };
    if (opts.fenced && !('rejected' in d) && d.events.length === 0) return { ok: true, state: from, appended: [], duplicate: false };
    if (!('rejected' in d) && d.events.length > 0) {
      const envelopes = toEnvelopes(deps, def.kind, id, d.events, ctx);
      try {
        const r = await deps.store.append(def.kind, id, envelopes, from.seq, ctx.commandId ?? ctx.requestId);
        if (!r.duplicate) {
          const appended = envelopes.map((e, i) => ({ ...e, seq: r.seqs[i]! }) as RecordedEvent);
          return { ok: true, state: appended.reduce((s, e) => def.evolve(s, e as RecordedEvent<E>), from), appended, duplicate: false };
        }
      } catch (err) {
        if (!(err instanceof ConcurrencyError) || opts.fenced) throw err;
      }
    }
  }
  const load = async () => ((await deps.store.load(def.kind, id)) as RecordedEvent<E>[]).reduce(def.evolve, def.initial(id));
  const out = await executeCommand<S, R>({
    store: deps.store,
    kind: def.kind,
    id,
    commandId: ctx.commandId ?? ctx.requestId,
    ...(deps.maxRetries !== undefined ? { maxRetries: deps.maxRetries } : {}),
    load: async () => {
      const state = await load();
      return { state, seq: state.seq };
    },
    decide: (state) => {
      const d = decide(state);
      return 'rejected' in d ? d : { events: toEnvelopes(deps, def.kind, id, d.events, ctx) };
    },
  });
  if (out.outcome === 'rejected') return { ok: false, rejection: out.rejected, state: out.state };
  // Already applied by an earlier attempt of the same command: report the stored state.
  if (out.duplicate) return { ok: true, state: await load(), appended: [], duplicate: true };
  const appended = out.events.map((e, i) => ({ ...e, seq: out.seqs[i]! }) as RecordedEvent);
  const state = appended.reduce((s, e) => def.evolve(s, e as RecordedEvent<E>), out.state);
  return { ok: true, state, appended, duplicate: false };
}

export const containerAggregate: AggregateDef<ContainerState, ContainerEvent> = {
  kind: 'container',
  initial: initialContainerState,
  evolve: evolveContainer,
};

export const capsuleAggregate: AggregateDef<CapsuleState, CapsuleEvent> = {
  kind: 'capsule',
  initial: initialCapsuleState,
  evolve: evolveCapsule,
};

export function executeContainerCommand(
  deps: CommandDeps,
  uuid: string,
  command: ContainerCommand,
  ctx: CommandContext,
  opts: { readonly from?: ContainerState; readonly fenced?: boolean } = {},
): Promise<CommandResult<ContainerState, ContainerRejection>> {
  return executeOn(containerAggregate, deps, uuid, (s) => decideContainer(command, s), ctx, opts);
}

export function executeCapsuleCommand(
  deps: CommandDeps,
  uuid: string,
  command: CapsuleCommand,
  ctx: CommandContext,
): Promise<CommandResult<CapsuleState, CapsuleRejection>> {
  return executeOn(capsuleAggregate, deps, uuid, (s) => decideCapsule(command, s), ctx);
}

export async function loadContainer(store: EventStore, uuid: string): Promise<ContainerState> {
  return ((await store.load('container', uuid)) as RecordedEvent<ContainerEvent>[]).reduce(evolveContainer, initialContainerState(uuid));
}

export async function loadCapsule(store: EventStore, uuid: string): Promise<CapsuleState> {
  return ((await store.load('capsule', uuid)) as RecordedEvent<CapsuleEvent>[]).reduce(evolveCapsule, initialCapsuleState(uuid));
}

export { ConcurrencyError };
