/**
 * The `local` identity mode: users, projects and roles from the users file,
 * signed tokens (tokens.ts), and the Keystone v3 subset that `zun` and
 * `openstack` log in with (routes.ts serves it under /identity).
 *
 * Contract:
 * - `issue` implements POST /v3/auth/tokens for the `password` and `token`
 *   methods with project scope (by id, or by name and domain) or none
 *   (unscoped). Every refusal of credentials is the same 401, whether the
 *   user is unknown, disabled, the password wrong or the project not theirs;
 *   an unknown user still costs one scrypt, so timing does not tell.
 * - `check` accepts a token only when its signature holds, it has not
 *   expired or been revoked, and its user and project still exist and are
 *   enabled. The roles are re-read from the directory (as Keystone re-reads
 *   them when it validates a Fernet token), so removing a role or a user
 *   takes effect at once; the roles in the token are those at issue time.
 * - Revocation (DELETE /v3/auth/tokens) is held in this process until the
 *   token expires: another gateway instance does not learn of it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isAdminRole } from '../../../domain/policy.js';
import type { Logger } from '../../platform/log.js';
import type { AuthContext, Authenticate } from '../auth.js';
import { NotAuthenticated } from '../errors.js';
import { KEYSTONE_401 } from './keystone-views.js';
import { verifyPassword, type ParsedHash } from './password.js';
import type { TokenClaims, TokenCodec } from './tokens.js';
import type { Directory, Domain, Project, User } from './users-file.js';

/** A refusal on the /identity routes, rendered in Keystone's error shape. */
export class IdentityError extends Error {
  readonly code = 'IDENTITY_ERROR';
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

export interface ResolvedToken {
  readonly token: string;
  readonly claims: TokenClaims;
  readonly user: User;
  readonly project: Project | null;
  /** Current roles on the project (empty for an unscoped token). */
  readonly roles: readonly string[];
}

export interface LocalIdentity {
  readonly directory: Directory;
  issue(body: unknown): Promise<ResolvedToken>;
  check(token: string): ResolvedToken | null;
  revoke(claims: TokenClaims): void;
  /** The gateway's Authenticate for /v1: a project-scoped token in X-Auth-Token. */
  readonly authenticate: Authenticate;
}

export interface LocalIdentityOptions {
  readonly directory: Directory;
  readonly codec: TokenCodec;
  readonly ttlMs: number;
  readonly clock: () => Date;
  readonly log: Logger;
  /** For the WWW-Authenticate header of a 401 on /v1: where to log in. */
  readonly authUrl: (headers: IncomingHttpHeaders) => string;
}

const MAX_SECRET = 4096;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): never {
  throw new IdentityError(400, message);
}

function field(o: Record<string, unknown>, path: string, key: string): Record<string, unknown> {
  const v = o[key];
  if (!isObj(v)) bad(`Expecting to find ${path}${key} in request body.`);
  return v;
}

function optString(o: Record<string, unknown>, path: string, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 255) bad(`Invalid input for field '${path}${key}': must be a non-empty string.`);
  return v;
}

function ref(o: Record<string, unknown>, path: string): { id?: string; name?: string } {
  const id = optString(o, path, 'id');
  const name = optString(o, path, 'name');
  return { ...(id !== undefined ? { id } : {}), ...(name !== undefined ? { name } : {}) };
}

/** `{id}` or `{name, domain: {id|name}}`, as Keystone's auth schema has them. */
function scopedRef(o: Record<string, unknown>, path: string): { id?: string; name?: string; domain?: { id?: string; name?: string } } {
  const r = ref(o, path);
  if (r.id !== undefined) return r;
  if (r.name === undefined) bad(`Expecting to find ${path}id or ${path}name in request body.`);
  const d = o['domain'];
  if (!isObj(d)) bad(`Expecting to find ${path}domain in request body.`);
  const dom = ref(d, `${path}domain/`);
  if (dom.id === undefined && dom.name === undefined) bad(`Expecting to find ${path}domain/id or ${path}domain/name in request body.`);
  return { name: r.name, domain: dom };
}

export function createLocalIdentity(opts: LocalIdentityOptions): LocalIdentity {
  const { directory, codec } = opts;
  const now = () => opts.clock().getTime();
  const revoked = new Map<string, number>();
  const log = opts.log.child({ component: 'identity-local' });

  // A stand-in hash with the cost of a real one, for unknown users.
  const sample: ParsedHash | undefined = directory.users[0]?.password;
  const decoy: ParsedHash | undefined = sample && { ...sample, salt: randomBytes(sample.salt.length), key: randomBytes(sample.key.length) };

  const unauthorized = (): never => {
    throw new IdentityError(401, KEYSTONE_401);
  };

  function check(token: string): ResolvedToken | null {
    const claims = codec.verify(token);
    if (!claims) return null;
    const t = now();
    if (claims.exp <= t) return null;
    if (revoked.has(claims.jti)) return null;
    const user = directory.findUser({ id: claims.uid });
    if (!user || !user.enabled) return null;
    if (claims.pid === null) return { token, claims, user, project: null, roles: [] };
    const project = directory.findProject({ id: claims.pid });
    if (!project || !project.enabled) return null;
    const roles = directory.rolesOf(user.id, project.id);
    if (roles.length === 0) return null;
    return { token, claims, user, project, roles };
  }

  async function passwordUser(identity: Record<string, unknown>): Promise<User> {
    const pw = field(identity, 'identity/', 'password');
    const u = field(pw, 'identity/password/', 'user');
    const password = u['password'];
    if (typeof password !== 'string') bad("Invalid input for field 'identity/password/user/password': must be a string.");
    if (password.length > MAX_SECRET) bad('The password is too long.');
    const r = scopedRef(u, 'identity/password/user/');
    const user = directory.findUser(r);
    if (!user) {
      if (decoy) await verifyPassword(password, decoy);
      return unauthorized();
    }
    if (!(await verifyPassword(password, user.password)) || !user.enabled) return unauthorized();
    return user;
  }

  function tokenUser(identity: Record<string, unknown>): { user: User; exp: number } {
    const tk = field(identity, 'identity/', 'token');
    const id = tk['id'];
    if (typeof id !== 'string' || id.length === 0) bad("Invalid input for field 'identity/token/id': must be a non-empty string.");
    const resolved = check(id);
    if (!resolved) return unauthorized();
    return { user: resolved.user, exp: resolved.claims.exp };
  }

  async function issue(body: unknown): Promise<ResolvedToken> {
    if (!isObj(body)) bad('Expecting to find auth in request body.');
    const auth = field(body, '', 'auth');
    const identity = field(auth, '', 'identity');
    const methods = identity['methods'];
    if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === 'string')) {
      bad("Invalid input for field 'identity/methods': must be a non-empty list of strings.");
    }
    const supported = (methods as string[]).filter((m) => m === 'password' || m === 'token');
    if (supported.length !== methods.length || supported.length !== 1) {
      log.info({ methods }, 'unsupported authentication methods');
      return unauthorized();
    }
    const t = now();
    let user: User;
    let exp = t + opts.ttlMs;
    if (supported[0] === 'password') {
      user = await passwordUser(identity);
    } else {
      const r = tokenUser(identity);
      user = r.user;
      // A token made from a token never outlives it (Keystone keeps the original expiry).
      exp = Math.min(exp, r.exp);
    }

    let project: Project | null = null;
    let roles: readonly string[] = [];
    const scope = auth['scope'];
    if (scope !== undefined && scope !== null && scope !== 'unscoped') {
      if (!isObj(scope)) bad("Invalid input for field 'scope'.");
      const keys = Object.keys(scope);
      if (keys.length !== 1 || keys[0] !== 'project') bad('Only project scope is supported by this identity endpoint.');
      const r = scopedRef(field(scope, 'scope/', 'project'), 'scope/project/');
      const p = directory.findProject(r);
      if (!p || !p.enabled) return unauthorized();
      roles = directory.rolesOf(user.id, p.id);
      if (roles.length === 0) return unauthorized();
      project = p;
    }
    const claims: TokenClaims = {
      jti: randomBytes(16).toString('base64url'),
      uid: user.id,
      pid: project?.id ?? null,
      roles,
      methods: supported,
      iat: t,
      exp,
    };
    log.info({ user: user.id, project: project?.id ?? null, jti: claims.jti }, 'token issued');
    return { token: codec.sign(claims), claims, user, project, roles };
  }

  function revoke(claims: TokenClaims): void {
    const t = now();
    for (const [jti, exp] of revoked) if (exp <= t) revoked.delete(jti);
    revoked.set(claims.jti, claims.exp);
    log.info({ user: claims.uid, jti: claims.jti }, 'token revoked');
  }

  const authenticate: Authenticate = async ({ headers }) => {
    const raw = headers['x-auth-token'];
    const token = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    const refuse = () => new NotAuthenticated(KEYSTONE_401, { 'www-authenticate': `Keystone uri="${opts.authUrl(headers)}"` });
    if (!token) throw refuse();
    const r = check(token);
    if (!r || r.project === null) throw refuse();
    const ctx: AuthContext = { projectId: r.project.id, userId: r.user.id, roles: r.roles, isAdmin: isAdminRole(r.roles) };
    return ctx;
  };

  return { directory, issue, check, revoke, authenticate };
}

export const domainRef = (d: Domain) => ({ id: d.id, name: d.name });
