/**
 * Resizing a placed container's claim in the placement ledger, around the
 * container's update (PATCH cpu/memory, resize_container), so that a resize
 * can never overcommit a host.
 *
 * Order, so the ledger never holds less than what runs:
 *  - growing (any dimension up): the ledger first, fenced, and only if the
 *    host has room for the new size next to everything else it holds (409
 *    otherwise, and nothing is appended); then the container's update. If
 *    the update fails, the claim is shrunk back (best effort: a leftover is
 *    an over-claim, never an overcommit);
 *  - shrinking: the container's update first, then the ledger (a failure
 *    there leaves an over-claim, logged).
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
import type { EventStore } from '../platform/eventstore.js';
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
  readonly log: Logger;
  /** The placement domain whose ledger holds the claims (default `default`). */
  readonly domain?: string;
}

export interface ResizePatch {
  readonly cpu?: number;
  readonly memory?: number;
}

export function createClaimResizer(deps: ClaimResizerDeps) {
  const domain = deps.domain ?? DEFAULT_PLACEMENT_DOMAIN;
  const ledger = initialLedger();
  // One decision at a time on the shared private ledger.
  const serial = createKeyedLock();
  const ledgerDeps = { store: deps.store, domain, newId: deps.newId, now: deps.now, meta: { projectId: 'system', userId: 'zun-api' } };

  const resize = (id: string, claim: Claim, requestId: string) =>
    serial('ledger', () => resizeClaim(ledgerDeps, ledger, id, claim, deps.capacityOf, requestId));

  return {
    /**
     * Runs `update` (the container's ContainerUpdated append) with the ledger
     * resized around it. A patch without cpu or memory, or a container with
     * no claim yet, just runs `update`.
     */
    async around<T>(s: ContainerState, patch: ResizePatch, requestId: string, update: () => Promise<T>): Promise<T> {
      if ((patch.cpu === undefined && patch.memory === undefined) || !s.claim || !s.spec) return update();
      const old = s.claim;
      const next: Claim = { ...old, cpu: patch.cpu ?? s.spec.cpu, memoryMiB: patch.memory ?? s.spec.memory };
      const grows = toMilli(next.cpu) > toMilli(old.cpu) || next.memoryMiB > old.memoryMiB;
      if (!grows) {
        const out = await update();
        try {
          await resize(s.uuid, next, requestId);
        } catch (err) {
          deps.log.warn({ uuid: s.uuid, err: (err as Error).message }, 'claim not shrunk in the ledger: it over-claims until the container is deleted');
        }
        return out;
      }
      const r = await resize(s.uuid, next, requestId);
      if (!r.ok) throw new Conflict(r.message);
      try {
        return await update();
      } catch (err) {
        await resize(s.uuid, old, `${requestId}-undo`).catch((undo: unknown) =>
          deps.log.warn({ uuid: s.uuid, err: (undo as Error).message }, 'claim not shrunk back after a failed update: it over-claims'),
        );
        throw err;
      }
    },
  };
}

export type ClaimResizer = ReturnType<typeof createClaimResizer>;
