import { describe, expect, it } from 'vitest';
import type { ContainerState } from '../../domain/container.js';
import { loadContainer } from '../platform/commands.js';
import { EventStoreUnavailableError, type EventStore } from '../platform/eventstore.js';
import { createMemoryEventStore } from '../platform/memory-eventstore.js';
import { normalizeUrl, uuidLike } from './app.js';
import type { ContainerReadModel } from './readmodel.js';
import { BASE, harness, zunError } from './test-harness.js';

const REQ_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('version documents', () => {
  it('GET / lists v1 as CURRENT with the microversion range, without version headers', async () => {
    const h = harness();
    for (const url of ['/', '//']) {
      const r = await h.req('GET', url);
      expect(r.statusCode).toBe(200);
      const v1 = { id: 'v1', links: [{ href: `${BASE}/v1/`, rel: 'self' }], status: 'CURRENT', max_version: '1.40', min_version: '1.1' };
      expect(r.json()).toEqual({
        name: 'OpenStack Zun API',
        description: 'Zun is an OpenStack project which aims to provide containers service.',
        versions: [v1],
        default_version: v1,
      });
      expect(r.headers['x-openstack-request-id']).toMatch(REQ_ID);
      expect(r.headers['openstack-api-version']).toBeUndefined();
    }
  });

  it('GET /v1 and /v1/ describe the collections, with version headers', async () => {
    const h = harness();
    for (const url of ['/v1', '/v1/']) {
      const r = await h.req('GET', url);
      expect(r.statusCode).toBe(200);
      const doc = r.json();
      expect(doc.id).toBe('v1');
      expect(doc.media_types).toEqual([{ base: 'application/json', type: 'application/vnd.openstack.zun.v1+json' }]);
      expect(doc.links[0]).toEqual({ href: `${BASE}/v1/`, rel: 'self' });
      expect(doc.containers).toEqual([
        { href: `${BASE}/v1/containers/`, rel: 'self' },
        { href: `${BASE}/containers/`, rel: 'bookmark' },
      ]);
      for (const c of ['services', 'images', 'networks', 'hosts', 'capsules', 'availability_zones', 'quotas', 'quota_classes', 'registries']) {
        expect(doc[c]).toHaveLength(2);
      }
      expect(r.headers['openstack-api-version']).toBe('container 1.1');
      expect(r.headers['openstack-api-minimum-version']).toBe('container 1.1');
      expect(r.headers['openstack-api-maximum-version']).toBe('container 1.40');
      expect(r.headers['vary']).toBe('OpenStack-API-Version');
    }
  });

  it('takes the base URL from the Host header when none is configured', async () => {
    const h = harness({ baseUrl: undefined });
    const r = await h.app.inject({ method: 'GET', url: '/', headers: { host: 'api.example:9517' } });
    expect(r.json().versions[0].links[0].href).toBe('http://api.example:9517/v1/');
  });
});

describe('microversions', () => {
  it('negotiates: absent is 1.1, X.Y is echoed, latest is 1.40', async () => {
    const h = harness();
    expect((await h.req('GET', '/v1/containers')).headers['openstack-api-version']).toBe('container 1.1');
    expect((await h.req('GET', '/v1/containers', { version: '1.25' })).headers['openstack-api-version']).toBe('container 1.25');
    expect((await h.req('GET', '/v1/containers', { version: 'latest' })).headers['openstack-api-version']).toBe('container 1.40');
    const r = await h.req('GET', '/containers', { headers: { 'openstack-api-version': 'container LATEST' } });
    expect(r.headers['openstack-api-version']).toBe('container 1.40');
  });

  const bad: [string, string][] = [
    ['container 1.41', 'Version 1.41 was requested but the minor version is not supported by this service. The supported version range is: [container 1.1, container 1.40].'],
    ['container 1.0', 'Version 1.0 was requested but the minor version is not supported by this service. The supported version range is: [container 1.1, container 1.40].'],
    ['container 2.0', 'Mutually exclusive versions requested. Version 2.0 requested but not supported by this service. The supported version range is: [container 1.1, container 1.40].'],
    ['compute 1.2', 'Invalid service type for OpenStack-API-Version header'],
    ['container', 'Invalid service type for OpenStack-API-Version header'],
    ['container 1.2 extra', 'Invalid service type for OpenStack-API-Version header'],
    ['container abc', 'Invalid value for OpenStack-API-Version header'],
    ['container 1.2.3', 'Invalid value for OpenStack-API-Version header'],
    ['container 1', 'Invalid value for OpenStack-API-Version header'],
  ];
  it.each(bad)('%s → 406 with Zun\'s message', async (header, message) => {
    const h = harness();
    const r = await h.req('GET', '/v1/containers', { headers: { 'openstack-api-version': header } });
    expect(r.statusCode).toBe(406);
    const e = zunError(r);
    expect(Object.keys(e).sort()).toEqual(['code', 'detail', 'links', 'request_id', 'status', 'title']);
    expect(e).toMatchObject({ status: 406, title: message, detail: message, links: [], code: 'container.http-not-acceptable-api-version' });
    expect(e.request_id).toBe(r.headers['x-openstack-request-id']);
    expect(r.headers['openstack-api-minimum-version']).toBe('container 1.1');
    expect(r.headers['openstack-api-maximum-version']).toBe('container 1.40');
  });

  it('echoes the requested version on a range error, and applies to POSTs before anything is appended', async () => {
    const h = harness();
    const r = await h.req('POST', '/v1/containers', { headers: { 'openstack-api-version': 'container 1.99' }, body: { image: 'cirros' } });
    expect(r.statusCode).toBe(406);
    expect(r.headers['openstack-api-version']).toBe('container 1.99');
    expect(h.count()).toBe(0);
  });

  it('does not apply to GET /', async () => {
    const h = harness();
    const r = await h.req('GET', '/', { headers: { 'openstack-api-version': 'container 9.9' } });
    expect(r.statusCode).toBe(200);
  });
});

describe('paths', () => {
  it('normalises like RootController._route', () => {
    expect(normalizeUrl('/')).toBe('/');
    expect(normalizeUrl('/containers')).toBe('/v1/containers');
    expect(normalizeUrl('/containers/')).toBe('/v1/containers');
    expect(normalizeUrl('/v1/containers/?limit=1')).toBe('/v1/containers?limit=1');
    expect(normalizeUrl('/v1/')).toBe('/v1');
    expect(normalizeUrl('/capsules/')).toBe('/v1/capsules');
    expect(normalizeUrl('/identity/v3')).toBe('/identity/v3');
  });

  it('serves /containers, /containers/, /v1/containers and /v1/containers/ alike', async () => {
    const h = harness();
    await h.create({ name: 'p1', image: 'cirros' });
    for (const url of ['/containers', '/containers/', '/v1/containers', '/v1/containers/']) {
      const r = await h.req('GET', url);
      expect(r.statusCode, url).toBe(200);
      expect(r.json().containers.map((c: { name: string }) => c.name)).toEqual(['p1']);
      expect(r.headers['openstack-api-version']).toBe('container 1.1');
    }
    expect((await h.req('GET', '/containers/p1/')).statusCode).toBe(200);
  });

  it('answers unknown routes with a Zun 404 body and the headers', async () => {
    const h = harness();
    const r = await h.req('GET', '/v1/nothing-here');
    expect(r.statusCode).toBe(404);
    expect(zunError(r)).toMatchObject({ status: 404, code: 'container.http-not-found' });
    expect(r.headers['x-openstack-request-id']).toMatch(REQ_ID);
    expect(r.headers['openstack-api-version']).toBe('container 1.1');
  });

  it('answers a URL that does not decode with a Zun 400, not fastify\'s body', async () => {
    const h = harness();
    const r = await h.req('GET', '/v1/containers/%E0%A4%A');
    expect(r.statusCode).toBe(400);
    expect(zunError(r)).toMatchObject({ status: 400, code: 'container.http-bad-request' });
    expect(r.headers['x-openstack-request-id']).toMatch(REQ_ID);
  });

  it('recognises uuids like oslo', () => {
    expect(uuidLike('6F9619FF-8B86-D011-B42D-00C04FC964FF')).toBe('6f9619ff-8b86-d011-b42d-00c04fc964ff');
    expect(uuidLike('{6f9619ff8b86d011b42d00c04fc964ff}')).toBe('6f9619ff-8b86-d011-b42d-00c04fc964ff');
    expect(uuidLike('web')).toBeNull();
    expect(uuidLike('6f9619ff-8b86-d011-b42d-00c04fc964f')).toBeNull();
  });
});

describe('POST /v1/containers: refused requests append nothing', () => {
  // [description, version, body, expected status, expected code, title fragment]
  const cases: [string, string, unknown, number, string, string][] = [
    ['no image', '1.40', { name: 'abc' }, 400, 'schema-validation-error', "'image' is a required property"],
    ['image too short', '1.40', { image: 'a' }, 400, 'schema-validation-error', "'a' is too short"],
    ['image not a string', '1.40', { image: 5 }, 400, 'schema-validation-error', "5 is not of type 'string'"],
    ['name too short', '1.40', { image: 'cirros', name: 'a' }, 400, 'schema-validation-error', "Invalid input for field 'name'"],
    ['name with a bad first character', '1.40', { image: 'cirros', name: '-web' }, 400, 'schema-validation-error', 'does not match'],
    ['name with a space', '1.40', { image: 'cirros', name: 'we b' }, 400, 'schema-validation-error', 'does not match'],
    ['cpu below 0.1', '1.40', { image: 'cirros', cpu: 0.01 }, 400, 'schema-validation-error', 'less than the minimum of 0.1'],
    ['cpu string below 0.1', '1.40', { image: 'cirros', cpu: '0.01' }, 400, 'schema-validation-error', 'less than the minimum of 0.1'],
    ['cpu above 16', '1.40', { image: 'cirros', cpu: '17' }, 400, 'schema-validation-error', 'greater than the maximum of 16.0'],
    ['cpu not numeric', '1.40', { image: 'cirros', cpu: 'lots' }, 400, 'schema-validation-error', 'does not match'],
    ['cpu empty string', '1.40', { image: 'cirros', cpu: '' }, 400, 'schema-validation-error', 'is too short'],
    ['memory below 4', '1.40', { image: 'cirros', memory: 2 }, 400, 'schema-validation-error', 'less than the minimum of 4'],
    ['memory string above 8192', '1.40', { image: 'cirros', memory: '9000' }, 400, 'schema-validation-error', 'greater than the maximum of 8192'],
    // Zun's schema allows 4 and 5; Docker does not.
    ['memory 4, under Docker\'s floor', '1.40', { image: 'cirros', memory: 4 }, 400, 'schema-validation-error', "Invalid input for field 'memory'.Value: '4'. 4 is less than 6, the smallest memory limit (MiB) Docker accepts"],
    ['memory string 5, under Docker\'s floor', '1.40', { image: 'cirros', memory: '5' }, 400, 'schema-validation-error', "'5' is less than 6"],
    ['memory with a unit', '1.40', { image: 'cirros', memory: '512m' }, 400, 'schema-validation-error', 'does not match'],
    ['memory fractional', '1.40', { image: 'cirros', memory: 512.5 }, 400, 'schema-validation-error', "is not of type 'string', 'integer', 'null'"],
    ['disk 0', '1.40', { image: 'cirros', disk: 0 }, 400, 'schema-validation-error', 'less than the minimum of 1'],
    ['disk above 160', '1.40', { image: 'cirros', disk: '161' }, 400, 'schema-validation-error', 'greater than the maximum of 160'],
    ['command list before 1.20', '1.19', { image: 'cirros', command: ['sleep', '1'] }, 400, 'schema-validation-error', "is not of type 'string', 'null'"],
    ['command string from 1.20', '1.20', { image: 'cirros', command: 'sleep 1' }, 400, 'schema-validation-error', "is not of type 'array', 'null'"],
    ['command list of non-strings', '1.40', { image: 'cirros', command: ['sleep', 1] }, 400, 'schema-validation-error', "is not of type 'string'"],
    ['command with an unclosed quote', '1.1', { image: 'cirros', command: 'sh -c "echo' }, 400, 'invalid-value', 'No closing quotation'],
    ['restart always with a count', '1.40', { image: 'cirros', restart_policy: { Name: 'always', MaximumRetryCount: '2' } }, 400, 'invalid-value', 'maximum retry count not valid with restart policy of always'],
    ['restart unless-stopped with a count', '1.40', { image: 'cirros', restart_policy: { Name: 'unless-stopped', MaximumRetryCount: 1 } }, 400, 'invalid-value', 'unless-stopped'],
    ['restart with an unknown name', '1.40', { image: 'cirros', restart_policy: { Name: 'sometimes' } }, 400, 'schema-validation-error', 'is not one of'],
    ['restart without a name', '1.40', { image: 'cirros', restart_policy: { MaximumRetryCount: 1 } }, 400, 'schema-validation-error', "'Name' is a required property"],
    ['restart with a negative count', '1.40', { image: 'cirros', restart_policy: { Name: 'on-failure', MaximumRetryCount: -1 } }, 400, 'schema-validation-error', 'less than the minimum of 0'],
    ['restart with an extra key', '1.40', { image: 'cirros', restart_policy: { Name: 'no', Delay: 1 } }, 400, 'schema-validation-error', "'Delay' was unexpected"],
    ['environment value not a string', '1.40', { image: 'cirros', environment: { A: 1 } }, 400, 'schema-validation-error', "is not of type 'string'"],
    ['environment not an object', '1.40', { image: 'cirros', environment: ['A=1'] }, 400, 'schema-validation-error', "is not of type 'object', 'null'"],
    ['labels value not a string', '1.40', { image: 'cirros', labels: { a: true } }, 400, 'schema-validation-error', "is not of type 'string'"],
    ['hints value not a string', '1.40', { image: 'cirros', hints: { 'label:zone': 1 } }, 400, 'schema-validation-error', "is not of type 'string'"],
    ['an unknown key', '1.40', { image: 'cirros', flavour: 'x' }, 400, 'schema-validation-error', "Additional properties are not allowed ('flavour' was unexpected)"],
    ['two unknown keys', '1.40', { image: 'cirros', a: 1, b: 2 }, 400, 'schema-validation-error', "('a', 'b' were unexpected)"],
    ['auto_remove at 1.2', '1.2', { image: 'cirros', auto_remove: true }, 400, 'invalid-param-in-version', 'Invalid param auto_remove because current request version is 1.2. auto_remove is only supported from version 1.3'],
    ['auto_remove as a string', '1.40', { image: 'cirros', auto_remove: 'true' }, 400, 'schema-validation-error', "is not of type 'boolean', 'null'"],
    ['runtime at 1.4', '1.4', { image: 'cirros', runtime: 'runc' }, 400, 'invalid-param-in-version', 'runtime is only supported from version 1.5'],
    ['hostname at 1.8', '1.8', { image: 'cirros', hostname: 'h1' }, 400, 'invalid-param-in-version', 'hostname is only supported from version 1.9'],
    ['hostname with a bad character', '1.40', { image: 'cirros', hostname: 'h 1' }, 400, 'schema-validation-error', 'does not match'],
    ['mounts at 1.10', '1.10', { image: 'cirros', mounts: [{ source: 'v', destination: '/d' }] }, 400, 'invalid-param-in-version', 'mounts is only supported from version 1.11'],
    ['a mount without destination', '1.40', { image: 'cirros', mounts: [{ source: 'v' }] }, 400, 'schema-validation-error', 'is not valid under any of the given schemas'],
    ['a mount of another type', '1.40', { image: 'cirros', mounts: [{ type: 'tmpfs', source: 'v', destination: '/d' }] }, 400, 'invalid-value', 'tmpfs'],
    ['healthcheck at 1.21', '1.21', { image: 'cirros', healthcheck: { cmd: 'true' } }, 400, 'invalid-param-in-version', 'healthcheck is only supported from version 1.22'],
    ['healthcheck with an unknown key', '1.40', { image: 'cirros', healthcheck: { cmd: 'true', every: 3 } }, 400, 'schema-validation-error', "'every' was unexpected"],
    ['exposed_ports at 1.23', '1.23', { image: 'cirros', exposed_ports: { '80/tcp': {} } }, 400, 'invalid-param-in-version', 'exposed_ports is only supported from version 1.24'],
    ['exposed_ports with a bad protocol', '1.40', { image: 'cirros', exposed_ports: { '80/sctp': {} } }, 400, 'invalid-value', 'value sctp is an invalid protocol'],
    ['exposed_ports with a bad port', '1.40', { image: 'cirros', exposed_ports: { http: {} } }, 400, 'invalid-value', 'value http is invalid as publish port.'],
    ['security_groups with exposed_ports', '1.40', { image: 'cirros', security_groups: ['default'], exposed_ports: { '80': {} } }, 400, 'schema-validation-error', 'is not allowed for'],
    ['privileged at 1.20', '1.20', { image: 'cirros', privileged: true }, 400, 'invalid-param-in-version', 'privileged is only supported from version 1.21'],
    ['registry at 1.30', '1.30', { image: 'cirros', registry: 'myreg' }, 400, 'invalid-param-in-version', 'registry is only supported from version 1.31'],
    ['host at 1.38', '1.38', { image: 'cirros', host: 'h1' }, 400, 'schema-validation-error', "'host' was unexpected"],
    ['entrypoint at 1.39', '1.39', { image: 'cirros', entrypoint: ['sh'] }, 400, 'schema-validation-error', "'entrypoint' was unexpected"],
    ['interactive maybe', '1.40', { image: 'cirros', interactive: 'maybe' }, 400, 'schema-validation-error', 'is not one of'],
    ['a net with both network and port', '1.40', { image: 'cirros', nets: [{ network: 'n', port: 'p' }] }, 400, 'schema-validation-error', 'is valid under each of'],
    ['a net with neither', '1.40', { image: 'cirros', nets: [{}] }, 400, 'schema-validation-error', 'is not valid under any'],
    ['a net with a bad fixed ip', '1.40', { image: 'cirros', nets: [{ network: 'n', 'v4-fixed-ip': '10.0.0.300' }] }, 400, 'schema-validation-error', "is not a 'ipv4'"],
    ['an unknown image driver', '1.40', { image: 'cirros', image_driver: 'rkt' }, 400, 'schema-validation-error', 'is not one of'],
    ['an unknown pull policy', '1.40', { image: 'cirros', image_pull_policy: 'sometimes' }, 400, 'schema-validation-error', 'is not one of'],
    ['an unknown cpu policy', '1.40', { image: 'cirros', cpu_policy: 'greedy' }, 400, 'schema-validation-error', 'is not one of'],
    ['a body that is a list', '1.40', [{ image: 'cirros' }], 400, 'schema-validation-error', "is not of type 'object'"],
    ['a body that is not JSON', '1.40', '{"image": "cirros"', 400, 'validation-error', 'Invalid JSON'],
    ['privileged true', '1.40', { image: 'cirros', privileged: true }, 403, 'policy-not-authorized', "Policy doesn't allow container:create:privileged to be performed."],
    ['privileged false (the rule is `!`)', '1.40', { image: 'cirros', privileged: false }, 403, 'policy-not-authorized', 'container:create:privileged'],
  ];
  it.each(cases)('%s (at %s)', async (_what, version, body, status, code, title) => {
    const h = harness();
    const before = h.count();
    const r = await h.req('POST', '/v1/containers', { version, body });
    expect(r.statusCode, r.body).toBe(status);
    const e = zunError(r);
    expect(e.code).toBe(`container.${code}`);
    expect(e.title).toContain(title);
    expect(e.detail).toBe(e.title);
    expect(e.status).toBe(status);
    expect(h.count()).toBe(before);
  });

  it.each([
    ['runtime', { runtime: 'runc' }, 'container:create:runtime'],
    ['host', { host: 'h1' }, 'container:create:requested_destination'],
    ['image_pull_policy', { image_pull_policy: 'always' }, 'container:create:image_pull_policy'],
  ])('%s is admin-only → 403 for a member', async (_f, extra, rule) => {
    const h = harness();
    const r = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', ...extra }, headers: { 'x-roles': 'member' } });
    expect(r.statusCode).toBe(403);
    expect(zunError(r).title).toBe(`Policy doesn't allow ${rule} to be performed.`);
    expect(h.count()).toBe(0);
  });

  it('requires a JSON content type (415), whatever the body', async () => {
    const h = harness();
    const plain = await h.req('POST', '/v1/containers', { body: '{"image":"cirros"}', headers: { 'content-type': 'text/plain' } });
    expect(plain.statusCode).toBe(415);
    expect(zunError(plain)).toMatchObject({
      code: 'container.http-unsupported-media-type',
      title: "Unexpected content type: text/plain. Expected content types are: ['application/json']",
    });
    const none = await h.app.inject({ method: 'POST', url: '/v1/containers', payload: '{"image":"cirros"}' });
    expect(none.statusCode).toBe(415);
    const form = await h.req('POST', '/v1/containers', { body: 'image=cirros', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.statusCode).toBe(415);
    expect(h.count()).toBe(0);
  });

  it('validates the query string: run must be a boolean, nothing else is allowed', async () => {
    const h = harness();
    const maybe = await h.req('POST', '/v1/containers?run=maybe', { body: { image: 'cirros' } });
    expect(maybe.statusCode).toBe(400);
    expect(zunError(maybe).title).toContain("Invalid input for query parameters 'run'");
    const other = await h.req('POST', '/v1/containers?debug=1', { body: { image: 'cirros' } });
    expect(other.statusCode).toBe(400);
    expect(zunError(other).title).toBe("Additional properties are not allowed ('debug' was unexpected)");
    expect(h.count()).toBe(0);
  });

  it('an empty JSON body is a missing image, not a parse error', async () => {
    const h = harness();
    const r = await h.app.inject({ method: 'POST', url: '/v1/containers', headers: { 'content-type': 'application/json', 'content-length': '0' } });
    expect(r.statusCode).toBe(400);
    expect(zunError(r).title).toBe("'image' is a required property");
  });

  it('a body over the size limit is a 413 in Zun format', async () => {
    const h = harness({ bodyLimit: 100 });
    const r = await h.req('POST', '/v1/containers', { body: { image: 'cirros', labels: { big: 'x'.repeat(200) } } });
    expect(r.statusCode).toBe(413);
    expect(zunError(r).status).toBe(413);
    expect(h.count()).toBe(0);
  });
});

describe('POST /v1/containers: accepted', () => {
  it('takes the CLI body (cpu and memory as strings) and answers 202, Location and the view', async () => {
    const h = harness();
    const body = {
      name: 'c1', image: 'cirros', memory: '256', cpu: '0.5', environment: { A: '1' }, auto_remove: false,
      labels: { l: 'v' }, hints: {}, nets: [], mounts: [], command: ['sleep', '3600'],
    };
    const r = await h.req('POST', '/v1/containers', { version: '1.40', body });
    expect(r.statusCode).toBe(202);
    const v = r.json();
    expect(v.uuid).toMatch(UUID);
    expect(r.headers['location']).toBe(`${BASE}/v1/containers/${v.uuid}`);
    expect(Object.keys(v).sort()).toEqual(
      [
        'uuid', 'links', 'name', 'image', 'command', 'status', 'status_reason', 'status_detail', 'task_state', 'cpu', 'memory',
        'environment', 'workdir', 'ports', 'hostname', 'labels', 'addresses', 'image_pull_policy', 'host', 'restart_policy',
        'interactive', 'tty', 'image_driver', 'security_groups', 'auto_remove', 'runtime', 'disk', 'auto_heal', 'privileged',
        'healthcheck', 'cpu_policy', 'registry_id', 'entrypoint', 'user_id', 'project_id', 'created_at', 'updated_at',
      ].sort(),
    );
    expect(v).toMatchObject({
      links: [
        { href: `${BASE}/v1/containers/${v.uuid}`, rel: 'self' },
        { href: `${BASE}/containers/${v.uuid}`, rel: 'bookmark' },
      ],
      name: 'c1',
      image: 'cirros',
      command: ['sleep', '3600'],
      status: 'Creating',
      status_reason: null,
      task_state: 'container_creating',
      cpu: 0.5,
      memory: '256',
      environment: { A: '1' },
      labels: { l: 'v' },
      addresses: {},
      restart_policy: { Name: 'no', MaximumRetryCount: '0' },
      image_driver: 'docker',
      image_pull_policy: 'always',
      host: null,
      auto_remove: false,
      auto_heal: false,
      privileged: false,
      interactive: false,
      tty: false,
      disk: 0,
      cpu_policy: 'shared',
      healthcheck: null,
      entrypoint: null,
      registry_id: null,
      security_groups: [],
      project_id: 'default',
      user_id: 'admin',
      // One clock reading later than before networks: the project's default network was made first.
      created_at: '2024-05-18 21:02:15.304000',
    });
    // The quota reservation (quotas.ts), the project's default network (made on first need),
    // then one container event, all carrying the request id the client saw.
    const all = await h.events();
    expect(all.map((e) => [e.aggregateKind, e.type])).toEqual([
      ['quota', 'QuotaUsageReserved'],
      ['network', 'NetworkCreated'],
      ['container', 'ContainerCreateRequested'],
    ]);
    expect(all[0]!.requestId).toBe(r.headers['x-openstack-request-id']);
    const events = all.filter((e) => e.aggregateKind === 'container');
    expect(events[0]!.requestId).toBe(r.headers['x-openstack-request-id']);
    expect(events[0]!.aggregateId).toBe(v.uuid);
    const data = events[0]!.data as { spec: { cpu: number; memory: number; command: string[] }; run: boolean };
    expect(data).toMatchObject({ run: false, spec: { cpu: 0.5, memory: 256, command: ['sleep', '3600'] } });
  });

  it('is visible by uuid at once, through the store', async () => {
    const h = harness();
    const uuid = await h.create({ image: 'cirros' });
    const r = await h.req('GET', `/v1/containers/${uuid}`);
    expect(r.statusCode).toBe(200);
    expect(r.json().status).toBe('Creating');
  });

  it('generates `<random>-container` names and allows duplicate names', async () => {
    const h = harness();
    const a = await h.create({ image: 'cirros' });
    const view = (await h.req('GET', `/v1/containers/${a}`)).json();
    expect(view.name).toMatch(/^[a-z]+-\d+-container$/);
    await h.create({ name: 'twin', image: 'cirros' });
    await h.create({ name: 'twin', image: 'cirros' });
    expect((await h.events()).filter((e) => e.aggregateKind === 'container')).toHaveLength(3);
  });

  it('?run=true asks for a running container', async () => {
    const h = harness();
    await h.create({ image: 'cirros' }, { run: true });
    const [e] = (await h.events()).filter((x) => x.aggregateKind === 'container');
    expect((e!.data as { run: boolean }).run).toBe(true);
  });

  it('shlex-splits a string command before 1.20', async () => {
    const h = harness();
    const uuid = await h.create({ image: 'nginx', command: '"nginx" "-g" "daemon off;"' }, { version: '1.19' });
    expect((await h.req('GET', `/v1/containers/${uuid}`)).json().command).toEqual(['nginx', '-g', 'daemon off;']);
  });

  it('forces tty to interactive in 1.20-1.35 and keeps them apart from 1.36', async () => {
    const h = harness();
    const a = await h.create({ image: 'cirros', interactive: true, tty: false }, { version: '1.35' });
    const b = await h.create({ image: 'cirros', interactive: 'true', tty: false }, { version: '1.36' });
    const c = await h.create({ image: 'cirros', tty: 'True' }, { version: '1.19' });
    const get = async (u: string) => (await h.req('GET', `/v1/containers/${u}`)).json();
    expect(await get(a)).toMatchObject({ interactive: true, tty: true });
    expect(await get(b)).toMatchObject({ interactive: true, tty: false });
    expect(await get(c)).toMatchObject({ interactive: false, tty: true });
  });

  it('normalises the rich CLI body (minus privileged) at 1.40 for an admin', async () => {
    const h = harness();
    // The network must exist (as in Zun); its subnet is the pool's first /24, so the fixed IP is taken from it.
    expect((await h.req('POST', '/v1/networks', { version: '1.40', body: { name: 'private' } })).statusCode).toBe(200);
    const body = {
      name: 'rich', image: 'cirros', memory: '128', cpu: '1', environment: {}, auto_remove: false, workdir: '/tmp', labels: {},
      image_pull_policy: 'always', image_driver: 'docker', hints: { 'label:zone': 'a' },
      nets: [{ network: 'private', 'v4-fixed-ip': '10.200.0.5' }],
      mounts: [
        { source: 'myvol', destination: '/data' },
        { size: '1', destination: '/scratch' },
        { type: 'bind', destination: '/etc/inj.txt', source: 'aGVsbG8K' },
      ],
      runtime: 'runc', hostname: 'h1', disk: 5, availability_zone: 'nova', command: ['echo hi'], host: 'fakehost',
      entrypoint: ['/bin/sh', '-c'], healthcheck: { cmd: 'stat /', interval: 3, retries: 2, timeout: 5 }, auto_heal: true,
      exposed_ports: { '80/tcp': {} }, restart_policy: { Name: 'on-failure', MaximumRetryCount: '3' }, interactive: true, tty: true,
    };
    const r = await h.req('POST', '/v1/containers', { version: '1.40', body });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toMatchObject({
      memory: '128', cpu: 1, workdir: '/tmp', runtime: 'runc', hostname: 'h1', disk: 5, command: ['echo hi'],
      entrypoint: ['/bin/sh', '-c'], healthcheck: { test: 'stat /', interval: 3, retries: 2, timeout: 5 }, auto_heal: true,
      ports: [80], restart_policy: { Name: 'on-failure', MaximumRetryCount: '3' }, interactive: true, tty: true,
    });
    const [e] = (await h.events()).filter((x) => x.aggregateKind === 'container');
    expect((e!.data as { spec: unknown }).spec).toMatchObject({
      hints: { 'label:zone': 'a' },
      availabilityZone: 'nova',
      requestedHost: 'fakehost',
      exposedPorts: ['80/tcp'],
      nets: [{ network: 'private', v4FixedIp: '10.200.0.5', resolved: { name: 'private', cidr: '10.200.0.0/24' } }],
      mounts: [
        { type: 'volume', source: 'myvol', destination: '/data' },
        { type: 'volume', size: 1, destination: '/scratch' },
        { type: 'bind', source: 'aGVsbG8K', destination: '/etc/inj.txt' },
      ],
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
    });
  });

  it('takes the project and user from X-Project-Id / X-User-Id, and hides admin fields from non-admins', async () => {
    const h = harness();
    const headers = { 'x-project-id': 'p-blue', 'x-user-id': 'u-ann', 'x-roles': 'member' };
    const r = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros' }, headers });
    expect(r.statusCode).toBe(202);
    const v = r.json();
    expect(v).toMatchObject({ project_id: 'p-blue', user_id: 'u-ann' });
    for (const f of ['host', 'image_pull_policy', 'privileged', 'runtime']) expect(v).not.toHaveProperty(f);
    const [e] = await h.events();
    expect(e).toMatchObject({ projectId: 'p-blue', userId: 'u-ann' });
  });
});

describe('GET /v1/containers', () => {
  async function seeded() {
    const h = harness();
    const ids: Record<string, string> = {};
    ids['web'] = await h.create({ name: 'web', image: 'nginx', memory: '256' });
    ids['db'] = await h.create({ name: 'db', image: 'postgres', auto_remove: true });
    ids['cache'] = await h.create({ name: 'cache', image: 'redis' });
    ids['other'] = await h.create({ name: 'other', image: 'nginx' }, { headers: { 'x-project-id': 'p-other', 'x-roles': 'member' } });
    await h.schedule(ids['cache']!);
    await h.observe(ids['cache']!, { type: 'ContainerCreated', data: { dockerId: 'd1' } });
    return { h, ids };
  }
  const names = (r: { json(): unknown }) => (r.json() as { containers: { name: string }[] }).containers.map((c) => c.name);

  it('lists the caller\'s project in creation order, with next null when the page is not full', async () => {
    const { h } = await seeded();
    const r = await h.req('GET', '/v1/containers');
    expect(r.statusCode).toBe(200);
    expect(names(r)).toEqual(['web', 'db', 'cache']);
    expect(r.json().next).toBeNull();
  });

  it('filters by name, image, status, memory, host, task_state and auto_remove', async () => {
    const { h } = await seeded();
    expect(names(await h.req('GET', '/v1/containers?name=db'))).toEqual(['db']);
    expect(names(await h.req('GET', '/v1/containers?image=nginx'))).toEqual(['web']);
    expect(names(await h.req('GET', '/v1/containers?status=Created'))).toEqual(['cache']);
    expect(names(await h.req('GET', '/v1/containers?status=Creating'))).toEqual(['web', 'db']);
    expect(names(await h.req('GET', '/v1/containers?memory=256'))).toEqual(['web']);
    expect(names(await h.req('GET', '/v1/containers?host=host-1'))).toEqual(['cache']);
    expect(names(await h.req('GET', '/v1/containers?task_state=container_creating'))).toEqual(['web', 'db']);
    expect(names(await h.req('GET', '/v1/containers?auto_remove=True'))).toEqual(['db']);
    expect(names(await h.req('GET', '/v1/containers?project_id=default&user_id=admin'))).toEqual(['web', 'db', 'cache']);
  });

  it('refuses unknown parameters, bad limits, sort directions and sort keys', async () => {
    const { h } = await seeded();
    const unknown = await h.req('GET', '/v1/containers?foo=1&bar=2');
    expect(unknown.statusCode).toBe(400);
    expect(zunError(unknown)).toMatchObject({ code: 'container.invalid-value', title: 'Unknown parameters: foo, bar' });
    for (const l of ['0', '-1', 'abc', '1.5']) {
      const r = await h.req('GET', `/v1/containers?limit=${l}`);
      expect(r.statusCode, l).toBe(400);
      expect(zunError(r).title).toBe('Limit must be positive integer');
    }
    const dir = await h.req('GET', '/v1/containers?sort_dir=up');
    expect(zunError(dir).title).toBe("Invalid sort direction: up. Acceptable values are 'asc' or 'desc'");
    const key = await h.req('GET', '/v1/containers?sort_key=colour');
    expect(key.statusCode).toBe(400);
    expect(zunError(key).title).toBe('The sort_key value "colour" is an invalid field for sorting');
  });

  it('pages with limit and marker, and sets next only on a full page', async () => {
    const { h, ids } = await seeded();
    const first = await h.req('GET', '/v1/containers?limit=2');
    expect(names(first)).toEqual(['web', 'db']);
    const next = first.json().next as string;
    expect(next).toBe(`${BASE}/v1/containers?sort_key=id&sort_dir=asc&limit=2&marker=${ids['db']}`);
    const second = await h.req('GET', next.slice(BASE.length));
    expect(names(second)).toEqual(['cache']);
    expect(second.json().next).toBeNull();
    const exact = await h.req('GET', '/v1/containers?limit=3');
    expect(exact.json().next).toContain(`marker=${ids['cache']}`);
    const after = await h.req('GET', `/v1/containers?limit=3&marker=${ids['cache']}`);
    expect(names(after)).toEqual([]);
    expect(after.json().next).toBeNull();
    // The limit is capped at 1000.
    expect((await h.req('GET', '/v1/containers?limit=5000')).statusCode).toBe(200);
  });

  it('sorts by a key in either direction, and keeps filters in next', async () => {
    const { h } = await seeded();
    expect(names(await h.req('GET', '/v1/containers?sort_key=name'))).toEqual(['cache', 'db', 'web']);
    expect(names(await h.req('GET', '/v1/containers?sort_key=name&sort_dir=desc'))).toEqual(['web', 'db', 'cache']);
    const page = await h.req('GET', '/v1/containers?sort_key=name&sort_dir=desc&limit=1&image=nginx');
    expect(names(page)).toEqual(['web']);
    expect(page.json().next).toContain('sort_key=name&sort_dir=desc&image=nginx&limit=1&marker=');
  });

  it('answers 404 for an unknown marker', async () => {
    const { h } = await seeded();
    const r = await h.req('GET', '/v1/containers?marker=00000000-0000-0000-0000-000000000000');
    expect(r.statusCode).toBe(404);
    expect(zunError(r)).toMatchObject({ code: 'container.container-not-found', title: 'Container 00000000-0000-0000-0000-000000000000 could not be found.' });
  });

  it('scopes to the project; all_projects is for admins', async () => {
    const { h } = await seeded();
    const member = { 'x-project-id': 'p-other', 'x-roles': 'member' };
    expect(names(await h.req('GET', '/v1/containers', { headers: member }))).toEqual(['other']);
    const denied = await h.req('GET', '/v1/containers?all_projects=true', { headers: member });
    expect(denied.statusCode).toBe(403);
    expect(zunError(denied).title).toBe("Policy doesn't allow container:get_all_all_projects to be performed.");
    expect(names(await h.req('GET', '/v1/containers?all_projects=True'))).toEqual(['web', 'db', 'cache', 'other']);
    expect(names(await h.req('GET', '/v1/containers?all_projects=False'))).toEqual(['web', 'db', 'cache']);
    const bad = await h.req('GET', '/v1/containers?all_projects=perhaps');
    expect(bad.statusCode).toBe(400);
    expect(zunError(bad).title).toBe('Valid all_projects values are: 1, t, true, on, y, yes, 0, f, false, off, n, no');
  });

  it('leaves deleted containers out', async () => {
    const { h, ids } = await seeded();
    const del = await h.req('DELETE', `/v1/containers/${ids['web']}?force=True`, { version: '1.40' });
    expect(del.statusCode).toBe(204);
    expect(names(await h.req('GET', '/v1/containers'))).toEqual(['db', 'cache']);
  });
});

describe('GET /v1/containers/{ident}', () => {
  it('finds by uuid (any case) and by name, and accepts the CLI\'s all_projects=False', async () => {
    const h = harness();
    const uuid = await h.create({ name: 'web', image: 'cirros' });
    const byUuid = await h.req('GET', `/v1/containers/${uuid.toUpperCase()}`);
    expect(byUuid.statusCode).toBe(200);
    expect(byUuid.json().uuid).toBe(uuid);
    const byName = await h.req('GET', '/v1/containers/web?all_projects=False');
    expect(byName.statusCode).toBe(200);
    expect(byName.json().uuid).toBe(uuid);
  });

  it('answers 409 for an ambiguous name and 404 for an unknown one', async () => {
    const h = harness();
    await h.create({ name: 'twin', image: 'cirros' });
    await h.create({ name: 'twin', image: 'cirros' });
    const amb = await h.req('GET', '/v1/containers/twin');
    expect(amb.statusCode).toBe(409);
    expect(zunError(amb)).toMatchObject({
      code: 'container.conflict',
      title: 'Multiple containers exist with same name. Please use the container uuid instead.',
    });
    const none = await h.req('GET', '/v1/containers/nope');
    expect(none.statusCode).toBe(404);
    expect(zunError(none)).toMatchObject({ code: 'container.container-not-found', title: 'Container nope could not be found.' });
    const noUuid = await h.req('GET', '/v1/containers/6f9619ff-8b86-d011-b42d-00c04fc964ff');
    expect(zunError(noUuid).title).toBe('Container 6f9619ff-8b86-d011-b42d-00c04fc964ff could not be found.');
  });

  it('hides other projects\' containers from members, by uuid and by name', async () => {
    const h = harness();
    const uuid = await h.create({ name: 'mine', image: 'cirros' }, { headers: { 'x-project-id': 'p1', 'x-roles': 'member' } });
    const stranger = { 'x-project-id': 'p2', 'x-roles': 'member' };
    expect((await h.req('GET', `/v1/containers/${uuid}`, { headers: stranger })).statusCode).toBe(404);
    expect((await h.req('GET', '/v1/containers/mine', { headers: stranger })).statusCode).toBe(404);
    expect((await h.req('GET', `/v1/containers/${uuid}?all_projects=1`, { headers: stranger })).statusCode).toBe(403);
    // The owner and an admin see it.
    expect((await h.req('GET', '/v1/containers/mine', { headers: { 'x-project-id': 'p1', 'x-roles': 'member' } })).statusCode).toBe(200);
    expect((await h.req('GET', `/v1/containers/${uuid}`)).statusCode).toBe(200);
  });

  it('shows the status the host observed', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running');
    const v = (await h.req('GET', `/v1/containers/${uuid}`, { version: '1.40' })).json();
    expect(v).toMatchObject({ status: 'Running', task_state: null, host: 'host-1' });
  });
});

describe('actions', () => {
  const action = (h: ReturnType<typeof harness>, ident: string, name: string, query = '') =>
    h.app.inject({
      method: 'POST',
      url: `/v1/containers/${ident}/${name}${query}`,
      headers: { 'content-type': 'application/json', 'content-length': '0', 'openstack-api-version': 'container 1.40' },
    });

  it('start from Created: 202, body null, the request id in the event', async () => {
    const h = harness();
    const uuid = await h.containerIn('Created');
    const before = h.count();
    const r = await action(h, uuid, 'start');
    expect(r.statusCode).toBe(202);
    expect(r.body).toBe('null');
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const events = (await h.events()).slice(before);
    expect(events.map((e) => e.type)).toEqual(['ContainerStartRequested']);
    expect(events[0]!.requestId).toBe(r.headers['x-openstack-request-id']);
  });

  it('is refused with Zun\'s InvalidStateException in the wrong state, appending nothing', async () => {
    const h = harness();
    const created = await h.containerIn('Created');
    const stopped = await h.containerIn('Stopped');
    const paused = await h.containerIn('Paused');
    const cases: [string, string, string][] = [
      [created, 'stop', 'Created'],
      [created, 'pause', 'Created'],
      [created, 'unpause', 'Created'],
      [created, 'kill', 'Created'],
      [stopped, 'stop', 'Stopped'],
      [stopped, 'pause', 'Stopped'],
      [stopped, 'kill', 'Stopped'],
      [paused, 'start', 'Paused'],
      [paused, 'pause', 'Paused'],
      [paused, 'stop', 'Paused'],
      [paused, 'reboot', 'Paused'],
    ];
    for (const [uuid, name, status] of cases) {
      const before = h.count();
      const r = await action(h, uuid, name);
      expect(r.statusCode, `${name} in ${status}`).toBe(409);
      expect(zunError(r)).toMatchObject({
        code: 'container.invalid-state-exception',
        title: `Cannot ${name} container ${uuid} in ${status} state`,
      });
      expect(h.count()).toBe(before);
    }
  });

  it('a container still Creating cannot be started or stopped', async () => {
    const h = harness();
    const uuid = await h.create({ image: 'cirros' });
    expect(zunError(await action(h, uuid, 'start')).title).toBe(`Cannot start container ${uuid} in Creating state`);
  });

  it('stop and reboot take timeout from the query string (as the CLI sends it) or the body', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running');
    const before = h.count();
    expect((await action(h, uuid, 'stop', '?timeout=10')).statusCode).toBe(202);
    await h.observe(uuid, { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } });
    const reboot = await h.req('POST', `/v1/containers/${uuid}/reboot`, { body: { timeout: 3 } });
    expect(reboot.statusCode).toBe(202);
    const events = (await h.events()).slice(before);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['ContainerStopRequested', { timeout: 10 }],
      ['ContainerExited', { exitCode: 0, oomKilled: false }],
      ['ContainerRebootRequested', { timeout: 3 }],
    ]);
    expect(await h.status(uuid)).toBe('Restarting');
  });

  it('refuses a bad timeout or an unknown query parameter with 400 before looking anything up', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running');
    const before = h.count();
    for (const q of ['?timeout=abc', '?timeout=-1', '?wait=1']) {
      const r = await action(h, uuid, 'stop', q);
      expect(r.statusCode, q).toBe(400);
      expect(zunError(r).code).toBe('container.schema-validation-error');
    }
    expect((await action(h, 'nope', 'stop', '?timeout=x')).statusCode).toBe(400);
    expect(h.count()).toBe(before);
  });

  it('kill: signal from the query string, in any of Zun\'s spellings, made canonical', async () => {
    const h = harness();
    const signals: [string, string | null][] = [['?signal=SIGTERM', 'SIGTERM'], ['?signal=None', null], ['?signal=9', 'SIGKILL'], ['?signal=hup', 'SIGHUP'], ['', null]];
    for (const [q, want] of signals) {
      const uuid = await h.containerIn('Running');
      const before = h.count();
      const r = await action(h, uuid, 'kill', q);
      expect(r.statusCode, q).toBe(202);
      const [e] = (await h.events()).slice(before);
      expect(e).toMatchObject({ type: 'ContainerKillRequested', data: { signal: want } });
    }
    const uuid = await h.containerIn('Running');
    const before = h.count();
    const bad = await action(h, uuid, 'kill', '?signal=SIGBOGUS');
    expect(bad.statusCode).toBe(400);
    expect(zunError(bad).title).toContain("Invalid input for field 'signal'");
    expect((await action(h, uuid, 'kill', '?signal=9&force=1')).statusCode).toBe(400);
    expect(h.count()).toBe(before);
  });

  it('ignores a body that is not JSON, as pecan does', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running');
    const r = await h.req('POST', `/v1/containers/${uuid}/kill?signal=KILL`, { body: 'signal=9&x=1', headers: { 'content-type': 'text/plain' } });
    expect(r.statusCode, r.body).toBe(202);
    const events = await h.events();
    expect(events[events.length - 1]).toMatchObject({ type: 'ContainerKillRequested', data: { signal: 'SIGKILL' } });
  });

  it('pause, then unpause, by name', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running', { name: 'pp', image: 'cirros' });
    expect((await action(h, 'pp', 'pause')).statusCode).toBe(202);
    await h.observe(uuid, { type: 'ContainerPaused', data: {} });
    expect((await action(h, 'pp', 'unpause')).statusCode).toBe(202);
    await h.observe(uuid, { type: 'ContainerUnpaused', data: {} });
    expect(await h.status(uuid)).toBe('Running');
  });

  it('reboot from Created sets Restarting at once', async () => {
    const h = harness();
    const uuid = await h.containerIn('Created');
    expect((await action(h, uuid, 'reboot', '?timeout=10')).statusCode).toBe(202);
    const v = (await h.req('GET', `/v1/containers/${uuid}`)).json();
    expect(v).toMatchObject({ status: 'Restarting', task_state: 'container_rebooting' });
  });

  it('404 for an unknown container, 409 for an ambiguous name', async () => {
    const h = harness();
    const r = await action(h, 'ghost', 'start');
    expect(r.statusCode).toBe(404);
    expect(zunError(r).title).toBe('Container ghost could not be found.');
    await h.create({ name: 'twin', image: 'cirros' });
    await h.create({ name: 'twin', image: 'cirros' });
    expect((await action(h, 'twin', 'start')).statusCode).toBe(409);
  });

  it('other projects cannot act on a container', async () => {
    const h = harness();
    const uuid = await h.containerIn('Created');
    const before = h.count();
    const r = await h.req('POST', `/v1/containers/${uuid}/start`, { headers: { 'x-project-id': 'p-x', 'x-roles': 'member' } });
    expect(r.statusCode).toBe(404);
    expect(h.count()).toBe(before);
  });
});

describe('DELETE /v1/containers/{ident}', () => {
  it('deletes a Created container: 204, Deleting until the host removes it', async () => {
    const h = harness();
    const uuid = await h.containerIn('Created');
    const r = await h.req('DELETE', `/v1/containers/${uuid}?force=False&stop=False&all_projects=False`, { version: '1.40' });
    expect(r.statusCode).toBe(204);
    expect(r.body).toBe('');
    expect(await h.status(uuid)).toBe('Deleting');
    await h.observe(uuid, { type: 'ContainerDeleted', data: {} });
    expect((await h.req('GET', `/v1/containers/${uuid}`)).statusCode).toBe(404);
  });

  it('drops a container that never got a host at once (force), and refuses a plain delete while Creating', async () => {
    const h = harness();
    const uuid = await h.create({ image: 'cirros' });
    const plain = await h.req('DELETE', `/v1/containers/${uuid}`, { version: '1.40' });
    expect(plain.statusCode).toBe(409);
    expect(zunError(plain).title).toBe(`Cannot delete container ${uuid} in Creating state`);
    const before = h.count();
    const forced = await h.req('DELETE', `/v1/containers/${uuid}?force=true`, { version: '1.40' });
    expect(forced.statusCode).toBe(204);
    const events = (await h.events()).slice(before);
    expect(events.map((e) => e.type)).toEqual(['ContainerDeleteRequested', 'ContainerDeleted']);
    expect(events.every((e) => e.requestId === forced.headers['x-openstack-request-id'])).toBe(true);
    expect((await h.req('GET', `/v1/containers/${uuid}`)).statusCode).toBe(404);
  });

  it('refuses a Running container without stop, and deletes it with stop=true from 1.12', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running');
    const before = h.count();
    expect((await h.req('DELETE', `/v1/containers/${uuid}`, { version: '1.40' })).statusCode).toBe(409);
    const old = await h.req('DELETE', `/v1/containers/${uuid}?stop=true`, { version: '1.11' });
    expect(old.statusCode).toBe(400);
    expect(zunError(old).title).toBe('Invalid param stop because current request version is 1.11. stop is only supported from version 1.12');
    expect(h.count()).toBe(before);
    expect((await h.req('DELETE', `/v1/containers/${uuid}?stop=True`, { version: '1.12' })).statusCode).toBe(204);
    const [e] = (await h.events()).slice(before);
    expect(e).toMatchObject({ type: 'ContainerDeleteRequested', data: { stop: true, force: false } });
  });

  it('force needs 1.7 and the admin role', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running', { image: 'cirros' });
    const before = h.count();
    const old = await h.req('DELETE', `/v1/containers/${uuid}?force=true`, { version: '1.6' });
    expect(old.statusCode).toBe(400);
    expect(zunError(old).code).toBe('container.invalid-param-in-version');
    const member = await h.req('DELETE', `/v1/containers/${uuid}?force=true`, { version: '1.7', headers: { 'x-project-id': 'default', 'x-roles': 'member' } });
    expect(member.statusCode).toBe(403);
    expect(zunError(member).title).toBe("Policy doesn't allow container:delete_force to be performed.");
    expect(h.count()).toBe(before);
    expect((await h.req('DELETE', `/v1/containers/${uuid}?force=true`, { version: '1.7' })).statusCode).toBe(204);
  });

  it('refuses bad query parameters and all_projects for members', async () => {
    const h = harness();
    const uuid = await h.containerIn('Stopped');
    const before = h.count();
    expect((await h.req('DELETE', `/v1/containers/${uuid}?force=maybe`, { version: '1.40' })).statusCode).toBe(400);
    const extra = await h.req('DELETE', `/v1/containers/${uuid}?purge=1`, { version: '1.40' });
    expect(zunError(extra).title).toBe("Additional properties are not allowed ('purge' was unexpected)");
    const ap = await h.req('DELETE', `/v1/containers/${uuid}?all_projects=1`, { version: '1.40', headers: { 'x-roles': 'member' } });
    expect(ap.statusCode).toBe(403);
    expect((await h.req('DELETE', '/v1/containers/ghost', { version: '1.40' })).statusCode).toBe(404);
    expect(h.count()).toBe(before);
    expect((await h.req('DELETE', `/v1/containers/${uuid}`, { version: '1.40' })).statusCode).toBe(204);
  });
});

describe('PATCH /v1/containers/{ident}', () => {
  it('updates name, cpu, memory and auto_heal (strings as the CLI sends them)', async () => {
    const h = harness();
    const uuid = await h.containerIn('Running', { name: 'c2', image: 'cirros' });
    const before = h.count();
    const r = await h.req('PATCH', '/v1/containers/c2', { version: '1.40', body: { memory: '256', cpu: '2', name: 'c2b', auto_heal: 'true' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ uuid, name: 'c2b', cpu: 2, memory: '256', auto_heal: true });
    const events = (await h.events()).slice(before).filter((e) => e.aggregateKind === 'container');
    expect(events.map((e) => [e.type, e.data])).toEqual([['ContainerUpdated', { name: 'c2b', cpu: 2, memory: 256, autoHeal: true }]]);
  });

  it('validates the patch and the state, appending nothing when refused', async () => {
    const h = harness();
    const creating = await h.create({ name: 'fresh', image: 'cirros' });
    const running = await h.containerIn('Running');
    const before = h.count();
    const cases: [string, unknown, number, string][] = [
      [running, { memory: '2' }, 400, 'less than the minimum of 4'],
      [running, { memory: '4' }, 400, "'4' is less than 6, the smallest memory limit (MiB) Docker accepts"],
      [running, { cpu: 'x' }, 400, 'does not match'],
      [running, { name: '!' }, 400, 'is too short'],
      [running, { image: 'other' }, 400, "'image' was unexpected"],
      [creating, { cpu: 1 }, 409, `Cannot update container ${creating} in Creating state`],
      ['ghost', { cpu: 1 }, 404, 'Container ghost could not be found.'],
    ];
    for (const [ident, body, status, title] of cases) {
      const r = await h.req('PATCH', `/v1/containers/${ident}`, { version: '1.40', body });
      expect(r.statusCode, JSON.stringify(body)).toBe(status);
      expect(zunError(r).title).toContain(title);
    }
    expect(h.count()).toBe(before);
  });

  it('an empty patch answers the view and appends nothing', async () => {
    const h = harness();
    const uuid = await h.containerIn('Stopped');
    const before = h.count();
    const r = await h.req('PATCH', `/v1/containers/${uuid}`, { version: '1.40', body: {} });
    expect(r.statusCode).toBe(200);
    expect(r.json().uuid).toBe(uuid);
    expect(h.count()).toBe(before);
  });
});

describe('POST /v1/containers/{ident}/rename', () => {
  it('renames up to 1.13', async () => {
    const h = harness();
    const uuid = await h.containerIn('Created', { name: 'c1', image: 'cirros' });
    const r = await h.req('POST', '/v1/containers/c1/rename?name=c1b', { version: '1.13', headers: { 'content-type': 'application/json', 'content-length': '0' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ uuid, name: 'c1b' });
    expect((await h.req('GET', '/v1/containers/c1b')).json().uuid).toBe(uuid);
  });

  it('is gone from 1.14: 406 "not supported for this version"', async () => {
    const h = harness();
    await h.containerIn('Created', { name: 'c1', image: 'cirros' });
    const before = h.count();
    for (const v of ['1.14', 'latest']) {
      const r = await h.req('POST', '/v1/containers/c1/rename?name=c1b', { version: v });
      expect(r.statusCode).toBe(406);
      const want = v === 'latest' ? '1.40' : v;
      expect(zunError(r).title).toBe(`Version ${want} was requested but the requested API is not supported for this version.`);
    }
    expect(h.count()).toBe(before);
  });

  it('refuses the same name (409) and a missing or invalid one (400)', async () => {
    const h = harness();
    await h.containerIn('Created', { name: 'c1', image: 'cirros' });
    const before = h.count();
    const same = await h.req('POST', '/v1/containers/c1/rename?name=c1', { version: '1.1' });
    expect(same.statusCode).toBe(409);
    expect(zunError(same).title).toBe('The new name for the container is the same as the old name.');
    expect((await h.req('POST', '/v1/containers/c1/rename', { version: '1.1' })).statusCode).toBe(400);
    expect((await h.req('POST', '/v1/containers/c1/rename?name=-x', { version: '1.1' })).statusCode).toBe(400);
    expect(h.count()).toBe(before);
  });
});

describe('server errors', () => {
  function failingStore(err: Error): EventStore {
    const inner = createMemoryEventStore();
    return {
      append: inner.append.bind(inner),
      lastSeq: inner.lastSeq.bind(inner),
      load: async () => {
        throw err;
      },
    };
  }

  it('answer 500 with the correlation id, never the internal message', async () => {
    const h = harness({ store: failingStore(new Error('disk on fire')) });
    const r = await h.req('GET', '/v1/containers/6f9619ff-8b86-d011-b42d-00c04fc964ff');
    expect(r.statusCode).toBe(500);
    const e = zunError(r);
    expect(e.title).toBe('Internal Server Error');
    expect(e.detail).toMatch(/^Your request could not be handled because of a problem in the server\. Error Correlation id is: [0-9a-f-]{36}$/);
    expect(r.body).not.toContain('disk on fire');
    expect(r.headers['x-openstack-request-id']).toMatch(REQ_ID);
  });

  it('answer 503 when the event store is unreachable', async () => {
    const h = harness({ store: failingStore(new EventStoreUnavailableError('nats timeout')) });
    const r = await h.req('POST', '/v1/containers', { body: { image: 'cirros' } });
    expect(r.statusCode).toBe(503);
    expect(zunError(r).title).toBe('Service Unavailable');
  });

  it('give every response its own request id', async () => {
    const h = harness();
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await h.req('GET', '/v1/containers')).headers['x-openstack-request-id'] as string);
    expect(ids.size).toBe(5);
  });
});

describe('names the read model has not caught up with', () => {
  it('are found on the gateway that gave them, and confirmed against the log', async () => {
    // A read model frozen in the past: it only knows what the test copies in.
    const frozen: ContainerState[] = [];
    const readModel: ContainerReadModel = {
      listContainers: async () => frozen,
      getContainer: async (uuid) => frozen.find((s) => s.uuid === uuid) ?? null,
      findByName: async (name) => frozen.filter((s) => s.spec?.name === name),
    };
    const h = harness({ readModel });
    const uuid = await h.create({ name: 'web', image: 'cirros' });
    expect((await h.req('GET', '/v1/containers/web')).json().uuid).toBe(uuid);
    await h.schedule(uuid);
    await h.observe(uuid, { type: 'ContainerCreated', data: { dockerId: 'd' } });
    frozen.push(await loadContainer(h.store, uuid));

    const renamed = await h.req('PATCH', '/v1/containers/web', { version: '1.40', body: { name: 'web2' } });
    expect(renamed.statusCode).toBe(200);
    // The stale read model still says `web`; the log says otherwise.
    expect((await h.req('GET', '/v1/containers/web')).statusCode).toBe(404);
    expect((await h.req('GET', '/v1/containers/web2')).json().uuid).toBe(uuid);

    await h.create({ name: 'twin', image: 'cirros' });
    await h.create({ name: 'twin', image: 'cirros' });
    expect((await h.req('GET', '/v1/containers/twin')).statusCode).toBe(409);
  });
});
