/**
 * The `keystone` identity mode: X-Auth-Token is validated against a real
 * Keystone, as keystonemiddleware's auth_token does.
 *
 * - The gateway logs in with its service credentials (POST /v3/auth/tokens,
 *   password, project scope) and keeps that token until shortly before it
 *   expires, or until Keystone answers 401 to it (then it logs in again, once).
 * - A user token is validated with GET /v3/auth/tokens (X-Auth-Token: the
 *   service token, X-Subject-Token: the user's). 200 gives the caller
 *   (project, user, role names); 404 means the token is invalid or expired.
 * - Validations are cached until the token's expires_at, capped by
 *   `cacheMs`; refusals are cached for `negativeCacheMs`. The cache is
 *   bounded (oldest entries dropped first). A revoked token therefore stays
 *   usable here for at most `cacheMs` (keystonemiddleware's token_cache_time
 *   has the same trade-off).
 * - Keystone unreachable or answering 5xx: 503 to the client; a token
 *   without a project scope: 401.
 *
 * Keystone cannot run on this machine: this module is tested against
 * recorded Keystone responses served by a local stub (test/fixtures/keystone).
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isAdminRole } from '../../../domain/policy.js';
import type { Logger } from '../../platform/log.js';
import type { AuthContext, Authenticate } from '../auth.js';
import { NotAuthenticated, ServiceUnavailable } from '../errors.js';
import { KEYSTONE_401 } from './keystone-views.js';

export interface KeystoneServiceCredentials {
  readonly username: string;
  readonly password: string;
  readonly userDomainName: string;
  readonly projectName: string;
  readonly projectDomainName: string;
}

export interface KeystoneAuthOptions {
  /** Keystone's v3 URL (`.../v3`). */
  readonly url: string;
  readonly credentials: KeystoneServiceCredentials;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly cacheMs?: number;
  readonly negativeCacheMs?: number;
  readonly maxEntries?: number;
  readonly timeoutMs?: number;
  /** For tests: the HTTP client (default: global fetch). */
  readonly fetch?: typeof fetch;
}

export interface KeystoneAuth {
  readonly authenticate: Authenticate;
  /** Drops every cached validation and the service token. */
  clear(): void;
  readonly stats: { readonly validations: number; readonly cacheHits: number; readonly serviceLogins: number };
}

/** `http://h:5000`, `http://h/identity` or `.../v3` → the v3 base. */
export function keystoneV3Url(url: string): string {
  const u = url.replace(/\/+$/, '');
  return /\/v3$/.test(u) ? u : `${u}/v3`;
}

interface Cached {
  readonly ctx: AuthContext | null;
  readonly until: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The caller from a Keystone token body; null when it is not project-scoped. */
export function contextFromToken(body: unknown): { ctx: AuthContext; expiresAt: number } | null {
  if (!isObj(body) || !isObj(body['token'])) return null;
  const t = body['token'];
  const project = t['project'];
  const user = t['user'];
  if (!isObj(project) || typeof project['id'] !== 'string' || !isObj(user) || typeof user['id'] !== 'string') return null;
  const roles = Array.isArray(t['roles']) ? t['roles'].flatMap((r) => (isObj(r) && typeof r['name'] === 'string' ? [r['name']] : [])) : [];
  const expiresAt = typeof t['expires_at'] === 'string' ? Date.parse(t['expires_at']) : NaN;
  if (Number.isNaN(expiresAt)) return null;
  return { ctx: { projectId: project['id'], userId: user['id'], roles, isAdmin: isAdminRole(roles) }, expiresAt };
}

export function createKeystoneAuth(opts: KeystoneAuthOptions): KeystoneAuth {
  const base = keystoneV3Url(opts.url);
  const cacheMs = opts.cacheMs ?? 300_000;
  const negativeMs = opts.negativeCacheMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const doFetch = opts.fetch ?? fetch;
  const log = opts.log.child({ component: 'identity-keystone', keystone: base });
  const now = () => opts.clock().getTime();
  const cache = new Map<string, Cached>();
  let service: { token: string; until: number } | null = null;
  let serviceLogin: Promise<string> | null = null;
  const stats = { validations: 0, cacheHits: 0, serviceLogins: 0 };

  const refuse = () => new NotAuthenticated(KEYSTONE_401, { 'www-authenticate': `Keystone uri="${base.replace(/\/v3$/, '')}"` });
  const unavailable = (why: string, cause?: unknown) =>
    new ServiceUnavailable(`The identity service is unavailable: ${why}`, cause === undefined ? undefined : { cause });

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; headers: Headers; json: unknown }> {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw unavailable(`${method} ${path} failed`, err);
    }
    const text = await res.text().catch(() => '');
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, json };
  }

  async function login(): Promise<string> {
    const c = opts.credentials;
    stats.serviceLogins++;
    const r = await call('POST', '/auth/tokens', {}, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: c.userDomainName }, password: c.password } } },
        scope: { project: { name: c.projectName, domain: { name: c.projectDomainName } } },
      },
    });
    const token = r.headers.get('x-subject-token');
    if (r.status !== 201 || !token) {
      log.error({ status: r.status }, 'the service credentials were refused by Keystone');
      throw unavailable(`service login answered ${r.status}`);
    }
    const parsed = contextFromToken(r.json);
    // Renew a minute before expiry (or halfway through a short lifetime).
    const life = parsed ? parsed.expiresAt - now() : 60_000;
    service = { token, until: now() + Math.max(1_000, Math.min(life - 60_000, life / 2)) };
    log.info({ until: new Date(service.until).toISOString() }, 'service token obtained');
    return token;
  }

  async function serviceToken(force = false): Promise<string> {
    if (!force && service && service.until > now()) return service.token;
    serviceLogin ??= login().finally(() => {
      serviceLogin = null;
    });
    return serviceLogin;
  }

  function remember(key: string, c: Cached): void {
    if (cache.size >= maxEntries) {
      const t = now();
      for (const [k, v] of cache) if (v.until <= t) cache.delete(k);
      while (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    }
    cache.set(key, c);
  }

  async function validate(token: string): Promise<AuthContext | null> {
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      stats.cacheHits++;
      return hit.ctx;
    }
    stats.validations++;
    for (let attempt = 0; ; attempt++) {
      const st = await serviceToken(attempt > 0);
      const r = await call('GET', '/auth/tokens', { 'x-auth-token': st, 'x-subject-token': token });
      if (r.status === 200) {
        const parsed = contextFromToken(r.json);
        if (!parsed) {
          remember(key, { ctx: null, until: now() + negativeMs });
          return null;
        }
        remember(key, { ctx: parsed.ctx, until: Math.min(parsed.expiresAt, now() + cacheMs) });
        return parsed.ctx;
      }
      if (r.status === 404 || r.status === 400) {
        remember(key, { ctx: null, until: now() + negativeMs });
        return null;
      }
      if (r.status === 401 && attempt === 0) {
        service = null;
        continue;
      }
      log.error({ status: r.status }, 'token validation failed');
      throw unavailable(`token validation answered ${r.status}`);
    }
  }

  const authenticate: Authenticate = async ({ headers }: { headers: IncomingHttpHeaders }) => {
    const raw = headers['x-auth-token'];
    const token = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    if (!token || token.length > 8192) throw refuse();
    const ctx = await validate(token);
    if (!ctx) throw refuse();
    return ctx;
  };

  return {
    authenticate,
    clear() {
      cache.clear();
      service = null;
    },
    stats,
  };
}
