// The kuryr driver against RECORDED Neutron responses (test/fixtures/neutron)
// served by a loopback stub, and a Docker API stub that records what the
// driver sends (the real dockerd here has no kuryr plugin). The expected
// Docker and Neutron request bodies are written out by hand from Zun's
// kuryr_network.py / neutron.py and docker-py, key for key.
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, startHttpStub, type HttpStub, type StubRequest, type StubReply } from '../../../test/support/http-stub.js';
import { createLogger } from '../../platform/log.js';
import { createNeutronClient } from '../../openstack/neutron-client.js';
import { createKuryrNetworkDriver, kuryrNetworkCreateBody } from './kuryr.js';
import { NetworkError, type NetworkDriver, type NetworkSpec } from './types.js';
import { createNetworkDriver, parseNetworkConfig } from './index.js';
import { OpenStackApiError, staticToken } from '../../openstack/openstack-http.js';

const log = createLogger('test', 'silent');
const HOST = 'compute-1';
const PROJECT = 'd6700c0c9ffa4f1cb322cd4a1f3906fa';
const NET: NetworkSpec = { id: '4e8e5957-649f-477b-9e5b-f1f75b21c03c', name: 'private', projectId: PROJECT };
const NET2: NetworkSpec = { id: '9b0d3c4e-2f5a-4d6b-8e7f-0a1b2c3d4e5f', name: 'shared', projectId: PROJECT };
const CONTAINER = { uuid: '3f6c2a1e-8d4b-4c5a-9e7f-1b2c3d4e5f60', dockerId: 'c0ffee00aa11' };
const V4_SUBNET = 'a0304c3a-4f08-4c43-88af-d796509c97d2';
const V6_SUBNET = 'c1b3f5a6-0b1e-4b9a-9b43-7a1f7a5b3c21';
const BOUND_PORT = '65c0ee9f-d634-4522-8954-51021b570b0d';
const UNBOUND_PORT = 'd3a0e7a4-5b7e-4c3f-a9a1-2f0c6b1e9d44';
const USER_PORT = '43c831e0-19ce-4a76-9a49-57b57e69428b';

/** A tiny in-memory dockerd network API: what the kuryr driver calls. */
function dockerApi() {
  const networks = new Map<string, { Id: string; Name: string; Driver: string; Options: Record<string, string>; Containers: Record<string, object> }>();
  const containerNets = new Map<string, Set<string>>([[CONTAINER.dockerId, new Set()]]);
  let failConnect = false;
  let n = 0;
  const byIdOrName = (key: string) => [...networks.values()].find((x) => x.Id === key || x.Name === key);
  const handler = (r: StubRequest): StubReply => {
    if (r.method === 'GET' && r.path === '/networks') {
      const filters = JSON.parse(r.query.get('filters') ?? '{}') as { name?: string[]; driver?: string[] };
      // Docker's name filter matches substrings: add a decoy to prove the driver compares exactly.
      const all = [...networks.values(), { Id: 'decoy', Name: `${NET.id}-old`, Driver: 'bridge', Options: {}, Containers: {} }];
      return {
        status: 200,
        body: all.filter(
          (x) => (!filters.name || filters.name.some((f) => x.Name.includes(f))) && (!filters.driver || filters.driver.includes(x.Driver)),
        ),
      };
    }
    if (r.method === 'POST' && r.path === '/networks/create') {
      const b = r.body as { Name: string; Driver: string; Options: Record<string, string> };
      if (byIdOrName(b.Name)) return { status: 409, body: { message: `network with name ${b.Name} already exists` } };
      const Id = `netid${++n}`.padEnd(64, '0');
      networks.set(Id, { Id, Name: b.Name, Driver: b.Driver, Options: b.Options, Containers: {} });
      return { status: 201, body: { Id, Warning: '' } };
    }
    let m = /^\/networks\/([^/]+)$/.exec(r.path);
    if (m && r.method === 'GET') {
      const net = byIdOrName(m[1]!);
      return net ? { status: 200, body: net } : { status: 404, body: { message: 'network not found' } };
    }
    if (m && r.method === 'DELETE') {
      const net = byIdOrName(m[1]!);
      if (!net) return { status: 404, body: { message: 'network not found' } };
      if (Object.keys(net.Containers).length > 0) return { status: 403, body: { message: 'error while removing network: network has active endpoints' } };
      networks.delete(net.Id);
      return { status: 204 };
    }
    m = /^\/networks\/([^/]+)\/(connect|disconnect)$/.exec(r.path);
    if (m && r.method === 'POST') {
      const net = byIdOrName(m[1]!);
      const c = (r.body as { Container: string }).Container;
      if (!net) return { status: 404, body: { message: 'network not found' } };
      if (m[2] === 'connect') {
        if (failConnect) {
          // As dockerd 20.10 does: the failed network stays in the container's settings, with no endpoint.
          containerNets.get(c)?.add(net.Name);
          return { status: 500, body: { message: 'NetworkDriver.Join: kuryr failed to bind the port' } };
        }
        net.Containers[c] = {};
        containerNets.get(c)?.add(net.Name);
      } else {
        if (!net.Containers[c]) return { status: 500, body: { message: `container ${c} is not connected to network ${net.Name}` } };
        delete net.Containers[c];
        containerNets.get(c)?.delete(net.Name);
      }
      return { status: 200 };
    }
    if (r.method === 'GET' && r.path === '/containers/json') {
      // The network filter matches stopped containers too: every container whose settings name the network.
      const filters = JSON.parse(r.query.get('filters') ?? '{}') as { network?: string[] };
      const names = (filters.network ?? []).map((k) => byIdOrName(k)?.Name ?? k);
      const ids = [...containerNets].filter(([, nets]) => names.length === 0 || names.some((x) => nets.has(x))).map(([Id]) => ({ Id }));
      return { status: 200, body: ids };
    }
    m = /^\/containers\/([^/]+)\/json$/.exec(r.path);
    if (m && r.method === 'GET') {
      const nets = containerNets.get(m[1]!);
      if (!nets) return { status: 404, body: { message: 'No such container' } };
      return { status: 200, body: { Id: m[1], NetworkSettings: { Networks: Object.fromEntries([...nets].map((x) => [x, { NetworkID: x }])) } } };
    }
    return { status: 500, body: { message: `docker stub: unexpected ${r.method} ${r.path}` } };
  };
  /** As Docker does for a container that stops: its endpoints go, its settings keep the networks. */
  const stop = (c: string) => {
    for (const net of networks.values()) delete net.Containers[c];
  };
  return { handler, networks, failConnect: (v: boolean) => (failConnect = v), stop };
}

/** Neutron answering from recorded fixtures. */
function neutronApi() {
  const ports = new Map<string, any>();
  const handler = (r: StubRequest): StubReply => {
    if (r.headers['x-auth-token'] !== 'tok-123') return { status: 401, body: { error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } } };
    if (r.method === 'GET' && r.path === '/v2.0/networks') {
      const id = r.query.get('id');
      if (id === NET.id) return { status: 200, body: fixture('neutron', 'networks-list') };
      if (id === NET2.id) return { status: 200, body: fixture('neutron', 'networks-list-shared') };
      return { status: 200, body: fixture('neutron', 'networks-list-empty') };
    }
    if (r.method === 'GET' && r.path === '/v2.0/subnets') {
      const id = r.query.get('network_id');
      if (id === NET.id) return { status: 200, body: fixture('neutron', 'subnets-list-v4v6') };
      if (id === NET2.id) return { status: 200, body: fixture('neutron', 'subnets-list-v4') };
      return { status: 200, body: { subnets: [] } };
    }
    if (r.method === 'GET' && r.path === '/v2.0/ports') {
      const id = r.query.get('id');
      if (id === USER_PORT) return { status: 200, body: fixture('neutron', 'ports-list-user') };
      const device = r.query.get('device_id');
      const net = r.query.get('network_id');
      return { status: 200, body: { ports: [...ports.values()].filter((p) => (!id || p.id === id) && (!device || p.device_id === device) && (!net || p.network_id === net)) } };
    }
    if (r.method === 'POST' && r.path === '/v2.0/ports') {
      const body = (r.body as { port: { network_id: string } }).port;
      const port = (fixture('neutron', body.network_id === NET.id ? 'port-create-bound' : 'port-create-unbound') as { port: any }).port;
      ports.set(port.id, port);
      return { status: 201, body: { port } };
    }
    let m = /^\/v2\.0\/ports\/([^/]+)$/.exec(r.path);
    if (m && r.method === 'PUT') {
      const body = (r.body as { port: Record<string, unknown> }).port;
      if (m[1] === USER_PORT) return { status: 200, body: fixture('neutron', body['device_id'] === '' ? 'port-update-unbound' : 'port-update-user') };
      return { status: 404, body: fixture('neutron', 'port-not-found') };
    }
    m = /^\/v2\.0\/ports\/([^/]+)$/.exec(r.path);
    if (m && r.method === 'DELETE') {
      if (!ports.delete(m[1]!)) return { status: 404, body: fixture('neutron', 'port-not-found') };
      return { status: 204 };
    }
    return { status: 500, body: { NeutronError: { type: 'Stub', message: `unexpected ${r.method} ${r.path}`, detail: '' } } };
  };
  return { handler, ports };
}

describe('kuryr network driver (recorded Neutron responses, Docker API stub)', () => {
  let dockerStub: HttpStub;
  let neutronStub: HttpStub;
  let dockerState: ReturnType<typeof dockerApi>;
  let neutronState: ReturnType<typeof neutronApi>;
  let driver: NetworkDriver;
  const dockerCalls = () => dockerStub.calls();
  const neutronCalls = () => neutronStub.calls();
  const dockerBodies = (method: string, path: string) => dockerStub.requests.filter((r) => r.method === method && r.path === path).map((r) => r.body);
  const neutronBodies = (method: string, path: string) => neutronStub.requests.filter((r) => r.method === method && r.path === path).map((r) => r.body);

  beforeEach(async () => {
    dockerState = dockerApi();
    neutronState = neutronApi();
    dockerStub = await startHttpStub(dockerState.handler);
    neutronStub = await startHttpStub(neutronState.handler);
    const docker = new Docker({ host: '127.0.0.1', port: dockerStub.port, protocol: 'http' });
    const neutron = createNeutronClient({ endpoint: neutronStub.url, auth: staticToken('tok-123'), log });
    driver = createKuryrNetworkDriver({ docker, neutron, host: HOST, log });
  });

  afterEach(async () => {
    await dockerStub.close();
    await neutronStub.close();
  });

  it('creates the Docker network with exactly Zun\'s request body (v4 + v6 subnets)', async () => {
    const r = await driver.ensureNetwork(NET);
    expect(r.dockerNetworkName).toBe(NET.id);
    expect(neutronCalls()).toEqual([`GET /v2.0/networks?id=${NET.id}`, `GET /v2.0/subnets?network_id=${NET.id}`]);
    const [body] = dockerBodies('POST', '/networks/create');
    // kuryr_network.py create_network + docker-py create_network (None values dropped, EnableIPv6 only when true)
    const expected = {
      Name: NET.id,
      Driver: 'kuryr',
      Options: {
        'neutron.net.uuid': NET.id,
        'neutron.net.shared': 'False',
        'neutron.subnet.uuid': V4_SUBNET,
        'neutron.subnet.v6.uuid': V6_SUBNET,
      },
      IPAM: {
        Driver: 'kuryr',
        Options: { 'neutron.net.shared': 'False', 'neutron.subnet.uuid': V4_SUBNET, 'neutron.subnet.v6.uuid': V6_SUBNET },
        Config: [
          { Subnet: '10.0.0.0/26', Gateway: '10.0.0.1' },
          { Subnet: 'fdf8:f53b:82e4::/64', Gateway: 'fdf8:f53b:82e4::1' },
        ],
      },
      EnableIPv6: true,
    };
    expect(body).toEqual(expected);
    // and in the order docker-py serialises the dict
    expect(JSON.stringify(body)).toBe(JSON.stringify(expected));
  });

  it('sends no EnableIPv6 key for a v4-only shared network', async () => {
    await driver.ensureNetwork(NET2);
    expect(dockerBodies('POST', '/networks/create')).toEqual([
      {
        Name: NET2.id,
        Driver: 'kuryr',
        Options: { 'neutron.net.uuid': NET2.id, 'neutron.net.shared': 'True', 'neutron.subnet.uuid': '54d6f61d-db07-451c-9ab3-b9609b6b6f0b' },
        IPAM: {
          Driver: 'kuryr',
          Options: { 'neutron.net.shared': 'True', 'neutron.subnet.uuid': '54d6f61d-db07-451c-9ab3-b9609b6b6f0b' },
          Config: [{ Subnet: '192.168.233.0/24', Gateway: '192.168.233.1' }],
        },
      },
    ]);
  });

  it('finds an existing kuryr network by exact name and creates nothing', async () => {
    await driver.ensureNetwork(NET);
    const before = dockerCalls().length;
    await driver.ensureNetwork(NET);
    expect(dockerCalls().slice(before)).toEqual([`GET /networks?filters=${encodeURIComponent(JSON.stringify({ name: [NET.id] }))}`]);
    expect(dockerBodies('POST', '/networks/create')).toHaveLength(1);
  });

  it('concurrent ensureNetwork calls create one network', async () => {
    await Promise.all([driver.ensureNetwork(NET), driver.ensureNetwork(NET), driver.ensureNetwork(NET)]);
    expect(dockerBodies('POST', '/networks/create')).toHaveLength(1);
  });

  it('refuses a same-named network that is not a kuryr network of that Neutron network', async () => {
    dockerState.networks.set('x', { Id: 'x', Name: NET.id, Driver: 'bridge', Options: {}, Containers: {} });
    await expect(driver.ensureNetwork(NET)).rejects.toMatchObject({ code: 'NETWORK_NOT_OURS' });
    expect(dockerBodies('POST', '/networks/create')).toHaveLength(0);
  });

  it('refuses a Neutron network with two subnets of one IP version, and an unknown network', async () => {
    expect(() => kuryrNetworkCreateBody(NET.id, false, fixture('neutron', 'subnets-list-two-v4').subnets)).toThrow(
      /Multiple Neutron subnets exist with ip version 4/,
    );
    expect(() => kuryrNetworkCreateBody(NET.id, false, [])).toThrow(/has no subnet/);
    await expect(driver.ensureNetwork({ ...NET, id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'BAD_NEUTRON_NETWORK' });
  });

  it('first network: a bound compute:kuryr port, its IPs and MAC in the create request', async () => {
    const ep = await driver.endpointForCreate({ uuid: CONTAINER.uuid }, NET, { v4FixedIp: '10.0.0.5', securityGroups: ['f0ac4394-7e4a-4409-9701-ba8be283dbc3'] });
    expect(neutronBodies('POST', '/v2.0/ports')).toEqual([
      {
        port: {
          network_id: NET.id,
          tenant_id: PROJECT,
          device_id: CONTAINER.uuid,
          device_owner: 'compute:kuryr',
          'binding:host_id': HOST,
          fixed_ips: [{ ip_address: '10.0.0.5' }],
          security_groups: ['f0ac4394-7e4a-4409-9701-ba8be283dbc3'],
        },
      },
    ]);
    expect(ep).toEqual({
      networkMode: NET.id,
      endpointsConfig: { [NET.id]: { IPAMConfig: { IPv4Address: '10.0.0.5', IPv6Address: 'fdf8:f53b:82e4:0:f816:3eff:fec9:cbf0' } } },
      macAddress: 'fa:16:3e:c9:cb:f0',
      addresses: [
        { addr: '10.0.0.5', version: 4, port: BOUND_PORT, subnet_id: V4_SUBNET, preserve_on_delete: false },
        { addr: 'fdf8:f53b:82e4:0:f816:3eff:fec9:cbf0', version: 6, port: BOUND_PORT, subnet_id: V6_SUBNET, preserve_on_delete: false },
      ],
    });
    expect(neutronStub.requests.every((r) => r.headers['x-auth-token'] === 'tok-123')).toBe(true);
  });

  it('a retried first-network setup reuses the port instead of making a second one', async () => {
    await driver.endpointForCreate({ uuid: CONTAINER.uuid }, NET);
    await driver.endpointForCreate({ uuid: CONTAINER.uuid }, NET);
    expect(neutronBodies('POST', '/v2.0/ports')).toHaveLength(1);
    expect(neutronState.ports.size).toBe(1);
  });

  it('a user port is updated (device_id, owner, host) and preserved', async () => {
    const ep = await driver.endpointForCreate({ uuid: CONTAINER.uuid }, NET, { port: USER_PORT });
    expect(neutronBodies('PUT', `/v2.0/ports/${USER_PORT}`)).toEqual([
      { port: { device_id: CONTAINER.uuid, device_owner: 'compute:kuryr', 'binding:host_id': HOST } },
    ]);
    expect(neutronBodies('POST', '/v2.0/ports')).toHaveLength(0);
    expect(ep.addresses).toEqual([{ addr: '10.0.0.20', version: 4, port: USER_PORT, subnet_id: V4_SUBNET, preserve_on_delete: true }]);
    expect(ep.macAddress).toBe('fa:16:3e:11:11:5e');
  });

  it('further network: an unbound port, then POST /networks/<id>/connect with its address', async () => {
    const { addresses } = await driver.connect(CONTAINER, NET2);
    expect(neutronBodies('POST', '/v2.0/ports')).toEqual([{ port: { network_id: NET2.id, tenant_id: PROJECT, device_id: CONTAINER.uuid } }]);
    expect(dockerBodies('POST', `/networks/${NET2.id}/connect`)).toEqual([
      { Container: CONTAINER.dockerId, EndpointConfig: { IPAMConfig: { IPv4Address: '192.168.233.17' } } },
    ]);
    expect(addresses).toEqual([{ addr: '192.168.233.17', version: 4, port: UNBOUND_PORT, subnet_id: '54d6f61d-db07-451c-9ab3-b9609b6b6f0b', preserve_on_delete: false }]);
    // Zun's order: Neutron network + subnets, Docker network create, port, connect.
    expect(neutronCalls()).toEqual([
      `GET /v2.0/networks?id=${NET2.id}`,
      `GET /v2.0/subnets?network_id=${NET2.id}`,
      `GET /v2.0/ports?device_id=${CONTAINER.uuid}&network_id=${NET2.id}`,
      'POST /v2.0/ports',
    ]);
    // connecting again is a no-op
    await driver.connect(CONTAINER, NET2);
    expect(dockerBodies('POST', `/networks/${NET2.id}/connect`)).toHaveLength(1);
    expect(neutronBodies('POST', '/v2.0/ports')).toHaveLength(1);
  });

  it('a failed Docker connect deletes the port it made', async () => {
    dockerState.failConnect(true);
    const err = await driver.connect(CONTAINER, NET2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe('DOCKER_ERROR');
    expect(neutronCalls()).toContain(`DELETE /v2.0/ports/${UNBOUND_PORT}`);
    expect(neutronState.ports.size).toBe(0);
  });

  it('after a failed connect, the next one connects: the container\'s stale settings entry is not an endpoint', async () => {
    dockerState.failConnect(true);
    await expect(driver.connect(CONTAINER, NET2)).rejects.toBeInstanceOf(NetworkError);
    dockerState.failConnect(false);
    await driver.connect(CONTAINER, NET2);
    expect(dockerBodies('POST', `/networks/${NET2.id}/connect`)).toHaveLength(2);
    const [net] = [...dockerState.networks.values()];
    expect(Object.keys(net!.Containers)).toEqual([CONTAINER.dockerId]);
    expect(neutronState.ports.size).toBe(1);
  });

  it('disconnect: Docker disconnect, then Zun-made ports deleted and user ports unbound', async () => {
    const made = await driver.connect(CONTAINER, NET2);
    await driver.disconnect(CONTAINER, NET2, { addresses: made.addresses });
    expect(dockerBodies('POST', `/networks/${NET2.id}/disconnect`)).toEqual([{ Container: CONTAINER.dockerId }]);
    expect(neutronCalls().at(-1)).toBe(`DELETE /v2.0/ports/${UNBOUND_PORT}`);

    const user = [{ addr: '10.0.0.20', version: 4 as const, port: USER_PORT, subnet_id: V4_SUBNET, preserve_on_delete: true }];
    await driver.disconnect(CONTAINER, NET, { addresses: user });
    expect(neutronCalls().slice(-2)).toEqual([`GET /v2.0/ports?id=${USER_PORT}`, `PUT /v2.0/ports/${USER_PORT}`]);
    // binding:profile kept, minus the PCI keys (neutron.py _unbind_port)
    expect(neutronBodies('PUT', `/v2.0/ports/${USER_PORT}`).at(-1)).toEqual({
      port: { device_id: '', device_owner: '', 'binding:host_id': null, 'binding:profile': { trusted: true } },
    });
  });

  it('disconnect without recorded addresses unbinds (never deletes) what it finds', async () => {
    await driver.connect(CONTAINER, NET2);
    await driver.disconnect(CONTAINER, NET2);
    expect(neutronCalls().filter((c) => c.startsWith('DELETE'))).toEqual([]);
    expect(neutronCalls()).toContain(`PUT /v2.0/ports/${UNBOUND_PORT}`);
  });

  it('deleting a port that is already gone is not an error', async () => {
    const gone = [{ addr: '10.0.0.9', version: 4 as const, port: BOUND_PORT, subnet_id: V4_SUBNET, preserve_on_delete: false }];
    await expect(driver.disconnect(CONTAINER, NET, { addresses: gone })).resolves.toBeUndefined();
    expect(neutronCalls()).toContain(`DELETE /v2.0/ports/${BOUND_PORT}`);
  });

  it('removes the network only when no container, running or stopped, is on it, and lists its networks', async () => {
    await driver.connect(CONTAINER, NET2);
    expect(await driver.listNetworks()).toEqual([
      expect.objectContaining({ networkId: NET2.id, dockerNetworkName: NET2.id, containers: [CONTAINER.dockerId] }),
    ]);
    expect(await driver.removeNetworkIfUnused(NET2)).toEqual({ removed: false });
    // Stopped, the container has no endpoint but its settings name the network: still in use.
    dockerState.stop(CONTAINER.dockerId);
    expect(await driver.removeNetworkIfUnused(NET2)).toEqual({ removed: false });
    expect((await driver.listNetworks())[0]?.containers).toEqual([CONTAINER.dockerId]);
    await driver.connect(CONTAINER, NET2);
    await driver.disconnect(CONTAINER, NET2, { addresses: [] });
    expect(await driver.removeNetworkIfUnused(NET2)).toEqual({ removed: true });
    expect(dockerCalls()).toContain(`DELETE /networks/${NET2.id}`);
    expect(await driver.removeNetworkIfUnused(NET2)).toEqual({ removed: true });
  });

  it('maps Neutron error bodies to OpenStackApiError', async () => {
    const neutron = createNeutronClient({ endpoint: neutronStub.url, auth: staticToken('tok-123'), log });
    const e = await neutron.deletePort('no-such-port').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenStackApiError);
    expect(e).toMatchObject({ code: 'NOT_FOUND', status: 404, type: 'PortNotFound' });
    const bad = createNeutronClient({ endpoint: neutronStub.url, auth: staticToken('wrong'), log });
    await expect(bad.listNetworks({ id: NET.id })).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });

  it('is chosen by NETWORK_DRIVER=kuryr', async () => {
    const config = parseNetworkConfig({ NETWORK_DRIVER: 'kuryr', NEUTRON_URL: neutronStub.url, OS_TOKEN: 'tok-123' });
    const d = createNetworkDriver(config, { docker: new Docker({ host: '127.0.0.1', port: dockerStub.port, protocol: 'http' }), host: HOST, log });
    expect(d.kind).toBe('kuryr');
    await d.ensureNetwork(NET2);
    expect(dockerBodies('POST', '/networks/create')).toHaveLength(1);
    expect(parseNetworkConfig({})).toEqual({ driver: 'bridge', isolate: true });
    expect(() => parseNetworkConfig({ NETWORK_DRIVER: 'kuryr' })).toThrow(/NEUTRON_URL/);
    expect(() => parseNetworkConfig({ NETWORK_DRIVER: 'flannel' })).toThrow(/bridge or kuryr/);
  });
});
