/**
 * The audit read API, as an encapsulated fastify plugin for the gateway:
 *
 *   app.register(auditRoutes, { reader: createAuditReader(dir), authorize })
 *
 * - GET /v1/audit?project_id&user_id&aggregate_id&type&since&until&limit&marker
 *   -> 200 {"audit":[entry...], "next": url|null, "integrity": {...}}
 *   Entries are returned exactly as recorded (camelCase, with their hashes),
 *   so a client can re-verify them. `since`/`until` bound occurredAt
 *   (inclusive, ISO-8601); `limit` defaults to 100 and is capped at 1000;
 *   `marker` is the last auditSeq of the previous page.
 * - GET /v1/audit/head -> 200 {"head":{auditSeq,streamSeq,hash}, "ok", "entries"}
 *   The head to anchor elsewhere (see README).
 *
 * Tenancy: `authorize(request)` says who asks. An admin (`{ all: true }`)
 * sees every entry; anyone else (`{ projectId }`) sees only their project's:
 * the filter is forced to it, and naming another project is 403. The head
 * describes the whole chain, so it is for admins only. Errors use Zun's body.
 * `authorize` may throw (e.g. 401); that error goes to the app's handler.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidAuditQueryError, MAX_LIMIT, type AuditQuery, type AuditReader } from './reader.js';

export type AuditScope = { readonly all: true } | { readonly all?: false; readonly projectId: string };

export interface AuditRoutesOptions {
  readonly reader: AuditReader;
  readonly authorize: (request: FastifyRequest) => AuditScope | Promise<AuditScope>;
}

interface AuditQuerystring {
  project_id?: string;
  user_id?: string;
  aggregate_id?: string;
  type?: string;
  since?: string;
  until?: string;
  limit?: number;
  marker?: number;
}

const querystring = {
  type: 'object',
  properties: {
    project_id: { type: 'string', minLength: 1 },
    user_id: { type: 'string', minLength: 1 },
    aggregate_id: { type: 'string', minLength: 1 },
    type: { type: 'string', pattern: '^[A-Za-z]+$' },
    since: { type: 'string', minLength: 1 },
    until: { type: 'string', minLength: 1 },
    limit: { type: 'integer', minimum: 1 },
    marker: { type: 'integer', minimum: 0 },
  },
} as const;

function zunError(reply: FastifyReply, request: FastifyRequest, status: number, code: string, title: string): FastifyReply {
  const requestId = (request.headers['x-openstack-request-id'] as string | undefined) ?? '';
  return reply.code(status).send({ errors: [{ request_id: requestId, code, status, title, detail: title, links: [] }] });
}

export async function auditRoutes(app: FastifyInstance, opts: AuditRoutesOptions): Promise<void> {
  const { reader, authorize } = opts;

  app.get<{ Querystring: AuditQuerystring }>(
    '/v1/audit',
    { schema: { querystring }, attachValidation: true },
    async (request, reply) => {
      const scope = await authorize(request);
      if (request.validationError) {
        return zunError(reply, request, 400, 'audit.invalid', `Invalid input for query parameters: ${request.validationError.message}`);
      }
      const q = request.query;
      let projectId = q.project_id;
      if (!scope.all) {
        if (projectId !== undefined && projectId !== scope.projectId) {
          return zunError(reply, request, 403, 'audit.policy-not-authorized', 'Policy doesn\'t allow audit:get_all to be performed.');
        }
        projectId = scope.projectId;
      }
      const query: AuditQuery = {
        ...(projectId !== undefined ? { projectId } : {}),
        ...(q.user_id !== undefined ? { userId: q.user_id } : {}),
        ...(q.aggregate_id !== undefined ? { aggregateId: q.aggregate_id } : {}),
        ...(q.type !== undefined ? { type: q.type } : {}),
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        ...(q.marker !== undefined ? { afterAuditSeq: q.marker } : {}),
        limit: Math.min(q.limit ?? 100, MAX_LIMIT),
      };
      let result;
      try {
        result = await reader.query(query);
      } catch (e) {
        if (e instanceof InvalidAuditQueryError) return zunError(reply, request, 400, 'audit.invalid', e.message);
        throw e;
      }
      let next: string | null = null;
      if (result.next !== null) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries({ ...q, project_id: projectId, limit: query.limit, marker: result.next })) {
          if (v !== undefined) params.set(k, String(v));
        }
        next = `${request.protocol}://${request.host}/v1/audit?${params.toString()}`;
      }
      const integrity = scope.all
        ? result.integrity
        : { ok: result.integrity.ok, firstBreak: result.integrity.firstBreak ? { kind: result.integrity.firstBreak.kind } : null };
      return reply.send({ audit: result.entries, next, integrity });
    },
  );

  app.get('/v1/audit/head', async (request, reply) => {
    const scope = await authorize(request);
    if (!scope.all) {
      return zunError(reply, request, 403, 'audit.policy-not-authorized', 'Policy doesn\'t allow audit:get_head to be performed.');
    }
    const i = await reader.integrity();
    return reply.send({ head: i.head, ok: i.ok, entries: i.entries, firstBreak: i.firstBreak });
  });
}
