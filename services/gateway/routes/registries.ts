/**
 * Registries (zun/api/controllers/v1/registries.py), event-sourced
 * (aggregate kind `registry`). Served at every microversion (1.30 is a
 * history entry only).
 *
 *   POST   /v1/registries            201, Location, {"registry":{...}}; JSON only (415)
 *   GET    /v1/registries            {"registries":[...],"next"}; limit, marker, sort_key,
 *                                    sort_dir, all_projects (admin), filters name, domain,
 *                                    username, project_id, user_id
 *   GET    /v1/registries/{ident}    {"registry":{...}}
 *   PATCH  /v1/registries/{ident}    {"registry":{...}} (body {"registry":{changes}})
 *   DELETE /v1/registries/{ident}    204
 *
 * `ident` is a uuid or a name. Lookups are scoped to the caller's project
 * unless the caller is an admin: another project's registry is 404. The
 * password is sealed before it enters the log and always shown as "***".
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import {
  decideRegistry,
  evolveRegistry,
  initialRegistryState,
  registryExists,
  type RegistryCommand,
  type RegistryState,
} from '../../../domain/registry.js';
import { envelope, type RecordedEvent } from '../../../events/index.js';
import type { RegistryEvent, RegistryFields } from '../../../events/registry.js';
import { executeCommand, loadAggregate } from '../../platform/aggregate.js';
import type { EventStore } from '../../platform/eventstore.js';
import { uuidLike } from '../app.js';
import type { AuthContext } from '../auth.js';
import { Conflict, InvalidParameterValue, InvalidValue, RegistryNotFound, SchemaValidationError, type ZunError } from '../errors.js';
import type { SecretBox } from '../identity/secrets.js';
import { MAX_LIMIT } from '../listing.js';
import { canSee, enforce, Rule } from '../policy.js';
import type { RegistryReadModel } from '../registry-readmodel.js';
import { fieldError, isObject, parseAllProjects, unknownKeysError, type FieldSchema } from '../validate.js';
import { buildUrl, nextLink } from '../views.js';
import { callerOf, mergedParams, orThrow, queryOf, requireJson, requireVersion, unwrap } from './common.js';

export interface RegistryRoutesOptions {
  readonly store: EventStore;
  readonly registries: RegistryReadModel;
  readonly secretBox: SecretBox;
  readonly newId: () => string;
  readonly now: () => Date;
  readonly baseUrlOf: (req: FastifyRequest) => string;
}

// parameter_types.py registry_* (plus a 255 cap on every field: Zun's columns are 255 wide).
const REGISTRY_NAME: FieldSchema = { type: ['string'], minLength: 2, maxLength: 255, pattern: /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/ };
const NON_EMPTY: FieldSchema = { type: ['string'], minLength: 1, maxLength: 255 };
const FIELDS: readonly (readonly [keyof Omit<RegistryFields, 'passwordCipher'> | 'password', FieldSchema])[] = [
  ['name', REGISTRY_NAME],
  ['domain', NON_EMPTY],
  ['username', NON_EMPTY],
  ['password', NON_EMPTY],
];
const FIELD_NAMES = FIELDS.map(([k]) => k);

/** registry_create / registry_update on the merged parameters: the inner object. */
export function parseRegistryBody(params: Record<string, unknown>, create: boolean): Record<string, string> {
  const reg = params['registry'];
  if (reg !== undefined && !isObject(reg)) orThrow(fieldError('body', 'registry', reg, { type: ['object'] }));
  if (isObject(reg)) {
    for (const [k, schema] of FIELDS) if (Object.hasOwn(reg, k)) orThrow(fieldError('body', k, reg[k], schema));
    if (create && !Object.hasOwn(reg, 'domain')) throw new SchemaValidationError("'domain' is a required property");
    orThrow(unknownKeysError(reg, FIELD_NAMES));
  }
  if (reg === undefined) throw new SchemaValidationError("'registry' is a required property");
  orThrow(unknownKeysError(params, ['registry']));
  return reg as Record<string, string>;
}

const SORT_KEYS: Readonly<Record<string, (r: RegistryState) => string | null>> = {
  id: (r) => r.createdAt,
  uuid: (r) => r.uuid,
  name: (r) => r.name,
  domain: (r) => r.domain,
  username: (r) => r.username,
  project_id: (r) => r.projectId,
  user_id: (r) => r.userId,
  created_at: (r) => r.createdAt,
  updated_at: (r) => r.updatedAt,
};
const FILTERS = ['name', 'domain', 'username', 'project_id', 'user_id'] as const;
const filterValue: Readonly<Record<(typeof FILTERS)[number], (r: RegistryState) => string | null>> = {
  name: (r) => r.name,
  domain: (r) => r.domain,
  username: (r) => r.username,
  project_id: (r) => r.projectId,
  user_id: (r) => r.userId,
};

const cmp = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : a > b ? 1 : 0);

interface RegistryListQuery {
  readonly limit: number;
  readonly marker: string | null;
  readonly sortKey: string;
  readonly sortDir: 'asc' | 'desc';
  readonly filters: readonly (readonly [(typeof FILTERS)[number], string])[];
}

/** _get_registries_collection's parameters (all_projects aside: a policy question for the caller). */
export function parseRegistryListQuery(q: Record<string, unknown>): RegistryListQuery {
  let limit = MAX_LIMIT;
  if (q['limit'] !== undefined) {
    const raw = String(q['limit']).trim();
    const n = /^[+-]?\d+$/.test(raw) ? Number.parseInt(raw, 10) : NaN;
    if (!Number.isInteger(n) || n <= 0) throw new InvalidValue('Limit must be positive integer');
    limit = Math.min(MAX_LIMIT, n);
  }
  const sortDir = q['sort_dir'] === undefined ? 'asc' : String(q['sort_dir']);
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new InvalidValue(`Invalid sort direction: ${sortDir}. Acceptable values are 'asc' or 'desc'`);
  const sortKey = q['sort_key'] === undefined ? 'id' : String(q['sort_key']);
  const filters = FILTERS.filter((k) => q[k] !== undefined).map((k) => [k, String(q[k])] as const);
  const marker = q['marker'] === undefined || q['marker'] === '' ? null : String(q['marker']);
  const known = new Set<string>([...FILTERS, 'limit', 'sort_dir', 'sort_key', 'marker', 'all_projects', 'resource_url']);
  const unknown = Object.keys(q).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new InvalidValue(`Unknown parameters: ${unknown.join(', ')}`);
  if (!Object.hasOwn(SORT_KEYS, sortKey)) throw new InvalidParameterValue(`The sort_key value "${sortKey}" is an invalid field for sorting`);
  return { limit, marker, sortKey, sortDir, filters };
}

/** views/registries_view.py: the password is always "***". */
export function registryView(r: RegistryState, baseUrl: string) {
  return {
    uuid: r.uuid,
    links: [
      { href: buildUrl(baseUrl, 'registries', r.uuid), rel: 'self' },
      { href: buildUrl(baseUrl, 'registries', r.uuid, true), rel: 'bookmark' },
    ],
    name: r.name,
    domain: r.domain,
    username: r.username,
    password: '***',
    user_id: r.userId,
    project_id: r.projectId,
  };
}

export const registryRoutes: FastifyPluginAsync<RegistryRoutesOptions> = async (app, opts) => {
  const { store, registries, secretBox, newId } = opts;

  const load = (uuid: string) =>
    loadAggregate<RegistryState>({
      store,
      kind: 'registry',
      id: uuid,
      initial: initialRegistryState(uuid),
      evolve: (s, e) => evolveRegistry(s, e as RecordedEvent<RegistryEvent>),
    });

  /** utils.get_registry: a uuid from the log, a name from the read model; scoped to the caller's project. */
  async function resolve(ctx: AuthContext, ident: string): Promise<RegistryState> {
    const uuid = uuidLike(ident);
    if (uuid) {
      const { state } = await load(uuid);
      if (!registryExists(state) || !canSee(ctx, state.projectId)) throw new RegistryNotFound(ident);
      return state;
    }
    const found = (await registries.listRegistries()).filter((r) => r.name === ident && canSee(ctx, r.projectId));
    if (found.length === 0) throw new RegistryNotFound(ident);
    if (found.length > 1) throw new Conflict('Multiple registries exist with same name. Please use the registry uuid instead.');
    return found[0]!;
  }

  async function execute(req: FastifyRequest, uuid: string, command: RegistryCommand): Promise<RegistryState> {
    const ctx = callerOf(req);
    const out = await executeCommand<RegistryState, ZunError>({
      store,
      kind: 'registry',
      id: uuid,
      commandId: req.id,
      load: () => load(uuid),
      decide: (state) => {
        const d = decideRegistry(command, state);
        if ('rejected' in d) {
          return { rejected: d.rejected.code === 'not-found' ? new RegistryNotFound(uuid) : new Conflict(d.rejected.message) };
        }
        const occurredAt = opts.now().toISOString();
        return {
          events: d.events.map((e) =>
            envelope(e, { id: newId(), aggregateKind: 'registry', aggregateId: uuid }, {
              projectId: ctx.projectId,
              userId: ctx.userId,
              requestId: req.id,
              correlationId: req.id,
              causationId: null,
              occurredAt,
            }),
          ),
        };
      },
    });
    if (out.outcome === 'rejected') throw out.rejected;
    const state = (out.events as RecordedEvent<RegistryEvent>[]).reduce(
      (s, e, i) => evolveRegistry(s, { ...e, seq: out.seqs[i]! } as RecordedEvent<RegistryEvent>),
      out.state,
    );
    req.log.info({ registry: uuid, command: command.type, events: out.events.map((e) => e.type), duplicate: out.duplicate }, 'registry command applied');
    return state;
  }

  const sealed = (fields: Record<string, string>) => ({
    ...(fields['name'] !== undefined ? { name: fields['name'] } : {}),
    ...(fields['domain'] !== undefined ? { domain: fields['domain'] } : {}),
    ...(fields['username'] !== undefined ? { username: fields['username'] } : {}),
    ...(fields['password'] !== undefined ? { passwordCipher: secretBox.seal(fields['password']) } : {}),
  });

  const identOf = (req: FastifyRequest) => (req.params as { ident: string }).ident;

  app.post('/v1/registries', async (req, reply) => {
    requireVersion(req, 1);
    requireJson(req);
    const { run: _run, ...params } = mergedParams(req);
    const fields = parseRegistryBody(params, true);
    const ctx = callerOf(req);
    enforce(ctx, Rule.registryCreate);
    const uuid = newId();
    const s = sealed(fields);
    const state = await execute(req, uuid, {
      type: 'CreateRegistry',
      fields: { name: s.name ?? null, domain: s.domain!, username: s.username ?? null, passwordCipher: s.passwordCipher ?? null },
      projectId: ctx.projectId,
      userId: ctx.userId,
    });
    const base = opts.baseUrlOf(req);
    return reply.code(201).header('location', buildUrl(base, 'registries', uuid)).send({ registry: registryView(state, base) });
  });

  app.get('/v1/registries', async (req) => {
    requireVersion(req, 1);
    const ctx = callerOf(req);
    enforce(ctx, Rule.registryGetAll);
    const q = queryOf(req);
    const allProjects = unwrap(parseAllProjects(q));
    if (allProjects) enforce(ctx, Rule.registryGetAllAllProjects);
    const lq = parseRegistryListQuery(q);
    const visible = (await registries.listRegistries()).filter((r) => allProjects || r.projectId === ctx.projectId);
    const key = SORT_KEYS[lq.sortKey]!;
    const sign = lq.sortDir === 'desc' ? -1 : 1;
    const order = (a: RegistryState, b: RegistryState) => sign * (cmp(key(a), key(b)) || cmp(a.createdAt, b.createdAt) || cmp(a.uuid, b.uuid));
    let marker: RegistryState | null = null;
    if (lq.marker !== null) {
      const id = uuidLike(lq.marker) ?? lq.marker;
      marker = visible.find((r) => r.uuid === id) ?? null;
      if (!marker) throw new RegistryNotFound(lq.marker);
    }
    const page = visible
      .filter((r) => lq.filters.every(([k, v]) => filterValue[k](r) === v))
      .filter((r) => marker === null || order(r, marker) > 0)
      .sort(order)
      .slice(0, lq.limit);
    const base = opts.baseUrlOf(req);
    return {
      registries: page.map((r) => registryView(r, base)),
      next: nextLink(base, 'registries', page, lq.limit, [['sort_key', lq.sortKey], ['sort_dir', lq.sortDir], ...lq.filters]),
    };
  });

  app.get('/v1/registries/:ident', async (req) => {
    requireVersion(req, 1);
    const ctx = callerOf(req);
    const r = await resolve(ctx, identOf(req));
    enforce(ctx, Rule.registryGetOne, { projectId: r.projectId });
    return { registry: registryView(r, opts.baseUrlOf(req)) };
  });

  app.patch('/v1/registries/:ident', async (req) => {
    requireVersion(req, 1);
    const fields = parseRegistryBody(mergedParams(req), false);
    const ctx = callerOf(req);
    const r = await resolve(ctx, identOf(req));
    enforce(ctx, Rule.registryUpdate, { projectId: r.projectId });
    const state = await execute(req, r.uuid, { type: 'UpdateRegistry', changes: sealed(fields) });
    return { registry: registryView(state, opts.baseUrlOf(req)) };
  });

  app.delete('/v1/registries/:ident', async (req, reply) => {
    requireVersion(req, 1);
    const ctx = callerOf(req);
    const r = await resolve(ctx, identOf(req));
    enforce(ctx, Rule.registryDelete, { projectId: r.projectId });
    await execute(req, r.uuid, { type: 'DeleteRegistry' });
    return reply.code(204).send();
  });
};
