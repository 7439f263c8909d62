/**
 * The built-in Keystone v3 subset, a fastify plugin registered under
 * `/identity` in the `local` mode. Public routes (no X-Auth-Token needed for
 * discovery and login); errors in Keystone's shape, never Zun's.
 *
 *   GET    /identity               300 {"versions":{"values":[v3]}}
 *   GET    /identity/v3            200 {"version":{...}}
 *   POST   /identity/v3/auth/tokens   201, X-Subject-Token, {"token":{...}}
 *   GET    /identity/v3/auth/tokens   200 (X-Auth-Token + X-Subject-Token; ?nocatalog)
 *   DELETE /identity/v3/auth/tokens   204 (revoke)
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isAdminRole } from '../../../domain/policy.js';
import { ZunError } from '../errors.js';
import { catalog, identityRoot, keystoneError, tokenBody, versionDocument, versionsDocument, KEYSTONE_401 } from './keystone-views.js';
import { domainRef, IdentityError, type LocalIdentity, type ResolvedToken } from './local.js';

export interface IdentityRoutesOptions {
  readonly identity: LocalIdentity;
  readonly region: string;
  readonly baseUrlOf: (req: FastifyRequest) => string;
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s === undefined || s === '' ? undefined : s;
};

export const identityRoutes: FastifyPluginAsync<IdentityRoutesOptions> = async (app, opts) => {
  const { identity } = opts;

  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).header('vary', 'X-Auth-Token').type('application/json').send(body);

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof IdentityError) {
      if (err.status === 401) void reply.header('www-authenticate', `Keystone uri="${identityRoot(opts.baseUrlOf(req))}"`);
      req.log.info({ status: err.status, msg: err.message }, 'identity request refused');
      return send(reply, err.status, keystoneError(err.status, err.message));
    }
    // Body parsing (invalid JSON, too large) fails with the gateway's errors or fastify's.
    const status =
      err instanceof ZunError ? err.status : typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500;
    if (status >= 400 && status < 500) return send(reply, status, keystoneError(status, (err as Error).message));
    req.log.error({ err }, 'identity request failed');
    return send(reply, 500, keystoneError(500, 'An unexpected error prevented the server from fulfilling your request.'));
  });
  app.setNotFoundHandler((_req, reply) => send(reply, 404, keystoneError(404, 'The resource could not be found.')));

  const view = (req: FastifyRequest, r: ResolvedToken, withCatalog: boolean) =>
    tokenBody({
      methods: r.claims.methods,
      user: { id: r.user.id, name: r.user.name, domain: domainRef(r.user.domain) },
      project: r.project && { id: r.project.id, name: r.project.name, domain: domainRef(r.project.domain) },
      roles: r.roles,
      issuedAt: r.claims.iat,
      expiresAt: r.claims.exp,
      auditId: r.claims.jti,
      catalog: withCatalog ? catalog({ baseUrl: opts.baseUrlOf(req), region: opts.region }) : null,
    });

  /** The caller (X-Auth-Token) and the token asked about (X-Subject-Token). */
  const subjectOf = (req: FastifyRequest): { caller: ResolvedToken; subject: ResolvedToken } => {
    const auth = header(req, 'x-auth-token');
    const caller = auth === undefined ? null : identity.check(auth);
    if (!caller) throw new IdentityError(401, KEYSTONE_401);
    const subj = header(req, 'x-subject-token');
    if (subj === undefined) throw new IdentityError(400, 'Expecting to find X-Subject-Token in request headers.');
    const subject = identity.check(subj);
    if (!subject) throw new IdentityError(404, `Could not find token: ${subj.length > 64 ? `${subj.slice(0, 64)}...` : subj}.`);
    // Keystone's default policy: one's own tokens, or an admin's reach.
    if (subject.user.id !== caller.user.id && !isAdminRole(caller.roles)) {
      throw new IdentityError(403, `You are not authorized to perform the requested action: identity:${req.method === 'DELETE' ? 'revoke' : 'validate'}_token.`);
    }
    return { caller, subject };
  };

  app.get('/', async (req, reply) => send(reply, 300, versionsDocument(opts.baseUrlOf(req))));
  app.get('/v3', async (req, reply) => send(reply, 200, versionDocument(opts.baseUrlOf(req))));

  app.post('/v3/auth/tokens', async (req, reply) => {
    const essence = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (essence !== 'application/json') throw new IdentityError(415, 'Expecting a JSON request body (Content-Type: application/json).');
    const issued = await identity.issue(req.body);
    const q = req.query as Record<string, unknown>;
    const body = view(req, issued, issued.project !== null && q['nocatalog'] === undefined);
    return send(reply.header('x-subject-token', issued.token), 201, body);
  });

  app.get('/v3/auth/tokens', async (req, reply) => {
    const { subject } = subjectOf(req);
    const q = req.query as Record<string, unknown>;
    return send(reply.header('x-subject-token', subject.token), 200, view(req, subject, subject.project !== null && q['nocatalog'] === undefined));
  });

  app.delete('/v3/auth/tokens', async (req, reply) => {
    const { subject } = subjectOf(req);
    identity.revoke(subject.claims);
    return reply.code(204).header('vary', 'X-Auth-Token').send();
  });
};
