import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { zunError } from '../test-harness.js';
import { hashPassword, parsePasswordHash, verifyPassword } from './password.js';
import { createSecretBox, deriveKey, loadOrCreateSecret } from './secrets.js';
import { DEFAULT_TEST_USERS, localHarness, testDirectory, TEST_SCRYPT } from './testing.js';
import { createTokenCodec } from './tokens.js';
import { parseUsersFile, UsersFileError } from './users-file.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'etc', 'users.example.yaml');

const passwordBody = (user: Record<string, unknown>, password: string, scope?: unknown) => ({
  auth: { identity: { methods: ['password'], password: { user: { ...user, password } } }, ...(scope === undefined ? {} : { scope }) },
});
const byName = (name: string) => ({ name, domain: { name: 'Default' } });

describe('passwords', () => {
  it('hash with scrypt, verify, and refuse a wrong password', async () => {
    const h = await hashPassword('s3cret', TEST_SCRYPT);
    expect(h).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('s3cret', h)).toBe(true);
    expect(await verifyPassword('s3cret ', h)).toBe(false);
    expect(h).not.toBe(await hashPassword('s3cret', TEST_SCRYPT)); // salted
  });

  it('refuse plain text and malformed hashes', () => {
    for (const bad of ['hunter2', 'scrypt$1000$8$1$YWJjZGVmZ2g=$YWJjZGVmZ2hpamtsbW5vcA==', 'scrypt$1024$8$1$$', 'bcrypt$x']) {
      expect(() => parsePasswordHash(bad)).toThrow();
    }
  });
});

describe('the users file', () => {
  it('reads the shipped example: an admin and two demo projects with a member each', async () => {
    const d = parseUsersFile(await readFile(EXAMPLE, 'utf8'));
    expect(d.projects.map((p) => p.id)).toEqual(['admin', 'demo-a', 'demo-b']);
    expect(d.users.map((u) => [u.name, [...u.roles]])).toEqual([
      ['admin', [['admin', ['admin']]]],
      ['alice', [['demo-a', ['member']]]],
      ['bob', [['demo-b', ['member']]]],
    ]);
    expect(d.findUser({ name: 'alice', domain: { name: 'Default' } })?.id).toBe('alice');
    expect(d.findUser({ name: 'alice', domain: { id: 'default' } })?.id).toBe('alice');
    expect(d.findUser({ name: 'alice', domain: { name: 'Other' } })).toBeUndefined();
  });

  it('the example passwords are the documented ones', async () => {
    const d = parseUsersFile(await readFile(EXAMPLE, 'utf8'));
    expect(await verifyPassword('admin-pass', d.findUser({ id: 'admin' })!.password)).toBe(true);
  }, 20_000);

  it.each([
    ['no users', '{"projects":[{"name":"p"}],"users":[]}', /no users/],
    ['a plain-text password', '{"projects":[{"name":"p"}],"users":[{"name":"u","password":"pw"}]}', /scrypt/],
    ['an unknown project in roles', '{"users":[{"name":"u","password":"scrypt$1024$8$1$YWJjZGVmZ2g=$YWJjZGVmZ2hpamtsbW5vcA==","roles":{"nope":["member"]}}]}', /unknown project/],
    ['an unknown key', '{"users":[],"groups":[]}', /unknown key/],
    ['duplicate users', '{"users":[{"name":"u","password":"scrypt$1024$8$1$YWJjZGVmZ2g=$YWJjZGVmZ2hpamtsbW5vcA=="},{"name":"u","password":"scrypt$1024$8$1$YWJjZGVmZ2g=$YWJjZGVmZ2hpamtsbW5vcA=="}]}', /duplicate/],
    ['YAML outside the subset', 'users: &x\n', /cannot parse/],
  ])('refuses %s', (_what, text, msg) => {
    expect(() => parseUsersFile(text)).toThrow(UsersFileError);
    expect(() => parseUsersFile(text)).toThrow(msg);
  });
});

describe('tokens', () => {
  it('verify with the same key only, and not once altered', () => {
    const key = randomBytes(32);
    const codec = createTokenCodec(key);
    const claims = { jti: 'j', uid: 'u', pid: 'p', roles: ['member'], methods: ['password'], iat: 1, exp: 2 };
    const t = codec.sign(claims);
    expect(codec.verify(t)).toEqual(claims);
    // Another gateway with the same key (or this one after a restart) accepts it.
    expect(createTokenCodec(Buffer.from(key)).verify(t)).toEqual(claims);
    expect(createTokenCodec(randomBytes(32)).verify(t)).toBeNull();
    const [p, body, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, pid: 'other' })).toString('base64url');
    expect(codec.verify(`${p}.${forged}.${sig}`)).toBeNull();
    expect(codec.verify(`${p}.${body}`)).toBeNull();
    expect(codec.verify('garbage')).toBeNull();
    expect(codec.verify(`${t}x`)).toBeNull();
  });
});

describe('the secret', () => {
  it('is created once (0600) and read back; derived keys differ by purpose', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zun-secret-'));
    try {
      const file = join(dir, 'gateway', 'secret.key');
      const [a, b] = await Promise.all([loadOrCreateSecret(file), loadOrCreateSecret(file)]);
      expect(a.secret.equals(b.secret)).toBe(true);
      expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await loadOrCreateSecret(file)).secret.equals(a.secret)).toBe(true);
      expect(deriveKey(a.secret, 'token-mac').equals(deriveKey(a.secret, 'registry-password'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('seals values that only the same key opens', () => {
    const key = randomBytes(32);
    const box = createSecretBox(key);
    const sealed = box.seal('registry-password');
    expect(sealed).not.toContain('registry-password');
    expect(box.open(sealed)).toBe('registry-password');
    expect(() => createSecretBox(randomBytes(32)).open(sealed)).toThrow();
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[2]!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.open([parts[0], parts[1], flipped.toString('base64url'), parts[3]].join('.'))).toThrow();
  });
});

describe('the built-in Keystone v3 subset', () => {
  it('serves the version documents keystoneauth discovers with', async () => {
    const h = await localHarness();
    const v3 = await h.req('GET', '/identity/v3');
    expect(v3.statusCode).toBe(200);
    expect(v3.json()).toMatchObject({ version: { id: 'v3.14', status: 'stable', links: [{ rel: 'self', href: 'http://zun.test:9517/identity/v3/' }] } });
    for (const url of ['/identity', '/identity/']) {
      const root = await h.req('GET', url);
      expect(root.statusCode).toBe(300);
      expect(root.json().versions.values[0]).toMatchObject({ id: 'v3.14', status: 'stable' });
    }
    expect((await h.req('GET', '/identity/v3/')).statusCode).toBe(200);
  });

  it('logs in with a password and project scope: 201, X-Subject-Token and the token body with the catalog', async () => {
    const h = await localHarness();
    const r = await h.req('POST', '/identity/v3/auth/tokens', { body: passwordBody(byName('alice'), 'alice-pw', { project: byName('demo-a') }) });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.headers['x-subject-token']).toMatch(/^zun1\./);
    const t = r.json().token;
    expect(t).toMatchObject({
      methods: ['password'],
      user: { id: 'alice', name: 'alice', domain: { id: 'default', name: 'Default' } },
      project: { id: 'demo-a', name: 'demo-a', domain: { id: 'default', name: 'Default' } },
      roles: [{ id: 'member', name: 'member' }],
      is_domain: false,
    });
    expect(t.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.parse(t.expires_at) - Date.parse(t.issued_at)).toBe(3_600_000);
    const container = t.catalog.find((s: { type: string }) => s.type === 'container');
    expect(container.endpoints.map((e: { interface: string; url: string }) => [e.interface, e.url]).sort()).toEqual([
      ['admin', 'http://zun.test:9517/v1'],
      ['internal', 'http://zun.test:9517/v1'],
      ['public', 'http://zun.test:9517/v1'],
    ]);
    expect(container.endpoints[0]).toMatchObject({ region: 'RegionOne', region_id: 'RegionOne' });
  });

  it('takes the user and the project by id too, and gives unscoped tokens without a catalog', async () => {
    const h = await localHarness();
    const r = await h.req('POST', '/identity/v3/auth/tokens', { body: passwordBody({ id: 'bob' }, 'bob-pw', { project: { id: 'demo-b' } }) });
    expect(r.statusCode).toBe(201);
    expect(r.json().token.project.id).toBe('demo-b');
    const u = await h.req('POST', '/identity/v3/auth/tokens', { body: passwordBody({ id: 'bob' }, 'bob-pw') });
    expect(u.statusCode).toBe(201);
    expect(u.json().token.project).toBeUndefined();
    expect(u.json().token.catalog).toBeUndefined();
    // An unscoped token does not open /v1.
    expect((await h.req('GET', '/v1/containers', { headers: h.as(u.headers['x-subject-token'] as string) })).statusCode).toBe(401);
    // ...but it can be exchanged for a scoped one (the token method), which never outlives it.
    const s = await h.req('POST', '/identity/v3/auth/tokens', {
      body: { auth: { identity: { methods: ['token'], token: { id: u.headers['x-subject-token'] } }, scope: { project: byName('demo-b') } } },
    });
    expect(s.statusCode, s.body).toBe(201);
    expect(s.json().token.expires_at).toBe(u.json().token.expires_at);
  });

  it('refuses bad credentials with one Keystone 401, whatever the reason', async () => {
    const h = await localHarness({ users: [...DEFAULT_TEST_USERS, { name: 'carol', password: 'carol-pw', roles: { 'demo-a': ['member'] }, enabled: false }] });
    const cases = [
      passwordBody(byName('alice'), 'wrong', { project: byName('demo-a') }),
      passwordBody(byName('nobody'), 'alice-pw', { project: byName('demo-a') }),
      passwordBody(byName('alice'), 'alice-pw', { project: byName('demo-b') }), // not her project
      passwordBody(byName('alice'), 'alice-pw', { project: byName('nope') }),
      passwordBody({ name: 'alice', domain: { name: 'Elsewhere' } }, 'alice-pw'),
      passwordBody(byName('carol'), 'carol-pw', { project: byName('demo-a') }), // disabled
      { auth: { identity: { methods: ['totp'], totp: {} } } },
      { auth: { identity: { methods: ['token'], token: { id: 'zun1.forged.sig' } } } },
    ];
    for (const body of cases) {
      const r = await h.req('POST', '/identity/v3/auth/tokens', { body });
      expect(r.statusCode, JSON.stringify(body)).toBe(401);
      expect(r.json()).toEqual({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      expect(r.headers['www-authenticate']).toBe('Keystone uri="http://zun.test:9517/identity"');
      expect(r.headers['x-subject-token']).toBeUndefined();
    }
  });

  it('answers malformed requests with Keystone 400/415/404 bodies, never Zun\'s', async () => {
    const h = await localHarness();
    const cases: [string, string, unknown, number, Record<string, string>?][] = [
      ['POST', '/identity/v3/auth/tokens', {}, 400],
      ['POST', '/identity/v3/auth/tokens', { auth: { identity: { methods: 'password' } } }, 400],
      ['POST', '/identity/v3/auth/tokens', { auth: { identity: { methods: ['password'], password: { user: { name: 'x', password: 1 } } } } }, 400],
      ['POST', '/identity/v3/auth/tokens', passwordBody(byName('alice'), 'alice-pw', { domain: { id: 'default' } }), 400],
      ['POST', '/identity/v3/auth/tokens', '{not json', 400],
      ['POST', '/identity/v3/auth/tokens', 'x', 415, { 'content-type': 'text/plain' }],
      ['GET', '/identity/v3/users', undefined, 404],
      ['GET', '/identity/v3/auth/tokens', undefined, 401],
    ];
    for (const [method, url, body, status, headers] of cases) {
      const r = await h.req(method as 'GET', url, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
      expect(r.statusCode, `${method} ${url} ${JSON.stringify(body)}`).toBe(status);
      expect(Object.keys(r.json())).toEqual(['error']);
      expect(r.json().error.code).toBe(status);
    }
  });

  it('validates (own token, or any as admin) and revokes tokens', async () => {
    const h = await localHarness();
    const alice = await h.login('alice', 'alice-pw', 'demo-a');
    const bob = await h.login('bob', 'bob-pw', 'demo-b');
    const admin = await h.login('admin', 'admin-pw', 'admin');
    const validate = (auth: string, subject: string, q = '') =>
      h.req('GET', `/identity/v3/auth/tokens${q}`, { headers: { 'x-auth-token': auth, 'x-subject-token': subject } });
    const own = await validate(alice, alice);
    expect(own.statusCode).toBe(200);
    expect(own.headers['x-subject-token']).toBe(alice);
    expect(own.json().token.user.id).toBe('alice');
    expect((await validate(alice, alice, '?nocatalog')).json().token.catalog).toBeUndefined();
    expect((await validate(bob, alice)).statusCode).toBe(403);
    expect((await validate(admin, alice)).statusCode).toBe(200);
    expect((await validate(alice, 'zun1.bad.token')).statusCode).toBe(404);
    // Revoked: no longer valid anywhere in this gateway, on /identity or /v1.
    const del = await h.req('DELETE', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': admin, 'x-subject-token': alice } });
    expect(del.statusCode).toBe(204);
    expect((await validate(admin, alice)).statusCode).toBe(404);
    expect((await h.req('GET', '/v1/containers', { headers: h.as(alice) })).statusCode).toBe(401);
    expect((await h.req('GET', '/v1/containers', { headers: h.as(bob) })).statusCode).toBe(200);
  });

  it('expires tokens', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    const h = await localHarness({ ttlMs: 60_000, clock: () => new Date(t) });
    const tok = await h.login('alice', 'alice-pw', 'demo-a');
    expect((await h.req('GET', '/v1/containers', { headers: h.as(tok) })).statusCode).toBe(200);
    t += 60_000;
    const r = await h.req('GET', '/v1/containers', { headers: h.as(tok) });
    expect(r.statusCode).toBe(401);
  });

  it('keeps tokens valid across a restart with the same secret, and drops a user removed from the file', async () => {
    const secret = randomBytes(32);
    const first = await localHarness({ secret });
    const tok = await first.login('alice', 'alice-pw', 'demo-a');
    const restarted = await localHarness({ secret, directory: first.identity.directory });
    expect((await restarted.req('GET', '/v1/containers', { headers: restarted.as(tok) })).statusCode).toBe(200);
    const withoutAlice = await testDirectory(['admin', 'demo-a', 'demo-b'], DEFAULT_TEST_USERS.filter((u) => u.name !== 'alice'));
    const edited = await localHarness({ secret, directory: withoutAlice });
    expect((await edited.req('GET', '/v1/containers', { headers: edited.as(tok) })).statusCode).toBe(401);
    const otherKey = await localHarness({ directory: first.identity.directory });
    expect((await otherKey.req('GET', '/v1/containers', { headers: otherKey.as(tok) })).statusCode).toBe(401);
  });
});

describe('/v1 in the local mode', () => {
  it('needs a token: 401 in Zun\'s format with WWW-Authenticate; / and /v1 stay public', async () => {
    const h = await localHarness();
    for (const [method, url] of [['GET', '/v1/containers'], ['GET', '/v1/quotas/demo-a'], ['POST', '/v1/containers/x/start'], ['GET', '/v1/nope']] as const) {
      for (const headers of [{}, { 'x-auth-token': 'nonsense' }, { 'x-project-id': 'demo-a', 'x-roles': 'admin' }] as Record<string, string>[]) {
        const r = await h.req(method, url, { headers });
        expect(r.statusCode, `${method} ${url}`).toBe(401);
        expect(zunError(r)).toMatchObject({ code: 'container.not-authenticated', status: 401, title: 'The request you have made requires authentication.' });
        expect(r.headers['www-authenticate']).toBe('Keystone uri="http://zun.test:9517/identity/v3"');
      }
    }
    expect((await h.req('GET', '/')).statusCode).toBe(200);
    expect((await h.req('GET', '/v1')).statusCode).toBe(200);
    expect(h.count()).toBe(0);
  });

  it('takes the caller from the token, never from X-Project-Id / X-Roles', async () => {
    const h = await localHarness();
    const alice = await h.login('alice', 'alice-pw', 'demo-a');
    const r = await h.req('POST', '/v1/containers', {
      version: '1.40',
      body: { image: 'cirros' },
      headers: { ...h.as(alice), 'x-project-id': 'admin', 'x-user-id': 'admin', 'x-roles': 'admin' },
    });
    expect(r.statusCode).toBe(202);
    expect(r.json()).toMatchObject({ project_id: 'demo-a', user_id: 'alice' });
    expect(r.json().host).toBeUndefined(); // not an admin
    const forbidden = await h.req('GET', '/v1/containers?all_projects=true', { headers: h.as(alice) });
    expect(forbidden.statusCode).toBe(403);
    const admin = await h.login('admin', 'admin-pw', 'admin');
    const all = await h.req('GET', '/v1/containers?all_projects=true', { headers: h.as(admin) });
    expect(all.json().containers.map((c: { project_id: string }) => c.project_id)).toEqual(['demo-a']);
    expect(all.json().containers[0].host).toBeNull(); // admins see host
  });
});
