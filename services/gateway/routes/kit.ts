/**
 * What the route plugins under routes/ share with app.ts: the request helpers
 * that buildApp defines once (caller, microversion, lookup by uuid or name,
 * the command path, the container view), handed to each plugin as options,
 * so there is still one definition of each. Plus the small helpers those
 * plugins have in common: Zun's state check asked of the machine's
 * ACTION_STATES, query validation with validate.ts's schema messages, and
 * paging of in-memory collections.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ContainerCommand } from '../../../domain/container-decider.js';
import type { ContainerState } from '../../../domain/container.js';
import { ACTION_STATES } from '../../../state-machines/container.js';
import type { EventStore } from '../../platform/eventstore.js';
import type { AuthContext } from '../auth.js';
import { InvalidStateException, InvalidValue, ZunError, type ZunError as ZunErrorT } from '../errors.js';
import type { ApiVersion } from '../microversion.js';
import type { ContainerReadModel } from '../readmodel.js';
import { fieldError, flattenQuery, unknownKeysError, type FieldSchema } from '../validate.js';
import { buildUrl } from '../views.js';

export interface RouteKit {
  readonly store: EventStore;
  readonly readModel: ContainerReadModel;
  readonly newId: () => string;
  readonly now: () => Date;
  /** The caller of a non-public route. */
  ctxOf(req: FastifyRequest): AuthContext;
  /** The negotiated microversion of a /v1 route. */
  versionOf(req: FastifyRequest): ApiVersion;
  /** `scheme://host[:port]` for links. */
  baseUrlOf(req: FastifyRequest): string;
  /** Zun's get_resource for containers: uuid or name, scoped to the caller's project. */
  resolve(req: FastifyRequest, ident: string): Promise<ContainerState>;
  /** The command path with the request's id as command id; throws Zun's error on a rejection. */
  execute(req: FastifyRequest, uuid: string, command: ContainerCommand): Promise<ContainerState>;
  /** The container view for the caller. */
  view(req: FastifyRequest, s: ContainerState): Record<string, unknown>;
  /** pecan's parameters: the JSON body under the query string. */
  merged(req: FastifyRequest): Record<string, unknown>;
}

/** Zun's VALID_STATES keys for the calls that do not append events, mapped to the machine's sets. */
export const READ_ACTION_STATES = {
  logs: ACTION_STATES.logs,
  get_archive: ACTION_STATES.archive,
  put_archive: ACTION_STATES.archive,
  execute: ACTION_STATES.running,
  execute_resize: ACTION_STATES.running,
  attach: ACTION_STATES.running,
  resize: ACTION_STATES.running,
  top: ACTION_STATES.running,
  stats: ACTION_STATES.running,
} as const;
export type ReadAction = keyof typeof READ_ACTION_STATES;

/** utils.validate_container_state: 409 "Cannot <action> container <uuid> in <status> state". */
export function requireState(s: ContainerState, action: ReadAction): void {
  const allowed: readonly string[] = READ_ACTION_STATES[action];
  if (s.status === null || !allowed.includes(s.status)) {
    throw new InvalidStateException(`Cannot ${action} container ${s.uuid} in ${s.status ?? 'New'} state`);
  }
}

export const identOf = (req: FastifyRequest): string => (req.params as { ident: string }).ident;

export const sendNull = (reply: FastifyReply, status: number) => reply.code(status).type('application/json').send('null');

/** A JSON string body (logs, attach): serialized here, since fastify sends strings as they are. */
export const sendJsonString = (reply: FastifyReply, s: string) => reply.code(200).type('application/json').send(JSON.stringify(s));

// ---- query validation (validate_query_param) -------------------------------------------------

export const Schemas = {
  booleanExtended: {
    type: ['boolean', 'string'],
    enum: [true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'],
  },
  boolean: { type: ['boolean', 'string'], enum: [true, 'True', 'true', false, 'False', 'false'] },
  strAndInt: { type: ['string', 'integer', 'null'] },
  logsSince: { type: ['string', 'integer', 'null'], pattern: /(^[0-9]*$)|([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{1,3})/ },
  psArgs: { type: ['string'], pattern: /[a-zA-Z- ,+]*/ },
  positiveInteger: { type: ['integer', 'string'], pattern: /^[0-9]*$/, minimum: 1 },
  execId: { type: ['string'], minLength: 64, maxLength: 64, pattern: /^[a-f0-9]*$/ },
  execCommand: { type: ['string'], minLength: 1 },
  hostname: { type: ['string'], minLength: 1, maxLength: 255, pattern: /^[a-zA-Z0-9-._]*$/ },
  binary: { type: ['string'], minLength: 1, maxLength: 255 },
  reason: { type: ['string'], minLength: 1, maxLength: 255 },
  repo: { type: ['string'], minLength: 2, maxLength: 255, pattern: /[a-zA-Z0-9][a-zA-Z0-9_.-]/ },
  imageHost: { type: ['string'], minLength: 2, maxLength: 255, pattern: /[a-zA-Z0-9][a-zA-Z0-9_.-]/ },
  imageId: { type: ['string', 'null'], minLength: 2, maxLength: 255, pattern: /[a-zA-Z0-9][a-zA-Z0-9_.-]/ },
  size: { type: ['string', 'integer', 'null'], pattern: /^[0-9]+[b|B|k|K|m|M|g|G]?$/ },
  imagePullPolicy: { type: ['string', 'null'], enum: ['never', 'always', 'ifnotpresent', 'Never', 'Always', 'IfNotPresent', null] },
  imageDriver: { type: ['string', 'null'], enum: ['glance', 'docker', 'None', null] },
} as const satisfies Record<string, FieldSchema>;

/**
 * A query string (or merged parameters) against `properties`: each present
 * field checked in order, then unknown keys refused. Returns the flattened
 * parameters.
 */
export function validateParams(
  where: 'query' | 'body',
  params: Record<string, unknown>,
  properties: Readonly<Record<string, FieldSchema>>,
): Record<string, unknown> {
  for (const [k, schema] of Object.entries(properties)) {
    if (!Object.hasOwn(params, k)) continue;
    const e = fieldError(where, k, params[k], schema);
    if (e) throw e;
  }
  const e = unknownKeysError(params, Object.keys(properties));
  if (e) throw e;
  return params;
}

export const queryOf = (req: FastifyRequest): Record<string, unknown> => flattenQuery(req.query);

/** strutils.bool_from_string(strict=True) over already validated values; `absent` when missing. */
export function strictBool(v: unknown, absent: boolean, invalid: () => ZunErrorT): boolean {
  if (v === undefined || v === null) return absent;
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  throw invalid();
}

export const BOOL_STRINGS = '1, t, true, on, y, yes, 0, f, false, off, n, no';

// ---- paging of in-memory collections (hosts, images) ------------------------------------------

export interface PageQuery {
  readonly limit: number;
  readonly marker: string | null;
  readonly sortKey: string;
  readonly sortDir: 'asc' | 'desc';
}

export const MAX_LIMIT = 1000;

/** api_utils.validate_limit / validate_sort_dir; sort keys are checked against `keys`. */
export function parsePageQuery(q: Record<string, unknown>, defaultSortKey: string, keys: readonly string[]): PageQuery {
  let limit = MAX_LIMIT;
  if (q['limit'] !== undefined) {
    const raw = String(q['limit']).trim();
    const n = /^[+-]?\d+$/.test(raw) ? Number.parseInt(raw, 10) : NaN;
    if (!Number.isInteger(n) || n <= 0) throw new InvalidValue('Limit must be positive integer');
    limit = Math.min(MAX_LIMIT, n);
  }
  const sortDir = q['sort_dir'] === undefined ? 'asc' : String(q['sort_dir']);
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new InvalidValue(`Invalid sort direction: ${sortDir}. Acceptable values are 'asc' or 'desc'`);
  const sortKey = q['sort_key'] === undefined ? defaultSortKey : String(q['sort_key']);
  if (!keys.includes(sortKey)) throw new ZunError(400, 'invalid-parameter-value', `The sort_key value "${sortKey}" is an invalid field for sorting`);
  const marker = q['marker'] === undefined || q['marker'] === '' ? null : String(q['marker']);
  return { limit, marker, sortKey, sortDir };
}

type Sortable = string | number | boolean | null | undefined;

/** Sorted by [sort_key, uuid], started after the marker, cut at the limit; `next` only on a full page. */
export function pageOf<T extends { readonly uuid: string }>(
  items: readonly T[],
  q: PageQuery,
  key: (item: T) => Sortable,
  notFound: (marker: string) => ZunErrorT,
  link: { readonly baseUrl: string; readonly resource: string },
): { page: T[]; next: string | null } {
  const sign = q.sortDir === 'desc' ? -1 : 1;
  const cmpV = (a: Sortable, b: Sortable) => {
    if (a === b) return 0;
    if (a === null || a === undefined) return -1;
    if (b === null || b === undefined) return 1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  };
  const cmp = (a: T, b: T) => sign * (cmpV(key(a), key(b)) || cmpV(a.uuid, b.uuid));
  const sorted = [...items].sort(cmp);
  let start = 0;
  if (q.marker !== null) {
    const m = items.find((i) => i.uuid === q.marker);
    if (!m) throw notFound(q.marker);
    start = sorted.findIndex((i) => cmp(i, m) > 0);
    if (start < 0) start = sorted.length;
  }
  const page = sorted.slice(start, start + q.limit);
  const next =
    page.length === q.limit && page.length > 0
      ? buildUrl(link.baseUrl, link.resource, `?sort_key=${q.sortKey}&sort_dir=${q.sortDir}&limit=${q.limit}&marker=${page[page.length - 1]!.uuid}`)
      : null;
  return { page, next };
}

/** utils.strtime: `2018-03-04T17:02:54.000000`, as actions and services render times. */
export function strtime(iso: string | null | undefined): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  const s = d.toISOString(); // 2018-03-04T17:02:54.123Z
  return `${s.slice(0, 19)}.${s.slice(20, 23)}000`;
}
