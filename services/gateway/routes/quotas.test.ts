import { describe, expect, it } from 'vitest';
import type { ContainerState } from '../../../domain/container.js';
import { ServiceUnavailable } from '../errors.js';
import type { ContainerReadModel } from '../readmodel.js';
import { harness, zunError, type Harness } from '../test-harness.js';

const ADMIN = { 'x-project-id': 'admin', 'x-user-id': 'root', 'x-roles': 'admin' };
const A = { 'x-project-id': 'demo-a', 'x-user-id': 'alice', 'x-roles': 'member' };
const B = { 'x-project-id': 'demo-b', 'x-user-id': 'bob', 'x-roles': 'member' };
const DEFAULTS = { containers: 40, memory: 51200, disk: 100, cpu: 20 };

const put = (h: Harness, url: string, body: unknown, headers = ADMIN) => h.req('PUT', url, { body, headers });
const create = (h: Harness, body: Record<string, unknown>, headers = A) => h.req('POST', '/v1/containers', { version: '1.40', body, headers });

describe('GET /v1/quotas/{project_id}', () => {
  it('answers the defaults in Zun\'s order, to the project\'s members and admins', async () => {
    const h = harness();
    for (const headers of [A, ADMIN]) {
      const r = await h.req('GET', '/v1/quotas/demo-a', { headers });
      expect(r.statusCode).toBe(200);
      expect(Object.keys(r.json())).toEqual(['containers', 'memory', 'disk', 'cpu']);
      expect(r.json()).toEqual(DEFAULTS);
      expect(r.headers['openstack-api-version']).toBe('container 1.1');
    }
    expect((await h.req('GET', '/v1/quotas/demo-a/defaults', { headers: A })).json()).toEqual(DEFAULTS);
  });

  it('refuses another project\'s quota to members with Zun\'s 403', async () => {
    const h = harness();
    for (const url of ['/v1/quotas/demo-b', '/v1/quotas/demo-b/defaults']) {
      const r = await h.req('GET', url, { headers: A });
      expect(r.statusCode).toBe(403);
      expect(zunError(r)).toMatchObject({ code: 'container.policy-not-authorized', title: expect.stringMatching(/^Policy doesn't allow quota:get(_default)? to be performed\.$/) });
    }
  });

  it('shows usage with usages=true: live containers of the project', async () => {
    const h = harness();
    await create(h, { image: 'cirros', cpu: 0.5, memory: '256' });
    await create(h, { image: 'cirros', cpu: '1.25', memory: 128, disk: 3 });
    await create(h, { image: 'cirros' }, B);
    const r = await h.req('GET', '/v1/quotas/demo-a?usages=True', { headers: A });
    expect(r.json()).toEqual({
      containers: { limit: 40, in_use: 2 },
      memory: { limit: 51200, in_use: 384 },
      disk: { limit: 100, in_use: 3 },
      cpu: { limit: 20, in_use: 1.75 },
    });
    expect((await h.req('GET', '/v1/quotas/demo-a?usages=false', { headers: A })).json()).toEqual(DEFAULTS);
    expect((await h.req('GET', '/v1/quotas/demo-a?usages=maybe', { headers: A })).statusCode).toBe(400);
  });
});

describe('PUT / DELETE /v1/quotas/{project_id}', () => {
  it('sets limits from the body or the query string (ints, integer strings, -1), as events, for admins only', async () => {
    const h = harness();
    const r = await put(h, '/v1/quotas/demo-a', { containers: 2, memory: '1024', cpu: -1 });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ containers: 2, memory: 1024, disk: 100, cpu: -1 });
    const q = await h.req('PUT', '/v1/quotas/demo-a?disk=7', { headers: ADMIN });
    expect(q.json()).toEqual({ containers: 2, memory: 1024, disk: 7, cpu: -1 });
    expect((await h.req('GET', '/v1/quotas/demo-a', { headers: A })).json()).toEqual({ containers: 2, memory: 1024, disk: 7, cpu: -1 });
    const events = await h.events();
    expect(events.map((e) => [e.aggregateKind, e.aggregateId, e.type, e.data])).toEqual([
      ['quota', 'demo-a', 'QuotaLimitsSet', { limits: { containers: 2, memory: 1024, cpu: -1 } }],
      ['quota', 'demo-a', 'QuotaLimitsSet', { limits: { disk: 7 } }],
    ]);
    expect(events[0]!.requestId).toBe(r.headers['x-openstack-request-id']);
    // The same limits again change nothing and append nothing.
    const before = h.count();
    expect((await put(h, '/v1/quotas/demo-a', { containers: '2' })).statusCode).toBe(200);
    expect(h.count()).toBe(before);
    // Other projects are untouched.
    expect((await h.req('GET', '/v1/quotas/demo-b', { headers: B })).json()).toEqual(DEFAULTS);
  });

  it('validates before the policy and appends nothing when refused', async () => {
    const h = harness();
    const cases: [Record<string, string>, string, unknown, number, RegExp][] = [
      [ADMIN, '/v1/quotas/demo-a', { containers: -2 }, 400, /less than the minimum of -1/],
      [ADMIN, '/v1/quotas/demo-a', { containers: 'ten' }, 400, /does not match/],
      [ADMIN, '/v1/quotas/demo-a', { cpu: 1.5 }, 400, /is not of type 'integer', 'string'/],
      [ADMIN, '/v1/quotas/demo-a', { containers: 1, floating_ips: 3 }, 400, /Additional properties are not allowed \('floating_ips' was unexpected\)/],
      [ADMIN, '/v1/quotas/demo-a?nope=1', {}, 400, /Additional properties/],
      [ADMIN, '/v1/quotas/demo-a?memory=x', {}, 400, /query parameters 'memory'/],
      [ADMIN, '/v1/quotas/demo-a', [1, 2], 400, /must be a JSON object/],
      [ADMIN, '/v1/quotas/demo-a', { containers: 1e300 }, 400, /greater than the maximum/],
      [A, '/v1/quotas/demo-a', { containers: 'ten' }, 400, /does not match/],
      [A, '/v1/quotas/demo-a', { containers: 100 }, 403, /quota:update/],
      [B, '/v1/quota_classes/default', { containers: 100 }, 403, /quota_class:update/],
    ];
    for (const [headers, url, body, status, title] of cases) {
      const r = await h.req('PUT', url, { body, headers });
      expect(r.statusCode, `${url} ${JSON.stringify(body)}`).toBe(status);
      expect(zunError(r).title).toMatch(title);
    }
    expect((await h.req('DELETE', '/v1/quotas/demo-a', { headers: A })).statusCode).toBe(403);
    expect((await h.req('GET', '/v1/quota_classes/default', { headers: A })).statusCode).toBe(403);
    expect(h.count()).toBe(0);
  });

  it('DELETE drops the project\'s limits (200 null), and appends nothing when there are none', async () => {
    const h = harness();
    expect((await h.req('DELETE', '/v1/quotas/demo-a', { headers: ADMIN })).body).toBe('null');
    expect(h.count()).toBe(0);
    await put(h, '/v1/quotas/demo-a', { containers: 3 });
    const d = await h.req('DELETE', '/v1/quotas/demo-a', { headers: ADMIN });
    expect(d.statusCode).toBe(200);
    expect(d.body).toBe('null');
    expect((await h.req('GET', '/v1/quotas/demo-a', { headers: A })).json()).toEqual(DEFAULTS);
    expect((await h.events()).map((e) => e.type)).toEqual(['QuotaLimitsSet', 'QuotaLimitsDeleted']);
  });
});

describe('/v1/quota_classes/{name}', () => {
  it('the `default` class replaces the configured defaults for projects without their own limits', async () => {
    const h = harness();
    expect((await h.req('GET', '/v1/quota_classes/default', { headers: ADMIN })).json()).toEqual(DEFAULTS);
    const r = await put(h, '/v1/quota_classes/default', { memory: 4096, containers: '10' });
    expect(r.json()).toEqual({ containers: 10, memory: 4096, disk: 100, cpu: 20 });
    await put(h, '/v1/quotas/demo-b', { containers: 1 });
    expect((await h.req('GET', '/v1/quotas/demo-a', { headers: A })).json()).toEqual({ containers: 10, memory: 4096, disk: 100, cpu: 20 });
    expect((await h.req('GET', '/v1/quotas/demo-a/defaults', { headers: A })).json()).toEqual({ containers: 10, memory: 4096, disk: 100, cpu: 20 });
    expect((await h.req('GET', '/v1/quotas/demo-b', { headers: B })).json()).toEqual({ containers: 1, memory: 4096, disk: 100, cpu: 20 });
    // Another class is its own limits over the configured defaults (not over `default`).
    expect((await put(h, '/v1/quota_classes/gold', { cpu: 64 })).json()).toEqual({ ...DEFAULTS, cpu: 64 });
    expect((await h.events()).filter((e) => e.aggregateKind === 'quota_class').map((e) => e.aggregateId)).toEqual(['default', 'gold']);
  });
});

describe('quota enforcement', () => {
  it('refuses a create over the containers quota with Zun\'s OverQuota, appending nothing', async () => {
    const h = harness();
    await put(h, '/v1/quotas/demo-a', { containers: 2 });
    expect((await create(h, { image: 'cirros' })).statusCode).toBe(202);
    expect((await create(h, { image: 'cirros' })).statusCode).toBe(202);
    const before = h.count();
    const r = await create(h, { image: 'cirros' });
    expect(r.statusCode).toBe(403);
    expect(zunError(r)).toMatchObject({ code: 'container.over-quota', status: 403, title: "Quota exceeded for resources: ['containers']", detail: "Quota exceeded for resources: ['containers']" });
    expect(h.count()).toBe(before);
    // Other projects are not affected.
    expect((await create(h, { image: 'cirros' }, B)).statusCode).toBe(202);
  });

  it('counts cpu, memory and disk, names every resource over (sorted), and -1 is unlimited', async () => {
    const h = harness();
    await put(h, '/v1/quotas/demo-a', { cpu: 2, memory: 600, disk: -1 });
    expect((await create(h, { image: 'cirros', cpu: 1.5, memory: '512', disk: 150 })).statusCode).toBe(202);
    const r = await create(h, { image: 'cirros', cpu: '1', memory: 128 });
    expect(zunError(r).title).toBe("Quota exceeded for resources: ['cpu', 'memory']");
    expect((await create(h, { image: 'cirros', cpu: 0.5, memory: 88 })).statusCode).toBe(202); // exactly at the limits
    expect(zunError(await create(h, { image: 'cirros', cpu: 0.1, memory: 6 })).title).toBe("Quota exceeded for resources: ['cpu', 'memory']");
  });

  it('frees the quota when a container is deleted', async () => {
    const h = harness();
    await put(h, '/v1/quotas/demo-a', { containers: 1 });
    const uuid = (await create(h, { image: 'cirros' })).json().uuid as string;
    expect((await create(h, { image: 'cirros' })).statusCode).toBe(403);
    await h.schedule(uuid);
    await h.observe(uuid, { type: 'ContainerCreated', data: { dockerId: 'd' } });
    expect((await h.req('DELETE', `/v1/containers/${uuid}`, { headers: A })).statusCode).toBe(204);
    expect((await create(h, { image: 'cirros' })).statusCode).toBe(403); // Deleting still counts, as Zun's row does
    await h.observe(uuid, { type: 'ContainerDeleted', data: {} });
    expect((await create(h, { image: 'cirros' })).statusCode).toBe(202);
  });

  it('checks PATCH cpu/memory against the quota, after the state check; a rename is not checked', async () => {
    const h = harness();
    const uuid = (await create(h, { name: 'web', image: 'cirros', cpu: 1, memory: 512 })).json().uuid as string;
    // Still Creating: Zun's state check comes first (409), and nothing is reserved.
    const early = h.count();
    expect((await h.req('PATCH', `/v1/containers/${uuid}`, { body: { cpu: 2 }, headers: A })).statusCode).toBe(409);
    expect(h.count()).toBe(early);
    await h.schedule(uuid);
    await h.observe(uuid, { type: 'ContainerCreated', data: { dockerId: 'd' } });
    await put(h, '/v1/quotas/demo-a', { cpu: 2, memory: 300 }); // already over on memory
    const before = h.count();
    const over = await h.req('PATCH', `/v1/containers/${uuid}`, { body: { cpu: '3' }, headers: A });
    expect(over.statusCode).toBe(403);
    expect(zunError(over).title).toBe("Quota exceeded for resources: ['cpu', 'memory']");
    expect(h.count()).toBe(before);
    expect((await h.req('PATCH', `/v1/containers/${uuid}`, { body: { name: 'web2' }, headers: A })).statusCode).toBe(200);
    expect((await h.req('PATCH', `/v1/containers/${uuid}`, { body: { memory: 256, cpu: 2 }, headers: A })).statusCode).toBe(200);
    expect((await h.req('GET', '/v1/quotas/demo-a?usages=true', { headers: A })).json()).toMatchObject({ cpu: { in_use: 2 }, memory: { in_use: 256 } });
  });

  it('is authoritative under concurrency, even when the read model lags (the reservation fence)', async () => {
    // A read model that never shows anything: only the quota aggregate's reservations count.
    const blind: ContainerReadModel = {
      listContainers: async () => [] as ContainerState[],
      getContainer: async () => null,
      findByName: async () => [],
    };
    const h = harness({ readModel: blind });
    await put(h, '/v1/quotas/demo-a', { containers: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, () => create(h, { image: 'cirros' })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([202, 202, 202, 403, 403, 403, 403, 403, 403, 403]);
    const reserved = (await h.events()).filter((e) => e.type === 'QuotaUsageReserved');
    expect(reserved).toHaveLength(3);
    expect((await h.events()).filter((e) => e.type === 'ContainerCreateRequested')).toHaveLength(3);
  });

  it('fails closed (503, nothing appended) while the read model is unavailable, unless nothing is limited', async () => {
    const down: ContainerReadModel = {
      listContainers: async () => {
        throw new ServiceUnavailable('The read model zun_containers is not available yet.');
      },
      getContainer: async () => null,
      findByName: async () => [],
    };
    const h = harness({ readModel: down });
    const r = await create(h, { image: 'cirros' });
    expect(r.statusCode).toBe(503);
    expect(h.count()).toBe(0);
    const unlimited = harness({ readModel: down, quotaDefaults: { containers: -1, memory: -1, disk: -1, cpu: -1 } });
    expect((await create(unlimited, { image: 'cirros' })).statusCode).toBe(202);
    const events = await unlimited.events();
    expect(events.filter((e) => e.aggregateKind === 'quota')).toEqual([]);
    expect(events.filter((e) => e.aggregateKind === 'container').map((e) => e.type)).toEqual(['ContainerCreateRequested']);
  });
});
