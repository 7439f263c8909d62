/**
 * The keystone mode against recorded Keystone responses
 * (test/fixtures/keystone) served by a loopback stub: Keystone itself cannot
 * run here. The stub behaves as Keystone does for the recorded tokens.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, startHttpStub, type HttpStub, type StubRequest } from '../../../test/support/http-stub.js';
import { NotAuthenticated, ServiceUnavailable } from '../errors.js';
import { harness, zunError } from '../test-harness.js';
import { contextFromToken, createKeystoneAuth, keystoneV3Url } from './keystone-remote.js';

const log = pino({ level: 'silent' });
const SERVICE_TOKEN = 'gAAAAABWPEmbService';
const TOKENS: Record<string, string> = {
  'gAAAAABWPEmbMember': 'validate-member-response',
  'gAAAAABWPEmbAdmin': 'validate-admin-response',
  'gAAAAABWPEmbUnscoped': 'validate-unscoped-response',
};

interface KeystoneStub extends HttpStub {
  /** Makes Keystone forget the current service token once (as after its expiry). */
  expireServiceToken(): void;
  validations(): StubRequest[];
}

let stub: KeystoneStub | null = null;
afterEach(async () => {
  await stub?.close();
  stub = null;
});

async function keystone(opts: { refuseService?: boolean; down?: boolean } = {}): Promise<KeystoneStub> {
  let serviceValid = true;
  let logins = 0;
  const s = await startHttpStub((req) => {
    if (opts.down) return { status: 503, body: { error: { code: 503, title: 'Service Unavailable', message: 'down' } } };
    if (req.method === 'POST' && req.path === '/identity/v3/auth/tokens') {
      const user = (req.body as { auth: { identity: { password: { user: { name: string; password: string } } } } }).auth.identity.password.user;
      if (opts.refuseService || user.name !== 'zun' || user.password !== 'service-pw') return { status: 401, body: fixture('keystone', 'unauthorized') };
      logins++;
      serviceValid = true;
      return { status: 201, body: fixture('keystone', 'service-token-response'), headers: { 'X-Subject-Token': `${SERVICE_TOKEN}${logins}` } };
    }
    if (req.method === 'GET' && req.path === '/identity/v3/auth/tokens') {
      if (!serviceValid || req.headers['x-auth-token'] !== `${SERVICE_TOKEN}${logins}`) return { status: 401, body: fixture('keystone', 'unauthorized') };
      const name = TOKENS[String(req.headers['x-subject-token'])];
      if (!name) return { status: 404, body: fixture('keystone', 'token-not-found') };
      return { status: 200, body: fixture('keystone', name), headers: { 'X-Subject-Token': String(req.headers['x-subject-token']) } };
    }
    return { status: 404, body: { error: { code: 404, title: 'Not Found', message: 'The resource could not be found.' } } };
  });
  stub = Object.assign(s, {
    expireServiceToken: () => {
      serviceValid = false;
    },
    validations: () => s.requests.filter((r) => r.method === 'GET'),
  });
  return stub;
}

// The recorded tokens were issued at 01:58:43 and expire at 02:58:43 on 2015-11-07.
const at = (hhmm: string) => () => new Date(`2015-11-07T${hhmm}:00Z`);

function auth(s: HttpStub, clock = at('02:00'), extra: { cacheMs?: number } = {}) {
  return createKeystoneAuth({
    url: `${s.url}/identity`,
    credentials: { username: 'zun', password: 'service-pw', userDomainName: 'Default', projectName: 'service', projectDomainName: 'Default' },
    log,
    clock,
    ...extra,
  });
}

const headers = (token?: string) => ({ headers: token === undefined ? {} : { 'x-auth-token': token } });

describe('keystone mode', () => {
  it('normalises the Keystone URL to its v3 base', () => {
    expect(keystoneV3Url('http://k:5000')).toBe('http://k:5000/v3');
    expect(keystoneV3Url('http://k/identity/')).toBe('http://k/identity/v3');
    expect(keystoneV3Url('http://k/identity/v3')).toBe('http://k/identity/v3');
  });

  it('reads the caller from a project-scoped token body, and nothing from an unscoped one', () => {
    expect(contextFromToken(fixture('keystone', 'validate-member-response'))).toEqual({
      ctx: { projectId: 'a6944d763bf64ee6a275f1263fae0352', userId: '423f19a4ac1e4f48bbb4180756e6eb6c', roles: ['member', 'reader'], isAdmin: false },
      expiresAt: Date.parse('2015-11-07T02:58:43.578887Z'),
    });
    expect(contextFromToken(fixture('keystone', 'validate-admin-response'))?.ctx.isAdmin).toBe(true);
    expect(contextFromToken(fixture('keystone', 'validate-unscoped-response'))).toBeNull();
    expect(contextFromToken({ token: 'x' })).toBeNull();
  });

  it('logs in as the service user once, validates with X-Subject-Token, and caches until expiry', async () => {
    const s = await keystone();
    let now = at('02:00')();
    const k = auth(s, () => now);
    const ctx = await k.authenticate(headers('gAAAAABWPEmbMember'));
    expect(ctx).toEqual({ projectId: 'a6944d763bf64ee6a275f1263fae0352', userId: '423f19a4ac1e4f48bbb4180756e6eb6c', roles: ['member', 'reader'], isAdmin: false });
    const login = s.requests[0]!;
    expect(login.method).toBe('POST');
    expect(login.body).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'zun', domain: { name: 'Default' }, password: 'service-pw' } } },
        scope: { project: { name: 'service', domain: { name: 'Default' } } },
      },
    });
    const v = s.validations()[0]!;
    expect(v.headers['x-auth-token']).toBe(`${SERVICE_TOKEN}1`);
    expect(v.headers['x-subject-token']).toBe('gAAAAABWPEmbMember');
    // Cached: no second validation within the cache time (default 5 min)...
    now = at('02:04')();
    expect(await k.authenticate(headers('gAAAAABWPEmbMember'))).toEqual(ctx);
    expect(s.validations()).toHaveLength(1);
    expect(k.stats.cacheHits).toBe(1);
    // ...Keystone is asked again after it...
    now = at('02:06')();
    await k.authenticate(headers('gAAAAABWPEmbMember'));
    expect(s.validations()).toHaveLength(2);
    // ...and never trusted past the token's own expiry, whatever the cache time.
    const long = auth(s, () => now, { cacheMs: 24 * 3600_000 });
    await long.authenticate(headers('gAAAAABWPEmbMember'));
    now = new Date('2015-11-07T02:58:44Z');
    await long.authenticate(headers('gAAAAABWPEmbMember'));
    expect(long.stats.validations).toBe(2);
  });

  it('refuses missing, invalid and unscoped tokens with 401, and caches the refusal briefly', async () => {
    const s = await keystone();
    const k = auth(s);
    for (const t of [undefined, '', 'gAAAAABWPEmbUnknown', 'gAAAAABWPEmbUnscoped']) {
      const err = await k.authenticate(headers(t)).catch((e: unknown) => e);
      expect(err, String(t)).toBeInstanceOf(NotAuthenticated);
      expect((err as NotAuthenticated).headers['www-authenticate']).toBe(`Keystone uri="${s.url}/identity"`);
    }
    const before = s.validations().length;
    await k.authenticate(headers('gAAAAABWPEmbUnknown')).catch(() => undefined);
    expect(s.validations()).toHaveLength(before);
  });

  it('logs in again when Keystone refuses the service token, once', async () => {
    const s = await keystone();
    const k = auth(s, at('02:00'), { cacheMs: 0 });
    await k.authenticate(headers('gAAAAABWPEmbMember'));
    s.expireServiceToken();
    expect((await k.authenticate(headers('gAAAAABWPEmbAdmin'))).isAdmin).toBe(true);
    expect(s.calls().filter((c) => c.startsWith('POST'))).toHaveLength(2);
  });

  it('answers 503 when Keystone is down or refuses the service credentials', async () => {
    for (const opts of [{ down: true }, { refuseService: true }]) {
      const s = await keystone(opts);
      const err = await auth(s).authenticate(headers('gAAAAABWPEmbMember')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceUnavailable);
      await s.close();
      stub = null;
    }
    const gone = auth({ url: 'http://127.0.0.1:1' } as HttpStub);
    expect(await gone.authenticate(headers('x')).catch((e: unknown) => e)).toBeInstanceOf(ServiceUnavailable);
  });

  it('drives the gateway: members see their project, admins may list all projects, bad tokens get Zun\'s 401', async () => {
    const s = await keystone();
    const k = auth(s);
    const h = harness({ auth: k.authenticate });
    const member = { 'x-auth-token': 'gAAAAABWPEmbMember' };
    const admin = { 'x-auth-token': 'gAAAAABWPEmbAdmin' };
    const created = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros' }, headers: member });
    expect(created.statusCode).toBe(202);
    expect(created.json()).toMatchObject({ project_id: 'a6944d763bf64ee6a275f1263fae0352', user_id: '423f19a4ac1e4f48bbb4180756e6eb6c' });
    expect((await h.req('GET', '/v1/containers?all_projects=1', { headers: member })).statusCode).toBe(403);
    expect((await h.req('GET', '/v1/containers?all_projects=1', { headers: admin })).json().containers).toHaveLength(1);
    expect((await h.req('GET', '/v1/containers', { headers: admin })).json().containers).toHaveLength(0);
    const bad = await h.req('GET', '/v1/containers', { headers: { 'x-auth-token': 'gAAAAABWPEmbUnknown' } });
    expect(bad.statusCode).toBe(401);
    expect(zunError(bad).code).toBe('container.not-authenticated');
    // No /identity routes in this mode: clients log in at Keystone.
    expect((await h.req('GET', '/identity/v3')).statusCode).toBe(404);
  });
});
