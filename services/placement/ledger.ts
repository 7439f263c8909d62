/**
 * The ledger writer: the only code that appends to `placement/<domain>`.
 *
 * Every append is fenced on the sequence of the ledger the decision was made
 * from. On a fence failure the ledger is reloaded from the store and the batch
 * planned and decided again: the plan applier never trusts a view it has not
 * just confirmed. Failures ("no valid host") are final only against a ledger
 * confirmed fresh: by a successful fenced append, or, when nothing was placed,
 * by reading the ledger's last sequence.
 *
 * Used by the placement service and by the no-overcommit property test, so the
 * property tests this code, not a copy of it.
 */
import { envelope, type Claim, type EventEnvelope, type Placement, type PlacementEvent, type RecordedEvent } from '../../events/index.js';
import type { HostCapacity, HostRecord } from '../../domain/host.js';
import {
  applyLedgerEvent,
  decideCommit,
  decideRelease,
  decideResize,
  planBatch,
  type MutableLedger,
  type PlacementRequest,
  type PlanFailure,
  type RejectionReason,
  type Weigher,
} from '../../domain/placement.js';
import { ConcurrencyError, type EventStore } from '../platform/eventstore.js';

export interface LedgerDeps {
  readonly store: EventStore;
  readonly domain: string;
  readonly newId: () => string;
  readonly now: () => Date;
  /** Who the ledger events are attributed to. */
  readonly meta?: { readonly projectId: string; readonly userId: string };
  /** Fence failures tolerated per batch before giving up (default 20). */
  readonly maxRetries?: number;
}

/** The ledger could not be committed: every retry met a newer ledger. */
export class LedgerContentionError extends Error {
  readonly code = 'LEDGER_CONTENTION';
  constructor(domain: string, attempts: number, options?: { cause?: unknown }) {
    super(`ledger ${domain}: fence failed ${attempts} times in a row`, options);
    this.name = 'LedgerContentionError';
  }
}

const SYSTEM = { projectId: 'system', userId: 'zun-placement' };

function ledgerEnvelope(deps: LedgerDeps, event: PlacementEvent, requestId: string): EventEnvelope {
  const meta = deps.meta ?? SYSTEM;
  return envelope(event, { id: deps.newId(), aggregateKind: 'placement', aggregateId: deps.domain }, {
    projectId: meta.projectId,
    userId: meta.userId,
    requestId,
    correlationId: requestId,
    causationId: null,
    occurredAt: deps.now().toISOString(),
  }) as EventEnvelope;
}

/** Folds the ledger events appended after `ledger.seq` into it. Returns how many. */
export async function refreshLedger(store: EventStore, domain: string, ledger: MutableLedger): Promise<number> {
  const events = (await store.load('placement', domain, ledger.seq)) as RecordedEvent<PlacementEvent>[];
  for (const e of events) applyLedgerEvent(ledger, e);
  return events.length;
}

export interface CommitOutcome {
  /** Placements now in the ledger, with the sequence of their commit (0 when nothing was appended). */
  readonly placements: readonly Placement[];
  readonly commitSeq: number;
  /** Requests that fit nowhere against the confirmed ledger: final. */
  readonly failures: readonly PlanFailure[];
  /** Requests whose consumer already holds a claim (placed before): schedule them from the ledger. */
  readonly alreadyClaimed: readonly PlacementRequest[];
  /** Placements the applier refused (a host went away): plan them again later. */
  readonly retry: readonly { readonly request: PlacementRequest; readonly reason: RejectionReason }[];
  /** Fence failures met on the way. */
  readonly conflicts: number;
}

/**
 * Plans `requests` on `hosts` and commits what fits to the ledger, fenced.
 * `ledger` is the caller's private ledger; it is refreshed on conflicts and
 * has the commit folded in on return.
 */
export async function commitBatch(
  deps: LedgerDeps,
  ledger: MutableLedger,
  requests: readonly PlacementRequest[],
  hosts: readonly HostRecord[],
  weigher: Weigher,
  requestId: string,
): Promise<CommitOutcome> {
  const maxRetries = deps.maxRetries ?? 20;
  const capacity = new Map<string, HostCapacity>(hosts.map((h) => [h.hostname, h.capacity]));
  const byId = new Map(requests.map((r) => [r.id, r]));
  const commandId = `ledger-${requestId}`;
  for (let attempt = 0; ; attempt++) {
    const plan = planBatch(requests, hosts, ledger, weigher);
    const decision = decideCommit(ledger, plan.placements, capacity);
    const alreadyClaimed = [
      ...plan.skipped,
      ...decision.rejected.filter((r) => r.reason === 'already-claimed').map((r) => byId.get(r.placement.id)!),
    ].filter((r, i, a) => a.findIndex((x) => x.id === r.id) === i && ledger.claims.has(r.id));
    const retry = decision.rejected
      .filter((r) => r.reason !== 'already-claimed' && r.reason !== 'duplicate')
      .map((r) => ({ request: byId.get(r.placement.id)!, reason: r.reason }));
    try {
      if (!decision.event) {
        // Nothing to append: confirm the ledger is current before failures become final.
        if (plan.failures.length > 0 && (await deps.store.lastSeq('placement', deps.domain)) !== ledger.seq) {
          throw new ConcurrencyError(`placement.${deps.domain}`, ledger.seq);
        }
        return { placements: [], commitSeq: 0, failures: plan.failures, alreadyClaimed, retry, conflicts: attempt };
      }
      const env = ledgerEnvelope(deps, decision.event, requestId);
      // The command id changes with the fence, so a retry after a conflict is a new message,
      // and a retried publish of the same decision is de-duplicated.
      const res = await deps.store.append('placement', deps.domain, [env], ledger.seq, `${commandId}-${ledger.seq}`);
      const seq = res.seqs[0]!;
      applyLedgerEvent(ledger, { ...decision.event, seq });
      return {
        placements: decision.event.data.placements,
        commitSeq: seq,
        failures: plan.failures,
        alreadyClaimed,
        retry,
        conflicts: attempt,
      };
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      if (attempt >= maxRetries) throw new LedgerContentionError(deps.domain, attempt + 1, { cause: err });
      await refreshLedger(deps.store, deps.domain, ledger);
    }
  }
}

/**
 * Releases the claims of `ids` that the ledger holds, fenced. Returns the ids
 * released (those no longer held after a refresh are dropped silently).
 */
export async function releaseClaims(deps: LedgerDeps, ledger: MutableLedger, ids: readonly string[], requestId: string): Promise<string[]> {
  const maxRetries = deps.maxRetries ?? 20;
  for (let attempt = 0; ; attempt++) {
    const event = decideRelease(ledger, ids);
    if (!event) return [];
    try {
      const env = ledgerEnvelope(deps, event, requestId);
      const res = await deps.store.append('placement', deps.domain, [env], ledger.seq, `release-${requestId}-${ledger.seq}`);
      applyLedgerEvent(ledger, { ...event, seq: res.seqs[0]! });
      return [...event.data.ids];
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      if (attempt >= maxRetries) throw new LedgerContentionError(deps.domain, attempt + 1, { cause: err });
      await refreshLedger(deps.store, deps.domain, ledger);
    }
  }
}

export type ResizeOutcome =
  | { readonly ok: true; readonly resized: boolean }
  | { readonly ok: false; readonly code: 'insufficient' | 'stale'; readonly message: string };

/**
 * Resizes the live claim of `id`, fenced on the ledger (decideResize says
 * whether it fits). Any writer may call it: the placement leader's next
 * append fails its fence and reloads. `ledger` is the caller's private
 * ledger, refreshed here first and on conflicts.
 */
export async function resizeClaim(
  deps: LedgerDeps,
  ledger: MutableLedger,
  id: string,
  claim: Claim,
  capacityOf: (host: string) => Promise<HostCapacity | null>,
  requestId: string,
  at?: { readonly basis: number; readonly reserve: boolean },
): Promise<ResizeOutcome> {
  const maxRetries = deps.maxRetries ?? 20;
  await refreshLedger(deps.store, deps.domain, ledger);
  for (let attempt = 0; ; attempt++) {
    const held = ledger.claims.get(id);
    const d = decideResize(ledger, id, claim, held ? await capacityOf(held.host) : null, at);
    if ('rejected' in d) return { ok: false, code: d.rejected.code, message: d.rejected.message };
    if (!d.event) return { ok: true, resized: false };
    try {
      const env = ledgerEnvelope(deps, d.event, requestId);
      const res = await deps.store.append('placement', deps.domain, [env], ledger.seq, `resize-${requestId}-${id}-${ledger.seq}`);
      applyLedgerEvent(ledger, { ...d.event, seq: res.seqs[0]! });
      return { ok: true, resized: true };
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      if (attempt >= maxRetries) throw new LedgerContentionError(deps.domain, attempt + 1, { cause: err });
      await refreshLedger(deps.store, deps.domain, ledger);
    }
  }
}
