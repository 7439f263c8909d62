/**
 * `zunctl diff`, the pure part: the read models and Docker's reality against
 * the fold of the log, per host, naming every difference.
 *
 * The log is the truth; everything else is compared to it:
 * - read models (`zun_containers` / `zun_capsules` keyed by id, `zun_desired`
 *   keyed by host): a live aggregate must have an entry carrying the fold's
 *   state (for a container's `zun_desired` entry, the fold up to its last
 *   event that rewrites it: the host's own observations do not); a deleted one must have none; an entry folded from an older or
 *   newer sequence is stale or ahead (the projector lags by design, so a
 *   difference seen once may be in flight: run the diff again);
 * - Docker (containers labelled `zun.managed=true`): each must belong to a
 *   live aggregate placed on the host its `zun.host` label names; an
 *   aggregate the log says has a Docker container must have exactly one;
 *   where nothing is in flight (no task state), Docker's state must match
 *   the status.
 */
import type { ContainerState } from '../../domain/container.js';
import type { CapsuleState } from '../../domain/capsule.js';
import type { AggregateState } from '../../domain/history.js';

export interface DockerContainerInfo {
  readonly dockerId: string;
  readonly name: string;
  /** Docker's State (running, exited, paused, created, restarting, removing, dead). */
  readonly state: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The labels the host actor puts on everything it makes (services/host-actor/docker.ts LABELS). */
export interface OwnershipLabels {
  readonly managed: string;
  readonly host: string;
  readonly container: string;
  readonly capsule: string;
}

export const DiffKind = {
  readModelMissing: 'read-model-missing',
  readModelOrphan: 'read-model-orphan',
  readModelStale: 'read-model-stale',
  readModelAhead: 'read-model-ahead',
  readModelMismatch: 'read-model-mismatch',
  desiredMissing: 'desired-missing',
  desiredOrphan: 'desired-orphan',
  desiredStale: 'desired-stale',
  desiredMismatch: 'desired-mismatch',
  dockerMissing: 'docker-missing',
  dockerOrphan: 'docker-orphan',
  dockerWrongHost: 'docker-wrong-host',
  dockerDuplicate: 'docker-duplicate',
  dockerIdMismatch: 'docker-id-mismatch',
  dockerStateMismatch: 'docker-state-mismatch',
} as const;
export type DiffKind = (typeof DiffKind)[keyof typeof DiffKind];

export interface Difference {
  readonly kind: DiffKind;
  readonly aggregate: 'container' | 'capsule';
  readonly id: string;
  /** The host the difference is about (null: an unplaced aggregate's read model). */
  readonly host: string | null;
  readonly message: string;
}

export interface DiffInput {
  readonly containers: ReadonlyMap<string, ContainerState>;
  readonly capsules: ReadonlyMap<string, CapsuleState>;
  /** Each container as `zun_desired` must hold it (HistoryFold.containersDesired); without it, the full fold. */
  readonly containersDesired?: ReadonlyMap<string, ContainerState>;
  /** Read model entries by aggregate id (decoded values), when read. */
  readonly readModels?: {
    readonly containers: ReadonlyMap<string, unknown>;
    readonly capsules: ReadonlyMap<string, unknown>;
    /** `zun_desired` entries: host, kind, id and the value. */
    readonly desired: readonly { readonly host: string; readonly kind: string; readonly id: string; readonly value: unknown }[];
  };
  /** Docker containers carrying the managed label, when read. */
  readonly docker?: readonly DockerContainerInfo[];
  readonly labels: OwnershipLabels;
  /** Only this host's differences. */
  readonly host?: string;
}

export interface DiffReport {
  readonly inSync: boolean;
  readonly checked: { readonly readModels: boolean; readonly docker: boolean };
  readonly hosts: Readonly<Record<string, readonly Difference[]>>;
  /** Differences of aggregates that have no host. */
  readonly unplaced: readonly Difference[];
  readonly counts: Readonly<Record<string, number>>;
}

const live = (s: AggregateState | undefined): boolean => !!s && s.status !== null && s.status !== 'Deleted';

/** Docker states that agree with a settled status. */
const DOCKER_STATES: Partial<Record<string, readonly string[]>> = {
  Running: ['running'],
  Paused: ['paused'],
  Stopped: ['exited', 'created', 'dead'],
  Created: ['created'],
};

function seqOf(v: unknown): number | null {
  const s = (v as { seq?: unknown } | null)?.seq;
  return typeof s === 'number' ? s : null;
}

/** Top-level fields whose JSON differs (the read model is JSON of the state). */
function differingFields(state: AggregateState, model: unknown): string[] {
  const a = JSON.parse(JSON.stringify(state)) as Record<string, unknown>;
  const b = (model ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

export function diffCluster(input: DiffInput): DiffReport {
  const out: Difference[] = [];
  const add = (d: Difference) => out.push(d);
  const kinds = [
    ['container', input.containers] as const,
    ['capsule', input.capsules] as const,
  ];

  if (input.readModels) {
    const rm = input.readModels;
    for (const [kind, folded] of kinds) {
      const models = kind === 'container' ? rm.containers : rm.capsules;
      for (const [id, s] of folded as ReadonlyMap<string, AggregateState>) {
        const m = models.get(id);
        if (!live(s)) {
          if (m !== undefined) add({ kind: DiffKind.readModelOrphan, aggregate: kind, id, host: s.host, message: `read model has ${kind} ${id}, which the log says is ${s.status ?? 'never created'}` });
          continue;
        }
        if (m === undefined) {
          add({ kind: DiffKind.readModelMissing, aggregate: kind, id, host: s.host, message: `read model lacks ${kind} ${id} (${s.status} at seq ${s.seq})` });
          continue;
        }
        compareModel(kind, id, s, m, 'read model', DiffKind.readModelStale, DiffKind.readModelAhead, DiffKind.readModelMismatch, add);
      }
      for (const id of models.keys()) {
        if (!(folded as ReadonlyMap<string, AggregateState>).has(id)) {
          add({ kind: DiffKind.readModelOrphan, aggregate: kind, id, host: null, message: `read model has ${kind} ${id}, which has no events in the log` });
        }
      }
    }
    const seen = new Set<string>();
    for (const d of rm.desired) {
      const kind = d.kind === 'capsule' ? 'capsule' : 'container';
      const s = (kind === 'container' ? input.containers : input.capsules).get(d.id) as AggregateState | undefined;
      seen.add(`${kind}:${d.id}@${d.host}`);
      if (!s || !live(s) || s.host !== d.host) {
        const why = !s || !live(s) ? `the log says it is ${s?.status ?? 'unknown'}` : `the log places it on ${s.host ?? 'no host'}`;
        add({ kind: DiffKind.desiredOrphan, aggregate: kind, id: d.id, host: d.host, message: `desired state for ${kind} ${d.id} on ${d.host}, but ${why}` });
        continue;
      }
      // A container's entry is the state up to its last intent (the host's own observations do not rewrite it).
      const expected = kind === 'container' ? (input.containersDesired?.get(d.id) ?? s) : s;
      compareModel(kind, d.id, expected as AggregateState, d.value, 'desired state', DiffKind.desiredStale, DiffKind.readModelAhead, DiffKind.desiredMismatch, add);
    }
    for (const [kind, folded] of kinds) {
      for (const [id, s] of folded as ReadonlyMap<string, AggregateState>) {
        if (live(s) && s.host && !seen.has(`${kind}:${id}@${s.host}`)) {
          add({ kind: DiffKind.desiredMissing, aggregate: kind, id, host: s.host, message: `no desired state for ${kind} ${id} on ${s.host} (${s.status})` });
        }
      }
    }
  }

  if (input.docker) {
    const L = input.labels;
    const byContainer = new Map<string, DockerContainerInfo[]>();
    const byCapsule = new Map<string, DockerContainerInfo[]>();
    for (const d of input.docker) {
      if (d.labels[L.managed] !== 'true') continue;
      const capsule = d.labels[L.capsule];
      const target = capsule ? byCapsule : byContainer;
      const id = capsule ?? d.labels[L.container];
      if (!id) continue;
      const l = target.get(id);
      if (l) l.push(d);
      else target.set(id, [d]);
    }
    // Every labelled Docker container must belong to a live aggregate on its host.
    for (const [kind, map] of [['container', byContainer], ['capsule', byCapsule]] as const) {
      const folded = (kind === 'container' ? input.containers : input.capsules) as ReadonlyMap<string, AggregateState>;
      for (const [id, ds] of map) {
        const s = folded.get(id);
        for (const d of ds) {
          const host = d.labels[L.host] ?? '?';
          if (!s || s.status === null) {
            add({ kind: DiffKind.dockerOrphan, aggregate: kind, id, host, message: `Docker container ${short(d.dockerId)} (${d.state}) is labelled ${kind} ${id}, which has no events in the log` });
          } else if (s.status === 'Deleted') {
            add({ kind: DiffKind.dockerOrphan, aggregate: kind, id, host, message: `Docker container ${short(d.dockerId)} (${d.state}) is labelled ${kind} ${id}, which the log says is Deleted` });
          } else if (s.host !== host) {
            add({ kind: DiffKind.dockerWrongHost, aggregate: kind, id, host, message: `Docker container ${short(d.dockerId)} is labelled host ${host}, but the log places ${kind} ${id} on ${s.host ?? 'no host'}` });
          }
        }
        if (kind === 'container' && s && live(s) && ds.length > 1) {
          add({ kind: DiffKind.dockerDuplicate, aggregate: kind, id, host: s.host, message: `${ds.length} Docker containers are labelled container ${id}: ${ds.map((d) => short(d.dockerId)).join(', ')}` });
        }
      }
    }
    // Every aggregate the log says has a Docker container must have one, in a matching state.
    for (const [id, s] of input.containers) {
      if (!live(s) || !s.host) continue;
      const ds = (byContainer.get(id) ?? []).filter((d) => d.labels[L.host] === s.host);
      const dockerId = s.observed.dockerId;
      if (ds.length === 0) {
        if (dockerId) add({ kind: DiffKind.dockerMissing, aggregate: 'container', id, host: s.host, message: `the log says container ${id} is ${s.status} as Docker container ${short(dockerId)}, but Docker has none on ${s.host}` });
        continue;
      }
      if (ds.length !== 1) continue; // reported as a duplicate
      const d = ds[0]!;
      if (dockerId && d.dockerId !== dockerId) {
        add({ kind: DiffKind.dockerIdMismatch, aggregate: 'container', id, host: s.host, message: `the log says container ${id} is Docker container ${short(dockerId)}, Docker has ${short(d.dockerId)}` });
      }
      const want = s.status ? DOCKER_STATES[s.status] : undefined;
      if (s.taskState === null && want && !want.includes(d.state)) {
        add({ kind: DiffKind.dockerStateMismatch, aggregate: 'container', id, host: s.host, message: `the log says container ${id} is ${s.status}, Docker says ${d.state}` });
      }
    }
    for (const [id, s] of input.capsules) {
      if (!live(s) || !s.host || !s.sandboxId) continue;
      const ds = (byCapsule.get(id) ?? []).filter((d) => d.labels[L.host] === s.host);
      if (ds.length === 0) add({ kind: DiffKind.dockerMissing, aggregate: 'capsule', id, host: s.host, message: `the log says capsule ${id} is ${s.status} with sandbox ${short(s.sandboxId)}, but Docker has none of its containers on ${s.host}` });
    }
  }

  const filtered = input.host === undefined ? out : out.filter((d) => d.host === input.host);
  const hosts: Record<string, Difference[]> = {};
  const unplaced: Difference[] = [];
  const counts: Record<string, number> = {};
  for (const d of filtered) {
    counts[d.kind] = (counts[d.kind] ?? 0) + 1;
    if (d.host === null) unplaced.push(d);
    else (hosts[d.host] ??= []).push(d);
  }
  const sortedHosts = Object.fromEntries(Object.entries(hosts).sort(([a], [b]) => a.localeCompare(b)));
  return {
    inSync: filtered.length === 0,
    checked: { readModels: !!input.readModels, docker: !!input.docker },
    hosts: sortedHosts,
    unplaced,
    counts,
  };
}

function compareModel(
  kind: 'container' | 'capsule',
  id: string,
  s: AggregateState,
  m: unknown,
  what: string,
  stale: DiffKind,
  ahead: DiffKind,
  mismatch: DiffKind,
  add: (d: Difference) => void,
): void {
  const seq = seqOf(m);
  if (seq === null || seq < s.seq) {
    add({ kind: stale, aggregate: kind, id, host: s.host, message: `${what} of ${kind} ${id} is at seq ${seq ?? '?'} (${(m as { status?: string })?.status ?? '?'}), the log at seq ${s.seq} (${s.status})` });
    return;
  }
  if (seq > s.seq) {
    add({ kind: ahead, aggregate: kind, id, host: s.host, message: `${what} of ${kind} ${id} is at seq ${seq}, beyond the log as read (seq ${s.seq}): events arrived during the diff` });
    return;
  }
  const fields = differingFields(s, m);
  if (fields.length) {
    add({ kind: mismatch, aggregate: kind, id, host: s.host, message: `${what} of ${kind} ${id} differs from the fold at the same seq ${s.seq} in: ${fields.join(', ')}` });
  }
}

const short = (id: string) => id.slice(0, 12);
