/**
 * Resizing a placed container's claim in the placement ledger, around the
 * container's update (PATCH cpu/memory, resize_container), so that a resize
 * can never overcommit a host, however resizes of one container race (from
 * one gateway or several).
 *
 * The container's log orders the resizes; the ledger follows that order
 * through ClaimResized's `basis` (the container's sequence a resize was
 * decided on), not the order its appends happen to arrive in:
 *  1. a growing resize first reserves in the ledger, on the container's
 *     state at sequence B: the claim becomes at least the new size, fenced
 *     on the ledger and only if the host has room (409 otherwise, and
 *     nothing is appended to the container);
 *  2. the container's update is then appended fenced on B itself: if the
 *     container changed meanwhile (another resize landed), it fails, and the
 *     whole resize is decided again on the new state;
 *  3. after the update lands at sequence S, the claim is set to exactly the
 *     container's size, unless the ledger holds a newer basis already. A
 *     late step 3 of an older resize therefore cannot shrink the claim below
 *     a newer reservation.
 * A failure between the steps leaves an over-claim (never an overcommit),
 * logged, until the next resize sets the exact size or the claim is
 * released.
 *
 * Zun does the same check synchronously in the compute host's resource
 * tracker (container_update claims the difference) and fails the update
 * when the host cannot take it.
 *
 * The gateway keeps a private copy of the ledger, refreshed incrementally
 * from the stream before each decision; any number of gateways may resize at
 * once, and the placement leader's own appends meet the same fence.
 */
import type { Claim } from '../../events/index.js';
import { DEFAULT_PLACEMENT_DOMAIN, initialLedger, toMilli } from '../../domain/placement.js';
import type { HostCapacity } from '../../domain/host.js';
import type { ContainerState } from '../../domain/container.js';
import { ConcurrencyError, type EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { createKeyedLock } from '../platform/keyed-lock.js';
import { resizeClaim } from '../placement/ledger.js';
import { Conflict } from './errors.js';

export interface ClaimResizerDeps {
  readonly store: EventStore;
  readonly newId: () => string;
  readonly now: () => Date;
  /** A host's capacity from the registry; null when it is not known. */
  readonly capacityOf: (host: string) => Promise<HostCapacity | null>;
  /** The container as its log has it now (a resize that lost a race is decided again on it). */
  readonly load: (uuid: string) => Promise<ContainerState>;
  readonly log: Logger;
  /** The placement domain whose ledger holds the claims (default `default`). */
  readonly domain?: string;
  /** How often a resize that keeps losing races is decided again before it is a 409 (default 10). */
  readonly maxAttempts?: number;
}

export interface ResizePatch {
  readonly cpu?: number;
  readonly memory?: number;
}

/** The ledger holds a resize decided on a newer state of the container: decide again. */
class StaleBasis extends Error {}

export function createClaimResizer(deps: ClaimResizerDeps) {
  const domain = deps.domain ?? DEFAULT_PLACEMENT_DOMAIN;
  const maxAttempts = deps.maxAttempts ?? 10;
  const ledger = initialLedger();
  // One decision at a time on the shared private ledger.
  const serial = createKeyedLock();
  const ledgerDeps = { store: deps.store, domain, newId: deps.newId, now: deps.now, meta: { projectId: 'system', userId: 'zun-api' } };

  const resize = (id: string, claim: Claim, requestId: string, at: { basis: number; reserve: boolean }) =>
    serial('ledger', () => resizeClaim(ledgerDeps, ledger, id, claim, deps.capacityOf, requestId, at));

  /** One attempt on the container as `s` shows it; `update` must append fenced on `s`. */
  async function attempt(s: ContainerState, patch: ResizePatch, requestId: string, update: (from: ContainerState) => Promise<ContainerState>) {
    if ((patch.cpu === undefined && patch.memory === undefined) || !s.claim || !s.spec) return update(s);
    const old = s.claim;
    const next: Claim = { ...old, cpu: patch.cpu ?? s.spec.cpu, memoryMiB: patch.memory ?? s.spec.memory };
    const grows = toMilli(next.cpu) > toMilli(old.cpu) || next.memoryMiB > old.memoryMiB;
    if (grows) {
      const r = await resize(s.uuid, next, requestId, { basis: s.seq, reserve: true });
      if (!r.ok) {
        if (r.code === 'stale') throw new StaleBasis(r.message);
        throw new Conflict(r.message);
      }
    }
    let out: ContainerState;
    try {
      out = await update(s);
    } catch (err) {
      if (grows && !(err instanceof ConcurrencyError)) {
        deps.log.warn({ uuid: s.uuid, err: (err as Error).message }, 'update failed after the claim was reserved: it over-claims until the next resize or the release');
      }
      throw err;
    }
    if (out.claim) {
      try {
        await resize(s.uuid, out.claim, `${requestId}-exact`, { basis: out.seq, reserve: false });
      } catch (err) {
        deps.log.warn({ uuid: s.uuid, err: (err as Error).message }, 'claim not set to the exact size: it over-claims until the next resize or the release');
      }
    }
    return out;
  }

  return {
    /**
     * Runs `update` (the container's ContainerUpdated append, fenced on the
     * state it is given) with the ledger resized around it. A patch without
     * cpu or memory, or a container with no claim yet, just runs `update`.
     * `s` is the container as the caller loaded it; when the container or
     * the ledger moved on meanwhile, the resize is decided again on the
     * container as it is then.
     */
    async around(s: ContainerState, patch: ResizePatch, requestId: string, update: (from: ContainerState) => Promise<ContainerState>): Promise<ContainerState> {
      for (let n = 1; ; n++) {
        const current = n === 1 ? s : await deps.load(s.uuid);
        try {
          return await attempt(current, patch, requestId, update);
        } catch (err) {
          if (!(err instanceof ConcurrencyError || err instanceof StaleBasis)) throw err;
          if (n >= maxAttempts) throw new Conflict(`Container ${s.uuid} is being resized by other requests; try again.`);
        }
      }
    },
  };
}

export type ClaimResizer = ReturnType<typeof createClaimResizer>;
