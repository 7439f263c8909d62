/**
 * Quota classes (zun/api/controllers/v1/quota_classes.py), admin only:
 *
 *   GET /v1/quota_classes/{name}   the class's limits over the configured defaults
 *   PUT /v1/quota_classes/{name}   body/query {containers,memory,cpu,disk}
 *
 * The class named `default` replaces the configured defaults for every
 * project without limits of its own.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { enforce, Rule } from '../policy.js';
import { callerOf, mergedParams, queryOf, requireVersion } from './common.js';
import { parseQuotaUpdate, type QuotaRoutesOptions } from './quotas.js';

const classNameOf = (req: FastifyRequest) => (req.params as { name: string }).name;

export const quotaClassRoutes: FastifyPluginAsync<QuotaRoutesOptions> = async (app, { quotas }) => {
  app.get('/v1/quota_classes/:name', async (req) => {
    requireVersion(req, 1);
    enforce(callerOf(req), Rule.quotaClassGet);
    return quotas.classLimits(classNameOf(req));
  });

  app.put('/v1/quota_classes/:name', async (req) => {
    requireVersion(req, 1);
    const name = classNameOf(req);
    const limits = parseQuotaUpdate(queryOf(req), mergedParams(req));
    const ctx = callerOf(req);
    enforce(ctx, Rule.quotaClassUpdate);
    const result = await quotas.setClassLimits({ ctx, requestId: req.id }, name, limits);
    req.log.info({ quotaClass: name, limits }, 'quota class limits set');
    return result;
  });
};
