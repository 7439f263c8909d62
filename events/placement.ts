/**
 * The placement ledger: one aggregate per scheduling domain
 * (`zun.evt.placement.<domain>`) that serialises every claim on every host,
 * like Nomad's plan applier. Each commit is fenced on the ledger's last
 * sequence, so a deposed leader working from a stale view cannot overcommit a
 * host: its append fails and it must re-read. ContainerScheduled and
 * CapsuleScheduled follow a commit; the ledger is the authority on capacity.
 */
import type { DomainEvent } from './envelope.js';
import type { Claim } from './container.js';

export interface Placement {
  /** The consumer of the claim: a container or a capsule. */
  readonly kind: 'container' | 'capsule';
  readonly id: string;
  readonly host: string;
  readonly claim: Claim;
}

export type PlacementsCommitted = DomainEvent<'PlacementsCommitted', { readonly placements: readonly Placement[] }>;
/** Claims given back after their container or capsule was deleted. */
export type ClaimsReleased = DomainEvent<'ClaimsReleased', { readonly ids: readonly string[] }>;

/**
 * A live claim changed size (a container resized: PATCH cpu/memory or
 * resize_container), so that the ledger never holds less than what runs.
 *
 * `basis` orders resizes by the container's own log, whatever order they
 * reach the ledger in (services/gateway/claims.ts):
 * - `reserve: true`, before a growing update decided on the container at
 *   sequence `basis`: the claim becomes at least the new size, and only if
 *   the host has room. Refused when the ledger already holds a newer basis.
 * - otherwise, after an update landed at sequence `basis`: the claim becomes
 *   exactly the container's; ignored unless `basis` is newer than the
 *   claim's, so a late resize never undoes a newer reservation.
 * Events written before `basis` existed have none: they set the claim.
 */
export type ClaimResized = DomainEvent<
  'ClaimResized',
  { readonly id: string; readonly claim: Claim; readonly basis?: number; readonly reserve?: boolean }
>;

export type PlacementEvent = PlacementsCommitted | ClaimsReleased | ClaimResized;
export type PlacementEventType = PlacementEvent['type'];
export const PlacementEventTypes = ['PlacementsCommitted', 'ClaimsReleased', 'ClaimResized'] as const satisfies readonly PlacementEventType[];
