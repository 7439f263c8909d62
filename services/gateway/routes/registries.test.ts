import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../identity/secrets.js';
import { BASE, harness, zunError, type Harness } from '../test-harness.js';

const ADMIN = { 'x-project-id': 'admin', 'x-user-id': 'root', 'x-roles': 'admin' };
const A = { 'x-project-id': 'demo-a', 'x-user-id': 'alice', 'x-roles': 'member' };
const B = { 'x-project-id': 'demo-b', 'x-user-id': 'bob', 'x-roles': 'member' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const createReg = async (h: Harness, registry: Record<string, unknown>, headers = A) => {
  const r = await h.req('POST', '/v1/registries', { body: { registry }, headers });
  if (r.statusCode !== 201) throw new Error(`create failed: ${r.statusCode} ${r.body}`);
  return r.json().registry as { uuid: string; name: string };
};

describe('POST /v1/registries', () => {
  it('answers 201, Location and {"registry":...} with the password hidden; the log holds only ciphertext', async () => {
    const key = randomBytes(32);
    const box = createSecretBox(key);
    const h = harness({ secretBox: box });
    const r = await h.req('POST', '/v1/registries', {
      body: { registry: { name: 'reg1', domain: 'registry.example.com:5000', username: 'me', password: 'hunter2' } },
      headers: A,
    });
    expect(r.statusCode, r.body).toBe(201);
    const reg = r.json().registry;
    expect(reg.uuid).toMatch(UUID);
    expect(r.headers['location']).toBe(`${BASE}/v1/registries/${reg.uuid}`);
    expect(reg).toEqual({
      uuid: reg.uuid,
      links: [
        { href: `${BASE}/v1/registries/${reg.uuid}`, rel: 'self' },
        { href: `${BASE}/registries/${reg.uuid}`, rel: 'bookmark' },
      ],
      name: 'reg1',
      domain: 'registry.example.com:5000',
      username: 'me',
      password: '***',
      user_id: 'alice',
      project_id: 'demo-a',
    });
    const [e] = await h.events();
    expect(e).toMatchObject({ aggregateKind: 'registry', aggregateId: reg.uuid, type: 'RegistryCreated', projectId: 'demo-a', requestId: r.headers['x-openstack-request-id'] });
    const data = e!.data as { passwordCipher: string; projectId: string };
    expect(JSON.stringify(e)).not.toContain('hunter2');
    expect(box.open(data.passwordCipher)).toBe('hunter2');
    expect(data.projectId).toBe('demo-a');
  });

  it('needs only a domain; validates like Zun and appends nothing when refused', async () => {
    const h = harness();
    expect((await createReg(h, { domain: 'd' })).name).toBeNull();
    const before = h.count();
    const cases: [unknown, number, RegExp, Record<string, string>?][] = [
      [{}, 400, /'registry' is a required property/],
      [{ registry: {} }, 400, /'domain' is a required property/],
      [{ registry: { domain: '' } }, 400, /is too short/],
      [{ registry: { domain: 'd', name: 'x' } }, 400, /is too short/],
      [{ registry: { domain: 'd', name: '-bad' } }, 400, /does not match/],
      [{ registry: { domain: 'd', email: 'e' } }, 400, /Additional properties are not allowed \('email' was unexpected\)/],
      [{ registry: { domain: 'd' }, extra: 1 }, 400, /Additional properties/],
      [{ registry: 'd' }, 400, /is not of type 'object'/],
      [{ registry: { domain: 7 } }, 400, /is not of type 'string'/],
      [{ registry: { domain: 'd' } }, 415, /Unexpected content type: text\/plain/, { 'content-type': 'text/plain' }],
    ];
    for (const [body, status, title, headers] of cases) {
      const r = await h.req('POST', '/v1/registries', { body: headers ? JSON.stringify(body) : body, headers: { ...A, ...(headers ?? {}) } });
      expect(r.statusCode, JSON.stringify(body)).toBe(status);
      expect(zunError(r).title).toMatch(title);
    }
    expect(h.count()).toBe(before);
    // `run` is popped from the parameters, as Zun's post(run=False, **registry_dict) does.
    expect((await h.req('POST', '/v1/registries?run=true', { body: { registry: { domain: 'd' } }, headers: A })).statusCode).toBe(201);
  });
});

describe('GET /v1/registries', () => {
  it('lists the caller\'s project; all_projects for admins; filters, sort and pages', async () => {
    const h = harness();
    await createReg(h, { name: 'r1', domain: 'one', username: 'u1' });
    await createReg(h, { name: 'r2', domain: 'two', username: 'u2' });
    await createReg(h, { name: 'r3', domain: 'one' });
    await createReg(h, { name: 'rb', domain: 'one' }, B);
    const names = async (q: string, headers = A) => {
      const r = await h.req('GET', `/v1/registries${q}`, { headers });
      expect(r.statusCode, r.body).toBe(200);
      return (r.json().registries as { name: string }[]).map((x) => x.name);
    };
    expect(await names('')).toEqual(['r1', 'r2', 'r3']);
    expect(await names('', B)).toEqual(['rb']);
    expect(await names('', ADMIN)).toEqual([]);
    expect(await names('?all_projects=True', ADMIN)).toEqual(['r1', 'r2', 'r3', 'rb']);
    expect(await names('?domain=one')).toEqual(['r1', 'r3']);
    expect(await names('?username=u2')).toEqual(['r2']);
    expect(await names('?sort_key=name&sort_dir=desc')).toEqual(['r3', 'r2', 'r1']);
    const page = await h.req('GET', '/v1/registries?limit=2', { headers: A });
    const regs = page.json().registries as { uuid: string }[];
    expect(page.json().next).toBe(`${BASE}/v1/registries?sort_key=id&sort_dir=asc&limit=2&marker=${regs[1]!.uuid}`);
    expect(await names(`?limit=2&marker=${regs[1]!.uuid}`)).toEqual(['r3']);
    const refused: [string, number, Record<string, string>][] = [
      ['?all_projects=True', 403, A],
      ['?color=red', 400, A],
      ['?limit=0', 400, A],
      ['?sort_dir=up', 400, A],
      ['?sort_key=password', 400, A],
      ['?all_projects=maybe', 400, A],
      [`?marker=${regs[0]!.uuid}`, 404, B],
    ];
    for (const [q, status, headers] of refused) expect((await h.req('GET', `/v1/registries${q}`, { headers })).statusCode, q).toBe(status);
  });
});

describe('GET / PATCH / DELETE /v1/registries/{ident}', () => {
  it('finds by uuid or name, within the project; another project\'s is 404; admins reach all', async () => {
    const h = harness();
    const reg = await createReg(h, { name: 'mine', domain: 'd' });
    for (const ident of [reg.uuid, reg.uuid.toUpperCase(), 'mine']) {
      const r = await h.req('GET', `/v1/registries/${ident}`, { headers: A });
      expect(r.statusCode).toBe(200);
      expect(r.json().registry.uuid).toBe(reg.uuid);
    }
    for (const ident of [reg.uuid, 'mine']) {
      const r = await h.req('GET', `/v1/registries/${ident}`, { headers: B });
      expect(r.statusCode).toBe(404);
      expect(zunError(r)).toMatchObject({ code: 'container.registry-not-found', title: `Registry ${ident} could not be found.` });
      expect((await h.req('PATCH', `/v1/registries/${ident}`, { body: { registry: { domain: 'x' } }, headers: B })).statusCode).toBe(404);
      expect((await h.req('DELETE', `/v1/registries/${ident}`, { headers: B })).statusCode).toBe(404);
    }
    expect((await h.req('GET', `/v1/registries/${reg.uuid}`, { headers: ADMIN })).statusCode).toBe(200);
    await createReg(h, { name: 'mine', domain: 'd2' });
    const twin = await h.req('GET', '/v1/registries/mine', { headers: A });
    expect(twin.statusCode).toBe(409);
    expect(zunError(twin).title).toBe('Multiple registries exist with same name. Please use the registry uuid instead.');
  });

  it('updates the named fields (an empty update appends nothing) and deletes (204)', async () => {
    const h = harness();
    const reg = await createReg(h, { name: 'r1', domain: 'd', username: 'u', password: 'p' });
    const before = h.count();
    const same = await h.req('PATCH', `/v1/registries/${reg.uuid}`, { body: { registry: { domain: 'd' } }, headers: A });
    expect(same.statusCode).toBe(200);
    expect(h.count()).toBe(before);
    const r = await h.req('PATCH', '/v1/registries/r1', { body: { registry: { domain: 'd2', password: 'p2' } }, headers: A });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().registry).toMatchObject({ uuid: reg.uuid, name: 'r1', domain: 'd2', username: 'u', password: '***' });
    const updated = (await h.events()).at(-1)!;
    expect(updated.type).toBe('RegistryUpdated');
    expect(Object.keys((updated.data as { changes: object }).changes).sort()).toEqual(['domain', 'passwordCipher']);
    expect((await h.req('PATCH', '/v1/registries/r1', { body: { domain: 'x' }, headers: A })).statusCode).toBe(400);
    expect((await h.req('PATCH', '/v1/registries/r1', { body: { registry: { name: '!' } }, headers: A })).statusCode).toBe(400);
    const d = await h.req('DELETE', '/v1/registries/r1', { headers: A });
    expect(d.statusCode).toBe(204);
    expect((await h.req('GET', `/v1/registries/${reg.uuid}`, { headers: A })).statusCode).toBe(404);
    expect((await h.req('DELETE', `/v1/registries/${reg.uuid}`, { headers: A })).statusCode).toBe(404);
    expect((await h.req('GET', '/v1/registries', { headers: A })).json().registries).toEqual([]);
  });
});

describe('microversions on quotas and registries', () => {
  it('are served at every version (1.26 and 1.30 are history entries), with the headers; outside the range 406', async () => {
    const h = harness();
    for (const url of ['/v1/quotas/demo-a', '/v1/registries', '/v1/quota_classes/default']) {
      for (const version of ['1.1', '1.25', '1.40']) {
        const r = await h.req('GET', url, { version, headers: ADMIN });
        expect(r.statusCode, `${url} ${version}`).toBe(200);
        expect(r.headers['openstack-api-version']).toBe(`container ${version}`);
        expect(r.headers['openstack-api-minimum-version']).toBe('container 1.1');
        expect(r.headers['openstack-api-maximum-version']).toBe('container 1.40');
      }
      const bad = await h.req('PUT', url, { version: '1.41', body: { containers: 1 }, headers: ADMIN });
      expect(bad.statusCode).toBe(406);
      expect(zunError(bad).title).toMatch(/^Version 1\.41 was requested but the minor version is not supported/);
      expect(bad.headers['openstack-api-maximum-version']).toBe('container 1.40');
    }
    expect(h.count()).toBe(0);
  });
});
