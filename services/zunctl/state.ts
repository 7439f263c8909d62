/**
 * The cluster as the log says it is (or was): containers and capsules per
 * host, with the placement ledger's claims beside them. Pure: it shapes a
 * HistoryFold (domain/history.ts) into a view.
 */
import type { ContainerStatus } from '../../events/index.js';
import type { ContainerState } from '../../domain/container.js';
import type { CapsuleState } from '../../domain/capsule.js';
import type { HostRecord } from '../../domain/host.js';
import { capsuleNeedsPlacement, claimIsLive, containerNeedsPlacement } from '../../domain/placement.js';
import type { HistoryFold } from '../../domain/history.js';

export interface AggregateSummary {
  readonly kind: 'container' | 'capsule';
  readonly id: string;
  readonly name: string | null;
  readonly status: ContainerStatus | null;
  readonly taskState: string | null;
  readonly statusReason: string | null;
  readonly host: string | null;
  readonly projectId: string | null;
  readonly seq: number;
  readonly updatedAt: string | null;
}

export interface ClaimView {
  readonly domain: string;
  readonly kind: 'container' | 'capsule';
  readonly id: string;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly diskGb: number;
  /** Ledger sequence of the commit that made it. */
  readonly seq: number;
  /** False when its consumer is deleted, unknown, or placed elsewhere (a claim not yet released). */
  readonly live: boolean;
}

export interface HostView {
  readonly host: string;
  readonly containers: readonly AggregateSummary[];
  readonly capsules: readonly AggregateSummary[];
  readonly claims: readonly ClaimView[];
  /** Sum of the ledger's claims on the host. */
  readonly claimed: { readonly cpu: number; readonly memoryMiB: number; readonly diskGb: number; readonly count: number };
  /** From the etcd registry, when it was asked: null = not registered (lease gone). */
  readonly registry?: { readonly capacity: HostRecord['capacity']; readonly disabled: boolean; readonly availabilityZone: string } | null;
}

export interface ClusterView {
  /** The cut-off time asked for, or null for "now". */
  readonly at: string | null;
  /** Stream sequence of the last event folded. */
  readonly seq: number;
  readonly hosts: readonly HostView[];
  /** Live aggregates without a host (waiting for placement, or failed to place). */
  readonly unplaced: readonly AggregateSummary[];
  readonly totals: {
    readonly containers: Readonly<Record<string, number>>;
    readonly capsules: Readonly<Record<string, number>>;
  };
}

export function summarize(kind: 'container' | 'capsule', s: ContainerState | CapsuleState): AggregateSummary {
  return {
    kind,
    id: s.uuid,
    name: s.spec?.name ?? null,
    status: s.status,
    taskState: s.taskState,
    statusReason: s.statusReason,
    host: s.host,
    projectId: s.projectId,
    seq: s.seq,
    updatedAt: s.updatedAt,
  };
}

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

export function clusterView(
  fold: HistoryFold,
  opts: { atMs?: number; includeDeleted?: boolean; hosts?: readonly HostRecord[] } = {},
): ClusterView {
  const hosts = new Map<string, { containers: AggregateSummary[]; capsules: AggregateSummary[]; claims: ClaimView[] }>();
  const hostEntry = (h: string) => {
    let e = hosts.get(h);
    if (!e) hosts.set(h, (e = { containers: [], capsules: [], claims: [] }));
    return e;
  };
  const unplaced: AggregateSummary[] = [];
  const totals = { containers: {} as Record<string, number>, capsules: {} as Record<string, number> };
  const visible = (s: ContainerState | CapsuleState) => s.status !== null && (opts.includeDeleted || s.status !== 'Deleted');

  for (const s of fold.containers.values()) {
    const k = s.status ?? 'New';
    totals.containers[k] = (totals.containers[k] ?? 0) + 1;
    if (!visible(s)) continue;
    const v = summarize('container', s);
    if (s.host) hostEntry(s.host).containers.push(v);
    else unplaced.push(v);
  }
  for (const s of fold.capsules.values()) {
    const k = s.status ?? 'New';
    totals.capsules[k] = (totals.capsules[k] ?? 0) + 1;
    if (!visible(s)) continue;
    const v = summarize('capsule', s);
    if (s.host) hostEntry(s.host).capsules.push(v);
    else unplaced.push(v);
  }
  for (const [domain, ledger] of fold.ledgers) {
    for (const c of ledger.claims.values()) {
      const consumer = c.kind === 'container' ? fold.containers.get(c.id) : fold.capsules.get(c.id);
      const pending = consumer
        ? c.kind === 'container'
          ? containerNeedsPlacement(consumer as ContainerState)
          : capsuleNeedsPlacement(consumer as CapsuleState)
        : false;
      const live = claimIsLive(c, { status: consumer?.status ?? null, host: consumer?.host ?? null, pending });
      hostEntry(c.host).claims.push({ domain, kind: c.kind, id: c.id, cpu: c.claim.cpu, memoryMiB: c.claim.memoryMiB, diskGb: c.claim.diskGb, seq: c.seq, live });
    }
  }
  const registry = opts.hosts ? new Map(opts.hosts.map((h) => [h.hostname, h])) : null;
  if (registry) for (const h of registry.keys()) hostEntry(h);

  const views: HostView[] = [...hosts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, e]) => {
      const claimed = e.claims.reduce(
        (acc, c) => ({
          cpu: Math.round((acc.cpu + c.cpu) * 1000) / 1000,
          memoryMiB: acc.memoryMiB + c.memoryMiB,
          diskGb: acc.diskGb + c.diskGb,
          count: acc.count + 1,
        }),
        { cpu: 0, memoryMiB: 0, diskGb: 0, count: 0 },
      );
      const view: HostView = {
        host,
        containers: e.containers.sort(byId),
        capsules: e.capsules.sort(byId),
        claims: e.claims.sort(byId),
        claimed,
      };
      if (!registry) return view;
      const r = registry.get(host);
      return { ...view, registry: r ? { capacity: r.capacity, disabled: r.disabled, availabilityZone: r.availabilityZone } : null };
    });
  return {
    at: opts.atMs === undefined ? null : new Date(opts.atMs).toISOString(),
    seq: fold.seq,
    hosts: views,
    unplaced: unplaced.sort(byId),
    totals,
  };
}
