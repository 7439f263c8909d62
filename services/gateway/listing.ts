/**
 * GET /v1/containers: query parsing, filtering, sorting and marker paging
 * over read-model states. Pure.
 *
 * Zun pages in SQL with sort keys `[sort_key, id]` in one direction and the
 * marker's row as the lower bound; `id` is the creation order, which here is
 * (created_at, uuid).
 */
import type { ContainerState } from '../../domain/container.js';
import { InvalidParameterValue, InvalidValue, type ZunError } from './errors.js';
import { flattenQuery, parseBoolStrict, type Result } from './validate.js';

export const MAX_LIMIT = 1000;

export const LIST_FILTERS = ['name', 'image', 'project_id', 'user_id', 'memory', 'host', 'task_state', 'status', 'auto_remove'] as const;
/** Accepted and ignored, as Zun's controller pops them. */
const IGNORED = ['resource_url', 'expand'] as const;

type SortValue = string | number | boolean | null;

const SORT_KEYS: Readonly<Record<string, (s: ContainerState) => SortValue>> = {
  id: (s) => s.createdAt,
  uuid: (s) => s.uuid,
  name: (s) => s.spec?.name ?? null,
  image: (s) => s.spec?.image ?? null,
  status: (s) => s.status,
  status_reason: (s) => s.statusReason,
  task_state: (s) => s.taskState,
  cpu: (s) => s.spec?.cpu ?? null,
  // A string column in Zun: sorts as text.
  memory: (s) => (s.spec ? String(s.spec.memory) : null),
  disk: (s) => s.spec?.disk ?? null,
  host: (s) => s.host,
  project_id: (s) => s.projectId,
  user_id: (s) => s.userId,
  created_at: (s) => s.createdAt,
  updated_at: (s) => s.updatedAt,
  hostname: (s) => s.spec?.hostname ?? null,
  workdir: (s) => s.spec?.workdir ?? null,
  image_driver: (s) => s.spec?.imageDriver ?? null,
  image_pull_policy: (s) => s.spec?.imagePullPolicy ?? null,
  runtime: (s) => s.spec?.runtime ?? null,
  cpu_policy: (s) => s.spec?.cpuPolicy ?? null,
  auto_remove: (s) => s.spec?.autoRemove ?? null,
  auto_heal: (s) => s.spec?.autoHeal ?? null,
  interactive: (s) => s.spec?.interactive ?? null,
  tty: (s) => s.spec?.tty ?? null,
  privileged: (s) => s.spec?.privileged ?? null,
};

export interface ListQuery {
  readonly limit: number;
  readonly marker: string | null;
  readonly sortKey: string;
  readonly sortDir: 'asc' | 'desc';
  readonly filters: readonly (readonly [string, string])[];
}

/** Everything but `all_projects`, which the caller checks first (it is a policy question). */
export function parseListQuery(query: unknown): Result<ListQuery> {
  const q = flattenQuery(query);
  const fail = (error: ZunError) => ({ ok: false, error }) as const;

  let limit = MAX_LIMIT;
  if (q['limit'] !== undefined) {
    const raw = String(q['limit']).trim();
    const n = /^[+-]?\d+$/.test(raw) ? Number.parseInt(raw, 10) : NaN;
    if (!Number.isInteger(n) || n <= 0) return fail(new InvalidValue('Limit must be positive integer'));
    limit = Math.min(MAX_LIMIT, n);
  }
  const sortDir = q['sort_dir'] === undefined ? 'asc' : String(q['sort_dir']);
  if (sortDir !== 'asc' && sortDir !== 'desc') {
    return fail(new InvalidValue(`Invalid sort direction: ${sortDir}. Acceptable values are 'asc' or 'desc'`));
  }
  const sortKey = q['sort_key'] === undefined ? 'id' : String(q['sort_key']);
  const filters = LIST_FILTERS.filter((k) => q[k] !== undefined).map((k) => [k, String(q[k])] as const);
  const marker = q['marker'] === undefined || q['marker'] === '' ? null : String(q['marker']);

  const known = new Set<string>([...LIST_FILTERS, ...IGNORED, 'limit', 'sort_dir', 'sort_key', 'marker', 'all_projects']);
  const unknown = Object.keys(q).filter((k) => !known.has(k));
  if (unknown.length > 0) return fail(new InvalidValue(`Unknown parameters: ${unknown.join(', ')}`));
  if (!Object.hasOwn(SORT_KEYS, sortKey)) {
    return fail(new InvalidParameterValue(`The sort_key value "${sortKey}" is an invalid field for sorting`));
  }
  return { ok: true, value: { limit, marker, sortKey, sortDir, filters } };
}

function matches(s: ContainerState, [key, value]: readonly [string, string]): boolean {
  switch (key) {
    case 'name':
      return s.spec?.name === value;
    case 'image':
      return s.spec?.image === value;
    case 'project_id':
      return s.projectId === value;
    case 'user_id':
      return s.userId === value;
    case 'memory':
      return s.spec !== null && String(s.spec.memory) === value;
    case 'host':
      return s.host === value;
    case 'task_state':
      return s.taskState === value;
    case 'status':
      return s.status === value;
    case 'auto_remove': {
      const b = parseBoolStrict(value);
      return b !== null && s.spec?.autoRemove === b;
    }
    default:
      return false;
  }
}

function cmpValue(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const [x, y] = [String(a), String(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The total order of a listing: [sort_key, id] in the requested direction. */
export function comparator(q: Pick<ListQuery, 'sortKey' | 'sortDir'>): (a: ContainerState, b: ContainerState) => number {
  const key = SORT_KEYS[q.sortKey] ?? SORT_KEYS['id']!;
  const sign = q.sortDir === 'desc' ? -1 : 1;
  return (a, b) =>
    sign *
    (cmpValue(key(a), key(b)) || cmpValue(a.createdAt, b.createdAt) || cmpValue(a.uuid, b.uuid));
}

/** One page: filter, sort, start after the marker (which the caller has resolved), cut at limit. */
export function pageContainers(
  items: readonly ContainerState[],
  q: ListQuery,
  marker: ContainerState | null,
): ContainerState[] {
  const cmp = comparator(q);
  return items
    .filter((s) => s.status !== null && s.status !== 'Deleted' && q.filters.every((f) => matches(s, f)))
    .filter((s) => marker === null || cmp(s, marker) > 0)
    .sort(cmp)
    .slice(0, q.limit);
}

/** The query arguments Zun repeats in the `next` link (plus the filters, so the next page stays filtered). */
export function nextArgs(q: ListQuery): (readonly [string, string])[] {
  return [['sort_key', q.sortKey], ['sort_dir', q.sortDir], ...q.filters];
}
