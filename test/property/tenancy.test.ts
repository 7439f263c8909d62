/**
 * Tenancy: random members of random projects, logged in through the local
 * identity endpoint with real tokens, act on random resources of every
 * project, on every route that takes one (show, list, actions, PATCH,
 * DELETE, the host-side container routes, quotas, registries).
 *
 * Safety rules, for every request of a non-admin:
 * - another project's container or registry is "not found" (404), by uuid
 *   and by name, whatever the route;
 * - another project's quota is refused (Zun's 403: the project id is in the URL);
 * - lists show only the caller's project; all_projects is 403;
 * - no event lands on an aggregate of another project: its containers,
 *   registries and quota are untouched.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/index.js';
import { localHarness, type LocalHarness, type TestUser } from '../../services/gateway/identity/testing.js';
import { runs } from '../support/runs.js';

const RUNS = process.env['TENANCY_RUNS'] ? Number(process.env['TENANCY_RUNS']) : runs(40);

const PROJECTS = ['p0', 'p1', 'p2'];

interface Member {
  readonly name: string;
  readonly project: string;
  readonly token: string;
}

interface Resource {
  readonly kind: 'container' | 'registry';
  readonly uuid: string;
  readonly name: string;
  readonly project: string;
}

interface World {
  readonly h: LocalHarness;
  readonly members: Member[];
  readonly resources: Resource[];
}

async function world(membersPerProject: number): Promise<World> {
  const users: TestUser[] = [{ name: 'root', password: 'root-pw', roles: { p0: ['admin'] } }];
  for (const p of PROJECTS) for (let i = 0; i < membersPerProject; i++) users.push({ name: `${p}-u${i}`, password: `${p}-u${i}-pw`, roles: { [p]: ['member'] } });
  const h = await localHarness({ projects: PROJECTS, users });
  const members: Member[] = [];
  for (const u of users.slice(1)) {
    const project = Object.keys(u.roles)[0]!;
    members.push({ name: u.name, project, token: await h.login(u.name, u.password, project) });
  }
  const resources: Resource[] = [];
  for (const m of members) {
    // Names are unique per project (the project is in them): a lookup by another project's name must miss.
    const name = `c-${m.name}`;
    const c = await h.req('POST', '/v1/containers', { version: '1.40', body: { name, image: 'cirros', cpu: 0.5, memory: 64 }, headers: h.as(m.token) });
    if (c.statusCode !== 202) throw new Error(c.body);
    resources.push({ kind: 'container', uuid: c.json().uuid, name, project: m.project });
    const rname = `r-${m.name}`;
    const r = await h.req('POST', '/v1/registries', { body: { registry: { name: rname, domain: 'reg.example', password: 'pw' } }, headers: h.as(m.token) });
    if (r.statusCode !== 201) throw new Error(r.body);
    resources.push({ kind: 'registry', uuid: r.json().registry.uuid, name: rname, project: m.project });
  }
  // Some containers further along, as placement and a host would take them.
  for (const [i, r] of resources.filter((x) => x.kind === 'container').entries()) {
    if (i % 3 === 2) continue;
    await h.schedule(r.uuid);
    await h.observe(r.uuid, { type: 'ContainerCreated', data: { dockerId: `d-${r.uuid}` } });
    if (i % 3 === 1) await h.observe(r.uuid, { type: 'ContainerStarted', data: { dockerId: `d-${r.uuid}` } });
  }
  return { h, members, resources };
}

const CONTAINER_OPS: readonly (readonly [string, string, unknown?])[] = [
  ['GET', ''],
  ['GET', '?all_projects=False'],
  ['PATCH', '', { name: 'stolen', cpu: 1 }],
  ['PATCH', '', { memory: 128 }],
  ['DELETE', ''],
  ['DELETE', '?stop=true'],
  ['POST', '/start'],
  ['POST', '/stop?timeout=1'],
  ['POST', '/reboot'],
  ['POST', '/pause'],
  ['POST', '/unpause'],
  ['POST', '/kill?signal=SIGTERM'],
  ['POST', '/rename?name=stolen'],
  ['POST', '/rebuild?image=cirros'],
  ['GET', '/logs'],
  ['GET', '/top'],
  ['GET', '/stats'],
  ['POST', '/execute?command=ls'],
  ['GET', '/attach'],
  ['POST', '/resize?h=10&w=10'],
  ['POST', '/resize_container', { cpu: 1 }],
  ['GET', '/get_archive?path=/etc'],
  ['POST', '/put_archive?path=/tmp', { data: 'YQ==' }],
  ['GET', '/container_actions'],
];
const REGISTRY_OPS: readonly (readonly [string, unknown?])[] = [['GET'], ['PATCH', { registry: { domain: 'evil.example' } }], ['DELETE']];

type Op =
  | { readonly t: 'container'; readonly actor: number; readonly target: number; readonly op: number; readonly byName: boolean }
  | { readonly t: 'registry'; readonly actor: number; readonly target: number; readonly op: number; readonly byName: boolean }
  | { readonly t: 'quota'; readonly actor: number; readonly project: number; readonly op: 'GET' | 'GET usages' | 'GET defaults' | 'PUT' | 'DELETE' }
  | { readonly t: 'list'; readonly actor: number; readonly what: 'containers' | 'registries'; readonly allProjects: boolean }
  | { readonly t: 'create'; readonly actor: number; readonly what: 'container' | 'registry' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('container' as const), actor: fc.nat(), target: fc.nat(), op: fc.nat({ max: CONTAINER_OPS.length - 1 }), byName: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('registry' as const), actor: fc.nat(), target: fc.nat(), op: fc.nat({ max: REGISTRY_OPS.length - 1 }), byName: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('quota' as const), actor: fc.nat(), project: fc.nat(), op: fc.constantFrom('GET' as const, 'GET usages' as const, 'GET defaults' as const, 'PUT' as const, 'DELETE' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('list' as const), actor: fc.nat(), what: fc.constantFrom('containers' as const, 'registries' as const), allProjects: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('create' as const), actor: fc.nat(), what: fc.constantFrom('container' as const, 'registry' as const) }) },
);

/** Whose aggregate an event is on: a container's or registry's project, or the quota's project. */
function ownerOf(w: World, e: RecordedEvent): string | null {
  if (e.aggregateKind === 'quota') return e.aggregateId;
  const r = w.resources.find((x) => x.uuid === e.aggregateId);
  return r ? r.project : null;
}

describe('tenancy', () => {
  it('members never see nor change another project\'s resources, on any route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 }), fc.array(opArb, { minLength: 10, maxLength: 30 }), async (perProject, ops) => {
        const w = await world(perProject);
        const { h } = w;
        for (const op of ops) {
          const me = w.members[op.actor % w.members.length]!;
          const headers = h.as(me.token);
          const before = h.count();
          let where = '';
          let expectStatus: number | null = null;
          let res;
          switch (op.t) {
            case 'container':
            case 'registry': {
              const pool = w.resources.filter((r) => r.kind === op.t);
              const target = pool[op.target % pool.length]!;
              const ident = op.byName ? target.name : target.uuid;
              if (op.t === 'container') {
                const [method, suffix, body] = CONTAINER_OPS[op.op]!;
                const [path, query = ''] = suffix.split('?');
                const version = suffix.startsWith('/rename') ? '1.13' : '1.40';
                where = `${me.name} ${method} container ${target.project}/${ident}${suffix}`;
                res = await h.req(method as 'GET', `/v1/containers/${ident}${path}${query ? `?${query}` : ''}`, { version, headers, ...(body ? { body } : {}) });
              } else {
                const [method, body] = REGISTRY_OPS[op.op]!;
                where = `${me.name} ${method} registry ${target.project}/${ident}`;
                res = await h.req(method as 'GET', `/v1/registries/${ident}`, { headers, ...(body ? { body } : {}) });
              }
              if (target.project !== me.project) expectStatus = 404;
              break;
            }
            case 'quota': {
              const project = PROJECTS[op.project % PROJECTS.length]!;
              const url = `/v1/quotas/${project}${op.op === 'GET defaults' ? '/defaults' : ''}${op.op === 'GET usages' ? '?usages=true' : ''}`;
              const method = op.op.startsWith('GET') ? 'GET' : op.op;
              where = `${me.name} ${op.op} quota ${project}`;
              res = await h.req(method as 'GET', url, { headers, ...(method === 'PUT' ? { body: { containers: 1000 } } : {}) });
              // Members may read their own project's quota; everything else here is Zun's 403.
              expectStatus = project === me.project && method === 'GET' ? 200 : 403;
              break;
            }
            case 'list': {
              where = `${me.name} list ${op.what}${op.allProjects ? ' all_projects' : ''}`;
              res = await h.req('GET', `/v1/${op.what}${op.allProjects ? '?all_projects=1' : ''}`, { headers });
              if (op.allProjects) expectStatus = 403;
              else {
                expect(res.statusCode, where).toBe(200);
                for (const item of res.json()[op.what] as { project_id: string }[]) expect(item.project_id, where).toBe(me.project);
              }
              break;
            }
            case 'create': {
              const name = `${op.what[0]}-${me.name}-${w.resources.length}`;
              where = `${me.name} create ${op.what}`;
              if (op.what === 'container') {
                res = await h.req('POST', '/v1/containers', { version: '1.40', body: { name, image: 'cirros' }, headers });
                if (res.statusCode === 202) w.resources.push({ kind: 'container', uuid: res.json().uuid, name, project: me.project });
              } else {
                res = await h.req('POST', '/v1/registries', { body: { registry: { name, domain: 'd' } }, headers });
                if (res.statusCode === 201) w.resources.push({ kind: 'registry', uuid: res.json().registry.uuid, name, project: me.project });
              }
              expect(res.json().project_id ?? res.json().registry?.project_id, where).toBe(me.project);
              break;
            }
          }
          expect(res.statusCode, `${where}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
          if (expectStatus !== null) expect(res.statusCode, `${where}: ${res.body.slice(0, 200)}`).toBe(expectStatus);
          // Whatever happened, only the caller's own project's aggregates moved.
          const appended = (await h.events()).slice(before);
          for (const e of appended) expect(ownerOf(w, e), `${where}: ${e.aggregateKind} ${e.type}`).toBe(me.project);
          if (expectStatus !== null && expectStatus >= 400) expect(appended, where).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('the same holds for an admin only with all_projects or by uuid: admins are not scoped', async () => {
    const w = await world(1);
    const root = await w.h.login('root', 'root-pw', 'p0');
    const other = w.resources.find((r) => r.project === 'p1' && r.kind === 'container')!;
    expect((await w.h.req('GET', `/v1/containers/${other.uuid}`, { headers: w.h.as(root) })).statusCode).toBe(200);
    expect((await w.h.req('GET', '/v1/containers', { headers: w.h.as(root) })).json().containers.map((c: { project_id: string }) => c.project_id)).toEqual(['p0']);
    const all = (await w.h.req('GET', '/v1/containers?all_projects=1', { headers: w.h.as(root) })).json().containers as { project_id: string }[];
    expect(new Set(all.map((c) => c.project_id))).toEqual(new Set(PROJECTS));
    expect((await w.h.req('GET', '/v1/quotas/p1?usages=true', { headers: w.h.as(root) })).json().containers.in_use).toBe(1);
  });
});
