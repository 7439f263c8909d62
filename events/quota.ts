/**
 * The quota catalogue: two aggregate kinds.
 *
 * - `quota` (`zun.evt.quota.<project id>`): one per project. Holds the limits
 *   an admin set for the project (PUT / DELETE /v1/quotas/{project_id}) and
 *   is the fence that makes quota checks authoritative: every container
 *   create and every cpu/memory update of the project first appends a
 *   QuotaUsageReserved here, fenced on the aggregate's last sequence, so two
 *   concurrent admissions cannot both pass on the same view of the usage.
 *   A reservation counts until its container is visible in the read model;
 *   it lapses at `expiresAt` (the writer chooses the window).
 * - `quota_class` (`zun.evt.quota_class.<class name>`): limits of a quota
 *   class (PUT /v1/quota_classes/{name}); the class named `default` replaces
 *   the configured defaults, as in Zun.
 *
 * Limits are integers; -1 means unlimited. Only the resources a request named
 * are in `limits` (a partial update merges).
 */
import type { DomainEvent } from './envelope.js';

export const QuotaResources = ['containers', 'memory', 'disk', 'cpu'] as const;
export type QuotaResource = (typeof QuotaResources)[number];

export type QuotaLimits = { readonly [K in QuotaResource]?: number };

/** What one container holds against its project's quota. */
export interface QuotaUsage {
  readonly cpu: number;
  /** MiB. */
  readonly memory: number;
  /** GB. */
  readonly disk: number;
}

type E<T extends string, D> = DomainEvent<T, D>;

export type QuotaLimitsSet = E<'QuotaLimitsSet', { readonly limits: QuotaLimits }>;
/** Every project-specific limit dropped: the project is back on the defaults. */
export type QuotaLimitsDeleted = E<'QuotaLimitsDeleted', Record<string, never>>;
export type QuotaUsageReserved = E<
  'QuotaUsageReserved',
  {
    readonly containerId: string;
    /** The container's whole usage once the request is applied (not a delta). */
    readonly usage: QuotaUsage;
    /** ISO-8601 UTC; after it the reservation no longer counts. */
    readonly expiresAt: string;
  }
>;

export type QuotaEvent = QuotaLimitsSet | QuotaLimitsDeleted | QuotaUsageReserved;
export type QuotaEventType = QuotaEvent['type'];
export const QuotaEventTypes = ['QuotaLimitsSet', 'QuotaLimitsDeleted', 'QuotaUsageReserved'] as const satisfies readonly QuotaEventType[];

export type QuotaClassLimitsSet = E<'QuotaClassLimitsSet', { readonly limits: QuotaLimits }>;
export type QuotaClassEvent = QuotaClassLimitsSet;
export type QuotaClassEventType = QuotaClassEvent['type'];
export const QuotaClassEventTypes = ['QuotaClassLimitsSet'] as const satisfies readonly QuotaClassEventType[];
