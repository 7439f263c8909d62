/**
 * GET /v1/containers/{ident}/container_actions[/{request_id}]: Zun's action
 * records, derived from the container's event history on every read
 * (domain/actions.ts states the rule). Newest first, as Zun lists them.
 *
 * Policies: `container:actions` (admin or owner); the events' traceback is
 * shown only with `container:action:events` (admin).
 */
import type { FastifyInstance } from 'fastify';
import { deriveContainerActions, type ContainerAction } from '../../../domain/actions.js';
import { ZunError } from '../errors.js';
import { can, enforce } from '../policy.js';
import { identOf, strtime, type RouteKit } from './kit.js';

export class ResourceNotFound extends ZunError {
  constructor(name: string, id: string) {
    super(404, 'resource-not-found', `The ${name} resource ${id} could not be found.`);
    this.name = 'ResourceNotFound';
  }
}

/** views/actions_view.py format_action. */
export function actionView(a: ContainerAction) {
  return {
    action: a.action,
    container_uuid: a.containerUuid,
    request_id: a.requestId,
    user_id: a.userId,
    project_id: a.projectId,
    start_time: strtime(a.startTime),
    finish_time: strtime(a.finishTime),
    message: a.message,
  };
}

export async function containerActionRoutes(app: FastifyInstance, o: { kit: RouteKit }): Promise<void> {
  const { kit } = o;

  async function actionsOf(uuid: string): Promise<ContainerAction[]> {
    return deriveContainerActions(uuid, await kit.store.load('container', uuid));
  }

  app.get('/v1/containers/:ident/container_actions', async (req) => {
    const ctx = kit.ctxOf(req);
    const s = await kit.resolve(req, identOf(req));
    enforce(ctx, 'container:actions', { projectId: s.projectId });
    const actions = (await actionsOf(s.uuid)).reverse();
    return { containerActions: actions.map(actionView) };
  });

  app.get('/v1/containers/:ident/container_actions/:requestId', async (req) => {
    const ctx = kit.ctxOf(req);
    const s = await kit.resolve(req, identOf(req));
    enforce(ctx, 'container:actions', { projectId: s.projectId });
    const requestId = (req.params as { requestId: string }).requestId;
    const a = (await actionsOf(s.uuid)).find((x) => x.requestId === requestId);
    if (!a) throw new ResourceNotFound('Action', requestId);
    const showTraceback = can(ctx, 'container:action:events');
    return {
      ...actionView(a),
      events: a.events.map((ev) => ({
        event: ev.event,
        start_time: strtime(ev.startTime),
        finish_time: strtime(ev.finishTime),
        result: ev.result,
        traceback: showTraceback ? ev.detail : null,
      })),
    };
  });
}
