/**
 * Networks, container networks, volumes on create, and capsules, through the
 * gateway on the in-memory event store (inject()).
 */
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../../events/index.js';
import { defaultNetworkId, namedVolumeId } from '../../resources/ids.js';
import { harness, zunError, type Harness } from '../test-harness.js';
import { executeVolumeCommand } from '../../resources/commands.js';

const MEMBER = { 'x-project-id': 'p-blue', 'x-user-id': 'u-ann', 'x-roles': 'member' };
const types = (events: RecordedEvent[]) => events.map((e) => `${e.aggregateKind}:${e.type}`);

async function network(h: Harness, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return h.req('POST', '/v1/networks', { version: '1.40', body, headers });
}

describe('POST /v1/networks and DELETE /v1/networks/{id}', () => {
  it('admin only; a subnet of the pool per network; one network per Neutron id; delete from 1.27, refused while in use', async () => {
    const h = harness();
    const denied = await network(h, { name: 'n1' }, MEMBER);
    expect(denied.statusCode).toBe(403);
    expect(h.count()).toBe(0);
    const r = await network(h, { name: 'n1', neutron_net_id: 'neutron-1' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ uuid: expect.any(String), name: 'n1', project_id: 'default', user_id: 'admin', network_id: null, neutron_net_id: 'neutron-1' });
    expect(types(await h.events())).toEqual(['ipam:CidrAllocated', 'network:NetworkCreated']);
    expect((await h.events())[1]!.data).toMatchObject({ cidr: '10.200.0.0/24', gateway: '10.200.0.1' });
    expect((await network(h, { name: 'again', neutron_net_id: 'neutron-1' })).statusCode).toBe(409);
    expect((await network(h, { neutron_net_id: 'neutron-2' })).statusCode).toBe(400);
    expect((await h.req('POST', '/v1/networks', { version: '1.40', body: 'x', headers: { 'content-type': 'text/plain' } })).statusCode).toBe(415);

    const c = await h.create({ image: 'cirros', nets: [{ network: 'n1', 'v4-fixed-ip': '10.200.0.9' }] });
    expect((await h.req('DELETE', '/v1/networks/neutron-1', { version: '1.26' })).statusCode).toBe(406);
    const busy = await h.req('DELETE', '/v1/networks/neutron-1', { version: '1.27' });
    expect(busy.statusCode).toBe(409);
    expect(zunError(busy).title).toContain(`container ${c}`);
    expect((await h.req('DELETE', `/v1/containers/${c}?force=true`, { version: '1.40' })).statusCode).toBe(204);
    expect((await h.req('DELETE', '/v1/networks/neutron-1', { version: '1.27' })).statusCode).toBe(204);
    expect((await h.req('DELETE', '/v1/networks/neutron-1', { version: '1.27' })).statusCode).toBe(404);
    // Its subnet is free again.
    await network(h, { name: 'n3', neutron_net_id: 'neutron-3' });
    const created = (await h.events()).filter((e) => e.type === 'NetworkCreated');
    expect(created[created.length - 1]!.data).toMatchObject({ cidr: '10.200.0.0/24' });
  });
});

describe('nets and mounts on container create', () => {
  it('no nets: the project default network, made once however many creates race for it', async () => {
    const h = harness();
    const ids = await Promise.all([1, 2, 3, 4].map(() => h.create({ image: 'cirros' }, { headers: MEMBER })));
    const events = await h.events();
    expect(events.filter((e) => e.type === 'NetworkCreated')).toHaveLength(1);
    const id = defaultNetworkId('p-blue');
    for (const e of events.filter((x) => x.type === 'ContainerCreateRequested')) {
      expect((e.data as { spec: { nets: unknown[] } }).spec.nets).toEqual([{ network: id, resolved: { id, neutronNetId: id, name: 'default', projectId: 'p-blue', cidr: null, gateway: null } }]);
    }
    expect(ids).toHaveLength(4);
  });

  it('refuses unknown networks and ports, fixed IPs outside the subnet, gateways, or on the default network, appending nothing', async () => {
    const h = harness();
    await network(h, { name: 'n1' });
    const before = h.count();
    for (const [nets, status] of [
      [[{ network: 'nope' }], 404],
      [[{ network: 'n1', 'v4-fixed-ip': '10.9.9.9' }], 400],
      [[{ network: 'n1', 'v4-fixed-ip': '10.200.0.1' }], 400],
      [[{ 'v4-fixed-ip': '10.200.0.5', network: 'default' }], 400],
      [[{ port: 'p-1' }], 404],
      // Names of Object.prototype's members are not ports (they crashed the lookup with a 500).
      [[{ port: 'valueOf' }], 404],
      [[{ port: 'constructor' }], 404],
      [[{ port: '__proto__' }], 404],
      [[{ network: 'n1' }, { network: 'n1' }], 400],
      [[{ network: 'n1', 'v6-fixed-ip': 'fd7a:756e:0:1::5' }], 400],
      [[{ network: 'n1', 'v6-fixed-ip': 'fd7a:756e::1' }], 400],
      [[{ network: 'n1', 'v6-fixed-ip': 'fd7a:756e::' }], 400],
      [[{ network: 'default', 'v6-fixed-ip': 'fd7a:756e::5' }], 400],
    ] as const) {
      const r = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', nets } });
      expect(r.statusCode, JSON.stringify(nets)).toBe(status);
    }
    for (const id of ['valueOf', 'constructor', 'toString', 'hasOwnProperty']) {
      expect((await h.req('GET', `/v2.0/ports/${id}`)).statusCode, id).toBe(404);
      expect((await h.req('DELETE', `/v2.0/ports/${id}`)).statusCode, id).toBe(404);
    }
    expect(h.count()).toBe(before);
  });

  it('IPv6: a network gets a /64 at its /24\'s index; a v6 fixed IP inside it is taken with the v4 one', async () => {
    const h = harness();
    await network(h, { name: 'n1' });
    const created = (await h.events()).find((e) => e.type === 'NetworkCreated')!;
    expect(created.data).toMatchObject({ cidr: '10.200.0.0/24', cidrV6: 'fd7a:756e::/64', gatewayV6: 'fd7a:756e::1' });
    await network(h, { name: 'n2' });
    expect((await h.events()).filter((e) => e.type === 'NetworkCreated')[1]!.data).toMatchObject({ cidr: '10.200.1.0/24', cidrV6: 'fd7a:756e:0:1::/64' });
    const id = await h.create({ image: 'cirros', nets: [{ network: 'n1', 'v4-fixed-ip': '10.200.0.7', 'v6-fixed-ip': 'FD7A:756E::7' }] });
    const req = (await h.events()).find((e) => e.type === 'ContainerCreateRequested' && e.aggregateId === id)!;
    expect((req.data as { spec: { nets: unknown[] } }).spec.nets).toEqual([
      expect.objectContaining({ v4FixedIp: '10.200.0.7', v6FixedIp: 'FD7A:756E::7', resolved: expect.objectContaining({ cidrV6: 'fd7a:756e::/64' }) }),
    ]);
  });

  it('ports (/v2.0/ports): addresses from the top of the subnets, fenced; a container takes one; one holder at a time; freed on delete', async () => {
    const h = harness();
    await network(h, { name: 'n1', neutron_net_id: 'neutron-1' });
    const mk = (port: Record<string, unknown>, headers: Record<string, string> = {}) => h.req('POST', '/v2.0/ports', { body: { port }, headers });
    const p1 = await mk({ network_id: 'neutron-1', name: 'p1' });
    expect(p1.statusCode).toBe(201);
    const port1 = p1.json().port;
    expect(port1).toMatchObject({
      name: 'p1',
      network_id: 'neutron-1',
      mac_address: '02:42:0a:c8:00:fe',
      device_id: '',
      status: 'DOWN',
      fixed_ips: [{ ip_address: '10.200.0.254' }, { ip_address: 'fd7a:756e::8000:0:0:fe' }],
    });
    const p2 = (await mk({ network_id: 'neutron-1', fixed_ips: [{ ip_address: '10.200.0.200' }] })).json().port;
    expect(p2.fixed_ips).toEqual([{ subnet_id: expect.any(String), ip_address: '10.200.0.200' }]);
    const p3 = (await mk({ network_id: 'neutron-1' })).json().port;
    expect(p3.fixed_ips[0].ip_address).toBe('10.200.0.253');
    // Refusals change nothing.
    const before = h.count();
    expect((await mk({ network_id: 'neutron-1', fixed_ips: [{ ip_address: '10.200.0.200' }] })).statusCode).toBe(409);
    expect((await mk({ network_id: 'neutron-1', fixed_ips: [{ ip_address: '10.9.0.1' }] })).statusCode).toBe(400);
    expect((await mk({ network_id: 'neutron-1', fixed_ips: [{ ip_address: '10.200.0.1' }] })).statusCode).toBe(400);
    expect((await mk({ network_id: 'nope' })).statusCode).toBe(404);
    expect((await mk({ network_id: 'neutron-1', bogus: 1 })).statusCode).toBe(400);
    expect((await mk({ network_id: 'neutron-1' }, MEMBER)).statusCode).toBe(404);
    const taken = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', nets: [{ network: 'n1', 'v4-fixed-ip': '10.200.0.200' }] } });
    expect(taken.statusCode).toBe(409);
    expect(zunError(taken).title).toContain(p2.id);
    expect(h.count()).toBe(before);

    const c1 = await h.create({ image: 'cirros', nets: [{ port: port1.id }] });
    const req = (await h.events()).find((e) => e.type === 'ContainerCreateRequested' && e.aggregateId === c1)!;
    expect((req.data as { spec: { nets: unknown[] } }).spec.nets).toEqual([
      expect.objectContaining({ port: port1.id, v4FixedIp: '10.200.0.254', v6FixedIp: 'fd7a:756e::8000:0:0:fe', resolved: expect.objectContaining({ port: port1.id }) }),
    ]);
    expect((await h.req('GET', `/v2.0/ports/${port1.id}`)).json().port).toMatchObject({ device_id: c1, status: 'ACTIVE', device_owner: 'compute:zun' });
    const busy = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', nets: [{ port: port1.id }] } });
    expect(busy.statusCode).toBe(400);
    expect(zunError(busy).title).toBe(`Port ${port1.id} is still in use.`);
    expect((await h.req('DELETE', `/v2.0/ports/${port1.id}`)).statusCode).toBe(400);
    expect((await h.req('DELETE', '/v1/networks/neutron-1', { version: '1.27' })).statusCode).toBe(409);
    expect((await h.req('GET', `/v2.0/ports?device_id=${c1}`)).json().ports.map((p: { id: string }) => p.id)).toEqual([port1.id]);

    expect((await h.req('DELETE', `/v1/containers/${c1}?force=true`, { version: '1.40' })).statusCode).toBe(204);
    expect((await h.req('GET', `/v2.0/ports/${port1.id}`)).json().port).toMatchObject({ device_id: '', status: 'DOWN' });
    const c2 = await h.create({ image: 'cirros', nets: [{ port: port1.id }] });
    expect((await h.req('GET', `/v2.0/ports/${port1.id}`)).json().port.device_id).toBe(c2);
    expect((await h.req('DELETE', `/v2.0/ports/${p2.id}`)).statusCode).toBe(204);
    expect((await h.req('GET', `/v2.0/ports/${p2.id}`)).statusCode).toBe(404);
    const subnets = (await h.req('GET', '/v2.0/subnets')).json().subnets;
    expect(subnets.map((s: { cidr: string; ip_version: number }) => [s.cidr, s.ip_version])).toEqual([['10.200.0.0/24', 4], ['fd7a:756e::/64', 6]]);
    expect((await h.req('GET', '/v2.0/networks/neutron-1')).json().network).toMatchObject({ id: 'neutron-1', name: 'n1', subnets: subnets.map((s: { id: string }) => s.id) });
  });

  it('mounts: a named volume is made on first use and reserved; a busy one is refused; size makes an auto-remove volume', async () => {
    const h = harness();
    const a = await h.create({ image: 'cirros', mounts: [{ source: 'data', destination: '/d' }, { size: '2', destination: '/s' }, { type: 'bind', source: 'aGVsbG8K', destination: '/f' }] }, { version: '1.23' });
    const events = await h.events();
    const vol = namedVolumeId('default', 'data');
    expect(events.filter((e) => e.aggregateKind === 'volume').map((e) => [e.aggregateId === vol ? 'data' : 'anon', e.type, e.data])).toEqual([
      ['data', 'VolumeCreated', { name: 'data', projectId: 'default', sizeGb: 1, autoRemove: false }],
      ['data', 'VolumeReserved', { consumer: a }],
      ['anon', 'VolumeCreated', { name: '', projectId: 'default', sizeGb: 2, autoRemove: true }],
      ['anon', 'VolumeReserved', { consumer: a }],
    ]);
    const spec = (events.find((e) => e.type === 'ContainerCreateRequested')!.data as { spec: { mounts: { volumeId: string }[] } }).spec;
    expect(spec.mounts.map((m) => m.volumeId)).toEqual([vol, expect.any(String), `${a}-file-2`]);

    const before = h.count();
    const busy = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', mounts: [{ source: 'data', destination: '/d' }] } });
    expect(busy.statusCode).toBe(400);
    expect(zunError(busy)).toMatchObject({ code: 'container.volume-in-use', title: 'Volume data is still in use.' });
    expect((await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', mounts: [{ source: '0f0e0d0c-0b0a-4908-8706-050403020100', destination: '/d' }] } })).statusCode).toBe(404);
    expect((await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', mounts: [{ type: 'bind', source: 'not base64!', destination: '/f' }] } })).statusCode).toBe(400);
    expect(h.count()).toBe(before);
    // Another project does not see it: its own `data` is another volume.
    await h.create({ image: 'cirros', mounts: [{ source: 'data', destination: '/d' }] }, { headers: MEMBER });
    // Once the first container is gone (never placed: deleted at once), the volume is free again.
    expect((await h.req('DELETE', `/v1/containers/${a}?force=true`, { version: '1.40' })).statusCode).toBe(204);
    await h.create({ image: 'cirros', mounts: [{ source: 'data', destination: '/d' }] });
  });
});

describe('network_attach, network_detach, network_list', () => {
  it('attach (1.8) and detach (1.6) are intents; the list shows what the host observed, in both shapes', async () => {
    const h = harness();
    await network(h, { name: 'n1', neutron_net_id: 'neutron-1' });
    const c = await h.containerIn('Running');
    expect((await h.req('POST', `/v1/containers/${c}/network_attach?network=n1`, { version: '1.7' })).statusCode).toBe(406);
    const r = await h.req('POST', `/v1/containers/${c}/network_attach?network=n1&fixed_ip=10.200.0.7`, { version: '1.40' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe('null');
    const before = h.count();
    expect((await h.req('POST', `/v1/containers/${c}/network_attach?network=n1`, { version: '1.40' })).statusCode).toBe(400);
    // Already on its project's default network (given at create): refused, and nothing made on the way.
    expect((await h.req('POST', `/v1/containers/${c}/network_attach`, { version: '1.40', headers: MEMBER })).statusCode).toBe(404);
    expect((await h.req('POST', `/v1/containers/${c}/network_attach?network=default`, { version: '1.40' })).statusCode).toBe(400);
    expect(h.count()).toBe(before);
    const attach = (await h.events()).find((e) => e.type === 'ContainerNetworkAttachRequested')!;
    expect(attach.data).toMatchObject({ net: { network: 'n1', v4FixedIp: '10.200.0.7', resolved: { name: 'n1', neutronNetId: 'neutron-1' } } });
    const netId = (attach.data as { net: { resolved: { id: string } } }).net.resolved.id;
    const addr = { addr: '10.200.0.7', version: 4 as const, port: 'ep-1', subnet_id: netId, preserve_on_delete: false };
    await h.observe(c, { type: 'ContainerNetworkAttached', data: { network: netId, neutronNetId: 'neutron-1', addresses: [addr] } });
    expect((await h.req('GET', `/v1/containers/${c}`, { version: '1.40' })).json().addresses).toEqual({ 'neutron-1': [addr] });
    expect((await h.req('GET', `/v1/containers/${c}/network_list`, { version: '1.12' })).statusCode).toBe(406);
    expect((await h.req('GET', `/v1/containers/${c}/network_list`, { version: '1.13' })).json()).toEqual({
      networks: [{ net_id: 'neutron-1', subnet_id: netId, port_id: 'ep-1', version: 4, ip_address: '10.200.0.7' }],
    });
    expect((await h.req('GET', `/v1/containers/${c}/network_list`, { version: '1.18' })).json()).toEqual({
      networks: [{ net_id: 'neutron-1', port_id: 'ep-1', fixed_ips: [{ subnet_id: netId, version: 4, ip_address: '10.200.0.7' }] }],
    });
    expect((await h.req('POST', `/v1/containers/${c}/network_detach?port=ep-9`, { version: '1.40' })).statusCode).toBe(400);
    expect((await h.req('POST', `/v1/containers/${c}/network_detach?network=n1&port=ep-1`, { version: '1.40' })).statusCode).toBe(400);
    const d = await h.req('POST', `/v1/containers/${c}/network_detach?port=ep-1`, { version: '1.40' });
    expect(d.statusCode).toBe(202);
    expect((await h.events()).filter((e) => e.type === 'ContainerNetworkDetachRequested').map((e) => e.data)).toEqual([{ network: netId }]);
  });
});

const TEMPLATE = {
  kind: 'capsule',
  metadata: { name: 'demo', labels: { app: 'web' } },
  spec: {
    restartPolicy: 'OnFailure',
    initContainers: [{ image: 'cirros', command: ['true'], volumeMounts: [{ name: 'work', mountPath: '/w' }] }],
    containers: [{ image: 'cirros', resources: { requests: { cpu: 0.5, memory: 64 } }, volumeMounts: [{ name: 'work', mountPath: '/w' }] }],
    volumes: [{ name: 'work', cinder: { size: 1, autoRemove: true } }],
  },
};

describe('volume locality', () => {
  it('a container or capsule mounting a local volume is pinned to the host holding its data; another host asked for is a 400', async () => {
    const h = harness();
    const first = await h.create({ image: 'cirros', mounts: [{ source: 'data', destination: '/d' }] });
    const vol = namedVolumeId('default', 'data');
    // The host actor of h9 attached it (local-block: the data is on h9's disk); then the container went.
    const ctx = { projectId: 'default', userId: 'host:h9', requestId: 'req-attach', commandId: 'attach-1' };
    const deps = { store: h.store, newId: () => 'e-1', now: () => new Date('2026-11-25T00:00:00Z') };
    expect((await executeVolumeCommand(deps, vol, { type: 'AttachVolume', host: 'h9', consumer: first, hostLocal: true }, ctx)).ok).toBe(true);
    expect((await h.req('DELETE', `/v1/containers/${first}?force=true`, { version: '1.40' })).statusCode).toBe(204);
    expect(await h.status(first)).toBe('Deleted'); // never placed: deleted at once
    await executeVolumeCommand(deps, vol, { type: 'DetachVolume', host: 'h9', consumer: first }, { ...ctx, commandId: 'detach-1' });

    const before = h.count();
    const elsewhere = await h.req('POST', '/v1/containers', { version: '1.40', body: { image: 'cirros', host: 'h1', mounts: [{ source: 'data', destination: '/d' }] } });
    expect(elsewhere.statusCode).toBe(400);
    expect(zunError(elsewhere).title).toContain('live on host h9, not on the requested host h1');
    expect(h.count()).toBe(before);

    const second = await h.create({ image: 'cirros', mounts: [{ source: 'data', destination: '/d' }] });
    const spec = (uuid: string) => ((h.events().then((es) => es.find((e) => e.aggregateId === uuid && e.type.endsWith('CreateRequested'))!.data)) as Promise<{ spec: { volumeHost?: string } }>);
    expect((await spec(second)).spec.volumeHost).toBe('h9');
    expect((await h.req('DELETE', `/v1/containers/${second}?force=true`, { version: '1.40' })).statusCode).toBe(204);

    const cap = await h.req('POST', '/v1/capsules', {
      version: '1.40',
      body: { template: { ...TEMPLATE, metadata: { name: 'local' }, spec: { ...TEMPLATE.spec, volumes: [{ name: 'work', cinder: { volumeID: vol } }] } } },
    });
    expect(cap.statusCode, cap.body).toBe(202);
    expect((await spec(cap.json().uuid)).spec.volumeHost).toBe('h9');
  });
});

describe('capsules', () => {
  it('create (object or JSON string): 202, Location, the view; member uuids, the volume and the default network resolved', async () => {
    const h = harness();
    const r = await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: TEMPLATE } });
    expect(r.statusCode, r.body).toBe(202);
    const v = r.json();
    expect(r.headers['location']).toMatch(new RegExp(`/v1/capsules/${v.uuid}$`));
    expect(v).toMatchObject({ name: 'demo', labels: { app: 'web' }, status: 'Creating', restart_policy: { Name: 'on-failure', MaximumRetryCount: '0' }, cpu: 0.5, memory: '64', addresses: {} });
    expect(v.containers).toHaveLength(1);
    expect(v.containers[0]).toMatchObject({ status: 'Creating', image: 'cirros', restart_policy: { Name: 'on-failure', MaximumRetryCount: '0' } });
    expect(v.init_containers[0].uuid).toMatch(/^[0-9a-f-]{36}$/);
    const created = (await h.events()).find((e) => e.type === 'CapsuleCreateRequested')!;
    const spec = (created.data as { spec: { volumes: { volumeUuid: string }[]; nets: unknown[] } }).spec;
    expect(spec.volumes[0]!.volumeUuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(spec.nets).toHaveLength(1);
    expect(types(await h.events())).toContain('volume:VolumeReserved');

    const s = await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: JSON.stringify({ ...TEMPLATE, metadata: { name: 'demo2' } }) } });
    expect(s.statusCode).toBe(202);
  });

  it('refuses bad bodies and templates as Zun does, appending nothing', async () => {
    const h = harness();
    expect((await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: TEMPLATE, extra: 1 } })).statusCode).toBe(400);
    expect((await h.req('POST', '/v1/capsules', { version: '1.40', body: {} })).statusCode).toBe(400);
    expect((await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: { ...TEMPLATE, kind: 'pod' } } })).statusCode).toBe(400);
    const semantic = await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: { ...TEMPLATE, spec: { ...TEMPLATE.spec, containers: [] } } } });
    expect(semantic.statusCode).toBe(500);
    expect((await h.req('POST', '/v1/capsules', { version: '1.40', body: 'x', headers: { 'content-type': 'text/plain' } })).statusCode).toBe(415);
    expect(h.count()).toBe(0);
  });

  it('list and show in both views (legacy below 1.32), scoped to the project; delete', async () => {
    const h = harness();
    const mine = (await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: TEMPLATE } })).json().uuid as string;
    await h.req('POST', '/v1/capsules', { version: '1.40', body: { template: { ...TEMPLATE, metadata: { name: 'theirs' } } }, headers: MEMBER });
    const list = await h.req('GET', '/v1/capsules', { version: '1.40' });
    expect(list.json().capsules.map((c: { uuid: string }) => c.uuid)).toEqual([mine]);
    expect(list.json().next).toBeNull();
    const all = await h.req('GET', '/v1/capsules?all_projects=1', { version: '1.40' });
    expect(all.json().capsules).toHaveLength(2);
    expect((await h.req('GET', '/v1/capsules?all_projects=1', { version: '1.40', headers: MEMBER })).statusCode).toBe(403);

    const legacy = (await h.req('GET', '/v1/capsules/demo', { version: '1.31' })).json();
    expect(legacy).toMatchObject({ uuid: mine, meta_name: 'demo', meta_labels: { app: 'web' }, restart_policy: 'on-failure', volumes_info: {}, containers_uuids: [], init_containers_uuids: [], capsule_version: '' });
    expect(legacy).not.toHaveProperty('name');
    const current = (await h.req('GET', `/v1/capsules/${mine}`, { version: '1.32' })).json();
    expect(current).toMatchObject({ name: 'demo', host: null });
    expect(current).not.toHaveProperty('meta_name');
    // Another project's capsule is not found (an admin's lookups see every project, as for containers).
    expect((await h.req('GET', '/v1/capsules/demo', { version: '1.40', headers: MEMBER })).statusCode).toBe(404);
    const theirs = await h.req('GET', '/v1/capsules/theirs', { version: '1.40', headers: MEMBER });
    expect(theirs.json()).not.toHaveProperty('host');

    // Never placed: gone at once.
    expect((await h.req('DELETE', '/v1/capsules/demo', { version: '1.40' })).statusCode).toBe(204);
    expect((await h.req('GET', `/v1/capsules/${mine}`, { version: '1.40' })).statusCode).toBe(404);
    expect(zunError(await h.req('GET', `/v1/capsules/${mine}`, { version: '1.40' })).code).toBe('container.capsule-not-found');
  });
});
