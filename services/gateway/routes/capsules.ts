/**
 * Capsules (zun/api/controllers/v1/capsules.py), event-sourced (aggregate
 * kind `capsule`, state-machines/capsule.ts).
 *
 *   POST   /v1/capsules           202, Location, capsule view; body {"template": <object or JSON string>}; JSON only (415)
 *   GET    /v1/capsules           {"capsules":[...],"next"}; limit, marker, sort_key, sort_dir, all_projects (admin)
 *   GET    /v1/capsules/{ident}   capsule view (uuid or name)
 *   DELETE /v1/capsules/{ident}   204; all_projects (admin); the host removes it asynchronously
 *
 * Below 1.32 the view is the legacy one (capsule-views.ts). The template is
 * parsed and validated by domain/capsule-template.ts (Zun's schema, its
 * semantic checks and errors: 400 schema errors, 500 invalid templates);
 * then the gateway gives each member a uuid, creates or reserves the
 * capsule's volumes and resolves the project's default network into the
 * spec (resources.ts), and appends CapsuleCreateRequested. Placement makes
 * one claim for the whole capsule (CapsuleScheduled); the host actor runs it.
 *
 * Lists and name lookups come from the capsule read model (`zun_capsules`,
 * filled by the projector and watched by the gateway, as containers are;
 * readmodel.ts); one capsule by uuid is loaded from its own subject.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CapsuleState } from '../../../domain/capsule.js';
import { parseCapsuleTemplate } from '../../../domain/capsule-template.js';
import { executeCapsuleCommand, loadCapsule } from '../../platform/commands.js';
import { uuidLike } from '../app.js';
import { capsuleView } from '../capsule-views.js';
import { Conflict, InvalidStateException, SchemaValidationError, ServiceUnavailable, ZunError } from '../errors.js';
import { atLeast } from '../microversion.js';
import { can, canSee, enforce } from '../policy.js';
import type { CapsuleReadModel } from '../readmodel.js';
import type { ResourceService } from '../resources.js';
import { isObject, parseAllProjects } from '../validate.js';
import { buildUrl } from '../views.js';
import { callerOf, queryOf, requireJson, unwrap, versionOf } from './common.js';
import { identOf, pageOf, parsePageQuery, type RouteKit } from './kit.js';

export class CapsuleNotFound extends ZunError {
  constructor(capsule: string) {
    super(404, 'capsule-not-found', `Capsule ${capsule} could not be found.`);
    this.name = 'CapsuleNotFound';
  }
}

export interface CapsuleRoutesOptions {
  readonly kit: RouteKit;
  readonly resources: ResourceService;
  readonly capsules: CapsuleReadModel;
}

const live = (s: CapsuleState) => s.status !== null && s.status !== 'Deleted';

const SORT_KEYS: Readonly<Record<string, (s: CapsuleState) => string | number | null>> = {
  id: (s) => s.createdAt,
  uuid: (s) => s.uuid,
  name: (s) => s.spec?.name ?? null,
  status: (s) => s.status,
  cpu: (s) => s.spec?.cpu ?? null,
  memory: (s) => (s.spec ? String(s.spec.memory) : null),
  host: (s) => s.host,
  project_id: (s) => s.projectId,
  user_id: (s) => s.userId,
  created_at: (s) => s.createdAt,
  updated_at: (s) => s.updatedAt,
};

export const capsuleRoutes: FastifyPluginAsync<CapsuleRoutesOptions> = async (app, { kit, resources, capsules }) => {
  const { store, newId, now } = kit;
  const view = (req: FastifyRequest, s: CapsuleState) =>
    capsuleView(s, { baseUrl: kit.baseUrlOf(req), admin: can(callerOf(req), 'capsule:get:host', { projectId: s.projectId }), legacy: !atLeast(versionOf(req), 32) });

  /** api_utils.get_resource('Capsule', ident): uuid from the log, names from the fold, scoped to the caller. */
  async function resolve(req: FastifyRequest, ident: string, allProjects = false): Promise<CapsuleState> {
    const auth = callerOf(req);
    const seeAll = allProjects && auth.isAdmin;
    const visible = (s: CapsuleState) => live(s) && (seeAll || canSee(auth, s.projectId));
    const uuid = uuidLike(ident);
    if (uuid) {
      const s = await loadCapsule(store, uuid);
      if (!visible(s)) throw new CapsuleNotFound(ident);
      return s;
    }
    const found = (await capsules.listCapsules()).filter((s) => s.spec?.name === ident && visible(s));
    if (found.length === 0) throw new CapsuleNotFound(ident);
    if (found.length > 1) throw new Conflict('Multiple capsules exist with same name. Please use the capsule uuid instead.');
    return found[0]!;
  }

  app.post('/v1/capsules', async (req, reply) => {
    requireJson(req);
    const auth = callerOf(req);
    enforce(auth, 'capsule:create');
    const body = req.body === undefined || req.body === null ? {} : req.body;
    if (!isObject(body)) throw new SchemaValidationError(`${JSON.stringify(body)} is not of type 'object'`);
    const extra = Object.keys(body).filter((k) => k !== 'template');
    if (extra.length > 0) {
      throw new SchemaValidationError(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
    }
    if (!Object.hasOwn(body, 'template')) throw new SchemaValidationError(`'template' is a required property`);
    const uuid = newId();
    const parsed = parseCapsuleTemplate(body['template'], { isAdmin: auth.isAdmin, capsuleUuid: uuid });
    if ('errors' in parsed) {
      const e = parsed.errors[0];
      throw new ZunError(e.status, e.code, e.message);
    }
    const spec = await resources.resolveCapsuleSpec({ auth, requestId: req.id }, uuid, parsed.spec);
    const res = await executeCapsuleCommand({ store, newId, now }, uuid, { type: 'CreateCapsule', spec }, {
      projectId: auth.projectId,
      userId: auth.userId,
      requestId: req.id,
    });
    if (!res.ok) throw new Conflict(res.rejection.message);
    req.log.info({ capsule: uuid, members: spec.containers.length + spec.initContainers.length, volumes: spec.volumes.length }, 'capsule create requested');
    return reply.code(202).header('location', buildUrl(kit.baseUrlOf(req), 'capsules', uuid)).send(view(req, res.state));
  });

  app.get('/v1/capsules', async (req) => {
    const auth = callerOf(req);
    enforce(auth, 'capsule:get_all');
    const q = queryOf(req);
    const allProjects = unwrap(parseAllProjects(q));
    if (allProjects) enforce(auth, 'capsule:get_all_all_projects');
    const page = parsePageQuery(q, 'id', Object.keys(SORT_KEYS));
    const items = (await capsules.listCapsules()).filter((s) => allProjects || s.projectId === auth.projectId);
    const key = SORT_KEYS[page.sortKey]!;
    const { page: shown, next } = pageOf(items, page, key, (m) => new CapsuleNotFound(m), { baseUrl: kit.baseUrlOf(req), resource: 'capsules' });
    return { capsules: shown.map((s) => view(req, s)), next };
  });

  app.get('/v1/capsules/:ident', async (req) => {
    const auth = callerOf(req);
    const allProjects = unwrap(parseAllProjects(queryOf(req)));
    if (allProjects) enforce(auth, 'capsule:get_one_all_projects');
    const s = await resolve(req, identOf(req), allProjects);
    enforce(auth, 'capsule:get', { projectId: s.projectId });
    return view(req, s);
  });

  app.delete('/v1/capsules/:ident', async (req, reply) => {
    const auth = callerOf(req);
    const allProjects = unwrap(parseAllProjects(queryOf(req)));
    if (allProjects) enforce(auth, 'capsule:delete_all_projects');
    const s = await resolve(req, identOf(req), allProjects);
    enforce(auth, 'capsule:delete', { projectId: s.projectId });
    const res = await executeCapsuleCommand({ store, newId, now }, s.uuid, { type: 'DeleteCapsule' }, {
      projectId: auth.projectId,
      userId: auth.userId,
      requestId: req.id,
    });
    if (!res.ok) {
      if (res.rejection.code === 'not-found') throw new CapsuleNotFound(identOf(req));
      // Already being deleted: Zun sets task_state again and answers 204; so do we, appending nothing.
      if (!res.state.deleteRequested) throw new InvalidStateException(res.rejection.message);
    }
    return reply.code(204).send();
  });
};
