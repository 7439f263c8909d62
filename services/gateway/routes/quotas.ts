/**
 * Quotas (zun/api/controllers/v1/quotas.py). Served at every microversion
 * (1.26 is a history entry only). Quota classes: quota-classes.ts.
 *
 *   GET    /v1/quotas/{project_id}[?usages=true]   owner or admin
 *   GET    /v1/quotas/{project_id}/defaults         owner or admin
 *   PUT    /v1/quotas/{project_id}                  admin; body/query {containers,memory,cpu,disk}
 *   DELETE /v1/quotas/{project_id}                  admin; 200 null
 *
 * A non-admin asking about another project gets Zun's 403 (the project id
 * is named in the URL; quota:get checks it against the caller), not a 404.
 * Parameters are validated before the policy, as Zun's decorators do.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { QuotaResources, type QuotaLimits, type QuotaResource } from '../../../domain/quota.js';
import { InvalidValue } from '../errors.js';
import { enforce, Rule } from '../policy.js';
import type { QuotaService } from '../quotas.js';
import { BOOL_STRINGS, fieldError, parseBoolStrict, unknownKeysError, type FieldSchema } from '../validate.js';
import { callerOf, mergedParams, orThrow, queryOf, requireVersion } from './common.js';

export interface QuotaRoutesOptions {
  readonly quotas: QuotaService;
}

/** schemas/quotas.py common_quota (plus an upper bound: JavaScript integers). */
const COMMON_QUOTA: FieldSchema = { type: ['integer', 'string'], pattern: /^-?[0-9]+$/, minimum: -1, maximum: Number.MAX_SAFE_INTEGER };

/** query_param_update on the query string, then on the merged parameters; the limits. */
export function parseQuotaUpdate(query: Record<string, unknown>, merged: Record<string, unknown>): QuotaLimits {
  for (const [where, params] of [['query', query], ['body', merged]] as const) {
    for (const r of QuotaResources) if (Object.hasOwn(params, r)) orThrow(fieldError(where, r, params[r], COMMON_QUOTA));
    orThrow(unknownKeysError(params, QuotaResources));
  }
  const out: { [K in QuotaResource]?: number } = {};
  for (const r of QuotaResources) if (Object.hasOwn(merged, r)) out[r] = Number.parseInt(String(merged[r]), 10);
  return out;
}

const projectIdOf = (req: FastifyRequest) => (req.params as { project_id: string }).project_id;

export const quotaRoutes: FastifyPluginAsync<QuotaRoutesOptions> = async (app, { quotas }) => {
  app.get('/v1/quotas/:project_id', async (req) => {
    requireVersion(req, 1);
    const projectId = projectIdOf(req);
    const raw = queryOf(req)['usages'];
    let usages = false;
    if (raw !== undefined && raw !== '') {
      const b = parseBoolStrict(raw);
      if (b === null) throw new InvalidValue(`Valid usages values are: ${BOOL_STRINGS}`);
      usages = b;
    }
    enforce(callerOf(req), Rule.quotaGet, { projectId });
    const limits = await quotas.projectLimits(projectId);
    if (!usages) return limits;
    const u = await quotas.usage(projectId);
    return Object.fromEntries(QuotaResources.map((r) => [r, { limit: limits[r], in_use: u[r] }]));
  });

  app.get('/v1/quotas/:project_id/defaults', async (req) => {
    requireVersion(req, 1);
    enforce(callerOf(req), Rule.quotaGetDefault, { projectId: projectIdOf(req) });
    return quotas.defaults();
  });

  app.put('/v1/quotas/:project_id', async (req) => {
    requireVersion(req, 1);
    const projectId = projectIdOf(req);
    const limits = parseQuotaUpdate(queryOf(req), mergedParams(req));
    const ctx = callerOf(req);
    enforce(ctx, Rule.quotaUpdate, { projectId });
    const result = await quotas.setProjectLimits({ ctx, requestId: req.id }, projectId, limits);
    req.log.info({ projectId, limits }, 'quota limits set');
    return result;
  });

  app.delete('/v1/quotas/:project_id', async (req, reply) => {
    requireVersion(req, 1);
    const projectId = projectIdOf(req);
    const ctx = callerOf(req);
    enforce(ctx, Rule.quotaDelete, { projectId });
    await quotas.deleteProjectLimits({ ctx, requestId: req.id }, projectId);
    req.log.info({ projectId }, 'quota limits deleted');
    return reply.code(200).type('application/json').send('null');
  });
};
