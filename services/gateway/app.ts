/**
 * The gateway: Zun's REST API (v1, microversions 1.1-1.40) on fastify.
 *
 * Place in the flow: client ─HTTP─► gateway ─► executeContainerCommand
 * (load aggregate, decide, fenced append) for every write; reads of one
 * container by uuid come from the event store too (authoritative, so a
 * container is visible the moment it is created); lists and name lookups
 * come from the read model (eventually consistent).
 *
 * Contract:
 * - every response carries `x-openstack-request-id: req-<uuid>`, and that id
 *   is the requestId (and command id) of the events the request appends;
 * - every /v1 response carries the microversion headers;
 * - every error is Zun's error body, produced by the one error handler below;
 * - a request that is refused appends nothing: validation, policy, lookup and
 *   the decider all run before the append, which is the last step.
 *
 * `buildApp` does no I/O of its own beyond what its ports do; tests drive it
 * with `inject()`.
 */
import { auditRoutes } from '../audit/routes.js';
import type { AuditReader } from '../audit/reader.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomInt } from 'node:crypto';
import { decideContainer, type ContainerCommand } from '../../domain/container-decider.js';
import { initialContainerState, type ContainerState } from '../../domain/container.js';
import { executeContainerCommand, loadContainer } from '../platform/commands.js';
import { ConcurrencyError, EventStoreUnavailableError, type EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { randomBytes } from 'node:crypto';
import { ZUN_DEFAULT_QUOTAS, type FullQuotaLimits } from '../../domain/quota.js';
import type { AuthContext, Authenticate } from './auth.js';
import { createSecretBox, type SecretBox } from './identity/secrets.js';
import type { LocalIdentity } from './identity/local.js';
import { keystoneError } from './identity/keystone-views.js';
import { identityRoutes } from './identity/routes.js';
import type { LookupCache } from './lookup-cache.js';
import { createQuotaService, usageOfSpec } from './quotas.js';
import { createFoldingRegistryReadModel, type RegistryReadModel } from './registry-readmodel.js';
import type { ReadEventsFrom } from './fold-index.js';
import { docsRoutes } from './routes/docs.js';
import { quotaClassRoutes } from './routes/quota-classes.js';
import { quotaRoutes } from './routes/quotas.js';
import { registryRoutes } from './routes/registries.js';
import {
  ApiNotSupportedInVersion,
  Conflict,
  ContainerNotFound,
  PolicyNotAuthorized,
  RouteNotFound,
  ServiceUnavailable,
  UnsupportedMediaType,
  ValidationError,
  ZunError,
  clientErrorBody,
  fromHttpStatus,
  fromRejection,
  serverErrorBody,
} from './errors.js';
import { pageContainers, nextArgs, parseListQuery } from './listing.js';
import { atMost, formatVersion, negotiate, versionCheck, versionHeaders, type ApiVersion } from './microversion.js';
import { Rule, can, canSee } from './policy.js';
import { createFoldingCapsuleReadModel, type CapsuleReadModel, type ContainerReadModel } from './readmodel.js';
import {
  flattenQuery,
  isObject,
  parseAllProjects,
  validateCreateContainer,
  validateCreateQuery,
  validateDeleteQuery,
  validateKillParams,
  validateRename,
  validateTimeoutParams,
  validateUpdate,
  type Result,
} from './validate.js';
import { buildUrl, containerView, nextLink, rootDocument, v1Document } from './views.js';
import { mountComputeRoutes, type ComputeDeps } from './routes/index.js';
import { createClaimResizer } from './claims.js';
import { DEFAULT_ADDRESS_POOL, DEFAULT_ADDRESS_POOL_V6 } from '../../domain/network.js';
import { createResourceService, type NeutronPorts } from './resources.js';
import { networkRoutes } from './routes/networks.js';
import { neutronRoutes } from './routes/neutron.js';
import { capsuleRoutes } from './routes/capsules.js';

export type Clock = (() => Date) | { now(): Date };

export interface BuildAppOptions {
  readonly store: EventStore;
  readonly readModel: ContainerReadModel;
  readonly log: Logger;
  readonly clock: Clock;
  /** uuids for containers, events, request ids and correlation ids. */
  readonly newId: () => string;
  /** Caches the quota and default-network reads of every create (lookup-cache.ts); none by default. */
  readonly lookups?: LookupCache;
  /** `scheme://host[:port]` for links; by default taken from each request's Host. */
  readonly baseUrl?: string;
  /** Who is calling (identity/index.ts picks it by AUTH_MODE). No default: noauth must be chosen. */
  readonly auth: Authenticate;
  /** The local identity mode's Keystone subset, served under /identity; absent in other modes. */
  readonly identity?: { readonly local: LocalIdentity; readonly region: string };
  /** Seals registry passwords; by default a key that lives as long as the process (tests). */
  readonly secretBox?: SecretBox;
  /** The registries read model; by default a fold over the store's readAll (the memory store has one). */
  readonly registries?: RegistryReadModel;
  /** Configured quota defaults (zun/conf/quota.py) and the reservation window. */
  readonly quotaDefaults?: FullQuotaLimits;
  readonly quotaReservationMs?: number;
  /** `<random>-container` names for bodies without one. */
  readonly generateName?: () => string;
  readonly bodyLimit?: number;
  /** Host actors and registry for logs/exec/archives, actions, hosts, services, images (routes/index.ts). */
  readonly compute?: ComputeDeps;
  /** Networks, capsules: name lookups and lists fold these events (default: the store's own readAll, as the memory store has). */
  readonly readEvents?: ReadEventsFrom;
  /** The IPv4 pool network subnets come from (default 10.200.0.0/16, NETWORK_CIDR_POOL). */
  readonly networkPool?: string;
  /** The IPv6 pool network /64s come from (default fd7a:756e:0::/48, NETWORK_CIDR_POOL_V6). */
  readonly networkPoolV6?: string;
  /** The audit record (services/audit) to serve at /v1/audit; absent: not served. */
  readonly audit?: AuditReader;
  /** Capsule lists and name lookups (default: a fold of `readEvents` on each query, for tests). */
  readonly capsules?: CapsuleReadModel;
  /** Neutron's ports, where the hosts use kuryr (NEUTRON_URL): `nets` ports not of this service are looked up there. */
  readonly neutron?: NeutronPorts;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Negotiated microversion; set on every /v1 request. */
    apiVersion: ApiVersion | null;
    /** The caller; set on every non-public request. */
    auth: AuthContext | null;
  }
}

/** Paths that are not Zun's and are not prefixed with /v1: the Keystone subset, health, the API's description, the Neutron subset (ports). */
export const UNVERSIONED_PREFIXES = ['identity', 'healthcheck', 'openapi.json', 'docs', 'v2.0'] as const;

/**
 * Public routes: authtoken's acl_public_routes (`/`, `/v1`), the identity
 * endpoint (one logs in there), and the API description. Everything else
 * needs a caller.
 */
const PUBLIC_PATHS = new Set(['/', '/v1', '/openapi.json', '/docs']);
const isPublicIdentity = (path: string) => path === '/identity' || path.startsWith('/identity/');
const isPublic = (path: string) => PUBLIC_PATHS.has(path) || isPublicIdentity(path);

/** Every route as registered (method, url), for the OpenAPI coverage test. */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}
declare module 'fastify' {
  interface FastifyInstance {
    readonly registeredRoutes: readonly RegisteredRoute[];
  }
}

/**
 * Zun's RootController._route: a first segment other than `v1` gets `v1`
 * prepended; trailing slashes are dropped; the query string is kept.
 */
export function normalizeUrl(url: string): string {
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  path = path.replace(/\/{2,}/g, '/');
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (path === '') path = '/';
  const first = path.split('/')[1] ?? '';
  if (path !== '/' && first !== 'v1' && !(UNVERSIONED_PREFIXES as readonly string[]).includes(first)) path = `/v1${path}`;
  return path + query;
}

const pathOf = (url: string) => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

const isV1 = (path: string) => path === '/v1' || path.startsWith('/v1/');

/** oslo uuidutils.is_uuid_like, returning the canonical lower-case form. */
export function uuidLike(ident: string): string | null {
  const hex = ident.toLowerCase().replace(/^urn:/, '').replace(/^uuid:/, '').replace(/[{}-]/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const GREEK = [
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'nu',
  'xi', 'omicron', 'pi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'chi', 'psi', 'omega',
];
/** zun/common/name_generator.py plus `-container`: e.g. `zeta-22-container`. */
export const generateContainerName = () => `${GREEK[randomInt(GREEK.length)]}-${randomInt(1, 25)}-container`;

/** A body that was not JSON: kept so handlers can tell "no body" from "not JSON". */
class RawBody {
  constructor(readonly text: string) {}
}

const live = (s: ContainerState) => s.status !== null && s.status !== 'Deleted';

/** How long a name given through this gateway is found without the read model. */
const RECENT_NAMES_MS = 30_000;

export function buildApp(opts: BuildAppOptions): FastifyInstance {
  const { store, readModel, newId } = opts;
  const clock = opts.clock;
  const now = typeof clock === 'function' ? clock : () => clock.now();
  const auth = opts.auth;
  const generateName = opts.generateName ?? generateContainerName;

  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'gateway' }) as FastifyBaseLogger,
    genReqId: () => `req-${newId()}`,
    rewriteUrl: (req) => normalizeUrl(req.url ?? '/'),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Names are up to 255 characters; the default 100 would turn long names into 404s.
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: true,
    // Errors fastify raises before routing (a URL that does not decode): Zun's body too.
    frameworkErrors: (err, req, res) => {
      // The generic reply type of this hook is not the plain FastifyReply.
      const reply = res as unknown as FastifyReply;
      // Under /identity the body is Keystone's, as everywhere there.
      const identity = isPublicIdentity(pathOf(req.url ?? '/'));
      void reply
        .header('x-openstack-request-id', req.id)
        .code(400)
        .type('application/json')
        .send(identity ? keystoneError(400, err.message) : clientErrorBody(fromHttpStatus(400, err.message), req.id));
    },
  });

  const registeredRoutes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) registeredRoutes.push({ method, url: r.url ?? r.path });
  });

  app.decorateRequest('apiVersion', null);
  app.decorateRequest('auth', null);

  // ---- bodies: JSON (an empty body is no body), anything else kept raw ------------------
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    defaultJson(req, text, (err, value) => {
      if (err) done(new ValidationError(`Invalid JSON in the request body: ${err.message}`), undefined);
      else done(null, value);
    });
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new RawBody(typeof body === 'string' ? body : body.toString('utf8')));
  });

  // ---- every request: request id, microversion, caller ------------------------------------
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-openstack-request-id', req.id);
    const path = pathOf(req.url);
    if (isV1(path)) {
      const raw = req.headers['openstack-api-version'];
      const n = negotiate(Array.isArray(raw) ? raw[0] : raw);
      if (!n.ok) throw n.error;
      req.apiVersion = n.version;
      reply.headers(versionHeaders(n.version));
    }
    if (!isPublic(path)) req.auth = await auth(req);
  });

  // ---- the one place errors become HTTP ------------------------------------------------------
  app.setErrorHandler((err: unknown, req, reply) => {
    let zerr: ZunError | null = null;
    if (err instanceof ZunError) zerr = err;
    else if (err instanceof ConcurrencyError) zerr = new Conflict('The container was changed concurrently; please retry.');
    else if (err instanceof EventStoreUnavailableError) zerr = new ServiceUnavailable(err.message, { cause: err });
    else if (isHttpClientError(err)) zerr = fromHttpStatus(err.statusCode, err.message);
    if (zerr && zerr.status < 500) {
      req.log.info({ status: zerr.status, code: zerr.code, msg: zerr.message }, 'request refused');
      void reply.headers(zerr.headers).code(zerr.status).type('application/json').send(clientErrorBody(zerr, req.id));
      return;
    }
    const status = zerr?.status ?? 500;
    const correlationId = newId();
    req.log.error({ err, correlationId }, 'request failed');
    void reply.code(status).type('application/json').send(serverErrorBody(status, correlationId, req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type('application/json').send(clientErrorBody(new RouteNotFound(), req.id));
  });

  // ---- helpers ----------------------------------------------------------------------------------
  const baseUrlOf = (req: FastifyRequest) => opts.baseUrl ?? `${req.protocol}://${req.host}`;
  const ctxOf = (req: FastifyRequest): AuthContext => {
    if (!req.auth) throw new Error('no caller on a non-public route');
    return req.auth;
  };
  const versionOf = (req: FastifyRequest): ApiVersion => {
    if (!req.apiVersion) throw new Error('no microversion on a /v1 route');
    return req.apiVersion;
  };
  const view = (req: FastifyRequest, s: ContainerState) => containerView(s, { baseUrl: baseUrlOf(req), admin: ctxOf(req).isAdmin });
  const unwrap = <T>(r: Result<T>): T => {
    if (!r.ok) throw r.error;
    return r.value;
  };
  const orThrow = (e: ZunError | null) => {
    if (e) throw e;
  };
  /** pecan's parameters for non-GET requests: the JSON body (never a non-JSON one) under the query string. */
  const merged = (req: FastifyRequest): Record<string, unknown> => ({
    ...(isObject(req.body) && !(req.body instanceof RawBody) ? req.body : {}),
    ...flattenQuery(req.query),
  });
  const identOf = (req: FastifyRequest) => (req.params as { ident: string }).ident;

  /**
   * Names this gateway gave containers in the last RECENT_NAMES_MS: the read
   * model may not have them yet, and a client that just created `web` will
   * say `start web` next (read-your-writes on one gateway).
   */
  const recentNames = new Map<string, { name: string; until: number }>();
  const remember = (uuid: string, name: string) => {
    const t = now().getTime();
    for (const [k, v] of recentNames) if (v.until < t) recentNames.delete(k);
    recentNames.set(uuid, { name, until: t + RECENT_NAMES_MS });
  };

  /**
   * get_resource: a uuid is looked up in the log; a name finds candidates in
   * the read model (plus recent names), each confirmed against the log.
   * Projects scope both.
   */
  async function resolve(req: FastifyRequest, ident: string): Promise<ContainerState> {
    const ctx = ctxOf(req);
    const uuid = uuidLike(ident);
    if (uuid) {
      const s = await loadContainer(store, uuid);
      if (!live(s) || !canSee(ctx, s.projectId)) throw new ContainerNotFound(ident);
      return s;
    }
    const candidates = new Set((await readModel.findByName(ident)).filter((s) => canSee(ctx, s.projectId)).map((s) => s.uuid));
    const t = now().getTime();
    for (const [id, r] of recentNames) if (r.name === ident && r.until >= t) candidates.add(id);
    const found = (await Promise.all([...candidates].map((id) => loadContainer(store, id)))).filter(
      (s) => live(s) && s.spec?.name === ident && canSee(ctx, s.projectId),
    );
    if (found.length === 0) throw new ContainerNotFound(ident);
    if (found.length > 1) throw new Conflict('Multiple containers exist with same name. Please use the container uuid instead.');
    return found[0]!;
  }

  const directory = opts.compute?.directory;
  const claims = createClaimResizer({
    store,
    newId,
    now,
    log: opts.log,
    capacityOf: async (host) => (directory ? ((await directory.get(host))?.record.capacity ?? null) : null),
    load: (uuid) => loadContainer(store, uuid),
  });

  /**
   * The command path; the request id is the command id, so a retried request
   * appends nothing twice. A resize (UpdateContainer with cpu or memory) of
   * a placed container also resizes its claim in the placement ledger
   * (claims.ts): 409 when the host has no room for the new size.
   */
  async function execute(req: FastifyRequest, uuid: string, command: ContainerCommand, from?: ContainerState): Promise<ContainerState> {
    const ctx = ctxOf(req);
    const run = async (basis = from, fenced = false) => {
      const res = await executeContainerCommand({ store, newId, now }, uuid, command, {
        projectId: ctx.projectId,
        userId: ctx.userId,
        requestId: req.id,
      }, basis ? { from: basis, fenced } : {});
      if (!res.ok) throw fromRejection(res.rejection, uuid);
      req.log.info({ uuid, command: command.type, events: res.appended.map((e) => e.type), duplicate: res.duplicate }, 'command applied');
      return res.state;
    };
    if (command.type !== 'UpdateContainer' || (command.patch.cpu === undefined && command.patch.memory === undefined)) return run();
    const current = await loadContainer(store, uuid);
    // Refused by the machine: nothing to claim (and nothing appended).
    const d = decideContainer(command, current);
    if ('rejected' in d) throw fromRejection(d.rejected, uuid);
    // Fenced on the state the claim was resized for (claims.ts decides again if the container moved on).
    return claims.around(current, command.patch, req.id, (s) => run(s, true));
  }

  const readEvents: ReadEventsFrom | undefined =
    opts.readEvents ??
    (typeof (store as { readAll?: unknown }).readAll === 'function'
      ? (o) => (store as unknown as { readAll: ReadEventsFrom }).readAll(o)
      : undefined);
  const resourceService = createResourceService({ store, newId, now, pool: opts.networkPool ?? DEFAULT_ADDRESS_POOL, poolV6: opts.networkPoolV6 ?? DEFAULT_ADDRESS_POOL_V6, ...(readEvents ? { readEvents } : {}), ...(opts.neutron ? { neutron: opts.neutron } : {}), ...(opts.lookups ? { lookups: opts.lookups } : {}) });

  const quotas = createQuotaService({
    store,
    readModel,
    log: opts.log,
    now,
    newId,
    defaults: opts.quotaDefaults ?? ZUN_DEFAULT_QUOTAS,
    ...(opts.quotaReservationMs !== undefined ? { reservationMs: opts.quotaReservationMs } : {}),
    ...(opts.lookups ? { lookups: opts.lookups } : {}),
  });

  const sendNull = (reply: FastifyReply, status: number) => reply.code(status).type('application/json').send('null');

  // ---- version documents -------------------------------------------------------------------------
  app.get('/', async (req) => rootDocument(baseUrlOf(req)));
  app.get('/v1', async (req) => v1Document(baseUrlOf(req)));

  // ---- containers -----------------------------------------------------------------------------------
  app.post('/v1/containers', async (req, reply) => {
    const ctx = ctxOf(req);
    const raw = req.headers['content-type'] ?? '';
    const essence = raw.split(';')[0]!.trim();
    if (essence.toLowerCase() !== 'application/json') throw new UnsupportedMediaType(essence);
    const { run } = unwrap(validateCreateQuery(req.query));
    const body = req.body === undefined ? {} : req.body;
    const spec = unwrap(
      validateCreateContainer(body, { version: versionOf(req), can: (rule) => can(ctx, rule), generateName }),
    );
    const uuid = newId();
    // Networks and volumes: checked now, made or reserved right before the create (resources.ts).
    const resolveResources = await resourceService.prepareContainerSpec({ auth: ctx, requestId: req.id }, uuid, spec);
    await quotas.admitCreate({ ctx, requestId: req.id }, uuid, usageOfSpec(spec));
    // A uuid made here has no history: decide on the initial state, fenced on 0, without reading the log.
    const state = await execute(req, uuid, { type: 'CreateContainer', spec: await resolveResources(), run }, initialContainerState(uuid));
    remember(uuid, spec.name);
    return reply.code(202).header('location', buildUrl(baseUrlOf(req), 'containers', uuid)).send(view(req, state));
  });

  app.get('/v1/containers', async (req) => {
    const ctx = ctxOf(req);
    const q = flattenQuery(req.query);
    const allProjects = unwrap(parseAllProjects(q));
    if (allProjects && !can(ctx, Rule.getAllAllProjects)) throw new PolicyNotAuthorized(Rule.getAllAllProjects);
    const lq = unwrap(parseListQuery(q));
    const items = await readModel.listContainers(allProjects ? {} : { projectId: ctx.projectId });
    let marker: ContainerState | null = null;
    if (lq.marker !== null) {
      const id = uuidLike(lq.marker) ?? lq.marker;
      marker = items.find((s) => s.uuid === id) ?? null;
      if (!marker) throw new ContainerNotFound(lq.marker);
    }
    const page = pageContainers(items, lq, marker);
    return {
      containers: page.map((s) => view(req, s)),
      next: nextLink(baseUrlOf(req), 'containers', page, lq.limit, nextArgs(lq)),
    };
  });

  app.get('/v1/containers/:ident', async (req) => {
    const ctx = ctxOf(req);
    const allProjects = unwrap(parseAllProjects(flattenQuery(req.query)));
    if (allProjects && !can(ctx, Rule.getOneAllProjects)) throw new PolicyNotAuthorized(Rule.getOneAllProjects);
    return view(req, await resolve(req, identOf(req)));
  });

  app.patch('/v1/containers/:ident', async (req) => {
    const patch = unwrap(validateUpdate(merged(req)));
    const s = await resolve(req, identOf(req));
    if (Object.keys(patch).length === 0) {
      // Nothing to change: still Zun's state check, but no event.
      const d = decideContainer({ type: 'UpdateContainer', patch }, s);
      if ('rejected' in d) throw fromRejection(d.rejected, s.uuid);
      return view(req, s);
    }
    await quotas.admitUpdate({ ctx: ctxOf(req), requestId: req.id }, s, patch);
    const state = await execute(req, s.uuid, { type: 'UpdateContainer', patch });
    if (patch.name !== undefined) remember(s.uuid, patch.name);
    return view(req, state);
  });

  app.delete('/v1/containers/:ident', async (req, reply) => {
    const ctx = ctxOf(req);
    const v = versionOf(req);
    const { force, stop, allProjects } = unwrap(validateDeleteQuery(flattenQuery(req.query)));
    if (allProjects && !can(ctx, Rule.deleteAllProjects)) throw new PolicyNotAuthorized(Rule.deleteAllProjects);
    const s = await resolve(req, identOf(req));
    if (force && !stop) {
      orThrow(versionCheck('force', v, 7));
      if (!can(ctx, Rule.deleteForce)) throw new PolicyNotAuthorized(Rule.deleteForce);
    } else if (stop) {
      orThrow(versionCheck('stop', v, 12));
    }
    await execute(req, s.uuid, { type: 'DeleteContainer', stop, force });
    return reply.code(204).send();
  });

  // ---- actions: 202 with a `null` body ------------------------------------------------------------------
  const actions: Record<string, (req: FastifyRequest) => ContainerCommand> = {
    start: () => ({ type: 'StartContainer' }),
    stop: (req) => ({ type: 'StopContainer', timeout: unwrap(validateTimeoutParams(flattenQuery(req.query), merged(req))).timeout }),
    reboot: (req) => ({ type: 'RebootContainer', timeout: unwrap(validateTimeoutParams(flattenQuery(req.query), merged(req))).timeout }),
    pause: () => ({ type: 'PauseContainer' }),
    unpause: () => ({ type: 'UnpauseContainer' }),
    kill: (req) => ({ type: 'KillContainer', signal: unwrap(validateKillParams(merged(req))).signal }),
  };
  for (const [action, toCommand] of Object.entries(actions)) {
    app.post(`/v1/containers/:ident/${action}`, async (req, reply) => {
      const command = toCommand(req);
      const s = await resolve(req, identOf(req));
      await execute(req, s.uuid, command);
      return sendNull(reply, 202);
    });
  }

  // 1.1-1.13 only; renaming moved to PATCH `name` in 1.14.
  app.post('/v1/containers/:ident/rename', async (req) => {
    const v = versionOf(req);
    if (!atMost(v, 13)) throw new ApiNotSupportedInVersion(formatVersion(v));
    const { name } = unwrap(validateRename(flattenQuery(req.query), merged(req)));
    const s = await resolve(req, identOf(req));
    if (s.spec?.name === name) throw new Conflict('The new name for the container is the same as the old name.');
    const state = await execute(req, s.uuid, { type: 'UpdateContainer', patch: { name } });
    remember(s.uuid, name);
    return view(req, state);
  });

  // ---- the other resources, identity, and the API's description: plugins in routes/ and identity/ ----
  void app.register(quotaRoutes, { quotas });
  void app.register(quotaClassRoutes, { quotas });
  void app.register(registryRoutes, {
    store,
    registries: opts.registries ?? defaultRegistries(store),
    secretBox: opts.secretBox ?? createSecretBox(randomBytes(32)),
    newId,
    now,
    baseUrlOf,
  });
  if (opts.identity) void app.register(identityRoutes, { prefix: '/identity', identity: opts.identity.local, region: opts.identity.region, baseUrlOf });
  void app.register(docsRoutes, { baseUrlOf });
  mountComputeRoutes(app, { store, readModel, newId, now, ctxOf, versionOf, baseUrlOf, resolve, execute, view, merged }, opts.compute, opts.log);
  const kit = { store, readModel, newId, now, ctxOf, versionOf, baseUrlOf, resolve, execute, view, merged };
  const capsules: CapsuleReadModel =
    opts.capsules ??
    (readEvents
      ? createFoldingCapsuleReadModel(readEvents)
      : { listCapsules: () => Promise.reject(new ServiceUnavailable('No capsule index is configured.')) });
  void app.register(networkRoutes, { kit, resources: resourceService, listCapsules: () => capsules.listCapsules() });
  void app.register(neutronRoutes, { resources: resourceService });
  void app.register(capsuleRoutes, { kit, resources: resourceService, capsules });
  // The audit record: a member reads their own project's entries, an admin all.
  if (opts.audit) {
    void app.register(auditRoutes, {
      reader: opts.audit,
      authorize: (req) => {
        const who = ctxOf(req);
        return who.isAdmin ? { all: true } : { projectId: who.projectId };
      },
    });
  }

  return app;
}

/** A fold over the store's own readAll (the memory store has one; JetStream's is passed in by server.ts). */
function defaultRegistries(store: EventStore): RegistryReadModel {
  const readAll = (store as { readAll?: ReadEventsFrom }).readAll;
  return createFoldingRegistryReadModel((o) => {
    if (typeof readAll !== 'function') throw new ServiceUnavailable('No registries read model is configured.');
    return readAll.call(store, o);
  });
}

function isHttpClientError(err: unknown): err is { statusCode: number; message: string } {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' && code >= 400 && code < 500;
}

