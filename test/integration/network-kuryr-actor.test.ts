/**
 * The kuryr network driver exercised THROUGH THE HOST ACTOR: the real
 * services as processes (gateway in noauth mode, projector, placement, one
 * host actor with NETWORK_DRIVER=kuryr), their own nats-server and etcd, the
 * real dockerd, driven through Zun's REST API.
 *
 * Neither Neutron nor kuryr-libnetwork runs here:
 * - Neutron's API is a loopback stub answering with RECORDED responses
 *   (test/fixtures/neutron, test/support/neutron-stub.ts) that keeps the
 *   ports it creates;
 * - in kuryr-libnetwork's place, dockerd talks to a test libnetwork remote
 *   network + IPAM plugin (test/support/libnetwork-plugin.ts) on
 *   /run/docker/plugins/<name>.sock: per network a Linux bridge with no
 *   address on the host, per endpoint a veth pair, IPAM that hands out the
 *   address it is asked for (the Neutron port's).
 * Everything between them is real: the host actor's Docker network create
 * with Zun's options, the Neutron port calls, the container create pinned
 * to the port's IP and MAC, the veth in the container, traffic between the
 * two containers (only them: the bridge has no way out), and the clean-up.
 *
 * The gateway does not ask Neutron for a registered network's subnet: it
 * hands out its own /24s from NETWORK_CIDR_POOL and checks fixed IPs
 * against them, so the pool is 192.168.232.0/23 and the networks are
 * registered in an order that gives kuryr-net the recorded subnet
 * (192.168.233.0/24).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { startLibnetworkPlugin, type LibnetworkPlugin } from '../support/libnetwork-plugin.js';
import { startNeutronStub, type NeutronStub } from '../support/neutron-stub.js';
import { dockerAvailable } from '../support/servers.js';
import { zunApi } from '../support/zun-api.js';
import { dockerExec, inspectLabelled } from '../support/docker.js';
import { KURYR_DEVICE_OWNER } from '../../services/host-actor/network/kuryr.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const HOST = `kuryr-${RUN}`;
const PLUGIN = `kuryrtest${process.pid}`;
const LINK_PREFIX = `kt${(process.pid % 36 ** 4).toString(36)}`;
const STATE = mkdtempSync(join(tmpdir(), 'zun-kuryr-actor-'));
const TOKEN = 'recorded-token';
// test/fixtures/neutron/networks-list-shared.json and subnets-list-v4.json
const NEUTRON_NET = '9b0d3c4e-2f5a-4d6b-8e7f-0a1b2c3d4e5f';
const SUBNET = '54d6f61d-db07-451c-9ab3-b9609b6b6f0b';
const CIDR = '192.168.233.0/24';
// networks-list.json and subnets-list-v4v6.json: a project network with a v4 and a v6 subnet, for network_attach.
const PRIVATE_NET = '4e8e5957-649f-477b-9e5b-f1f75b21c03c';
const PRIVATE_V4 = 'a0304c3a-4f08-4c43-88af-d796509c97d2';
const PRIVATE_V6 = 'c1b3f5a6-0b1e-4b9a-9b43-7a1f7a5b3c21';
const GATEWAY = '192.168.233.1';
const FIXED_IP = '192.168.233.50';

let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
let neutron: NeutronStub;
let plugin: LibnetworkPlugin;

const { api, until, run } = zunApi(() => cluster.gatewayUrl);

const runContainer = (body: Record<string, unknown>) => run({ host: HOST, ...body });

const dockerOf = (uuid: string) => inspectLabelled(docker, uuid);

const exec = (dockerId: string, cmd: string[]) => dockerExec(docker, dockerId, cmd);

/** The Docker network named by a Neutron id, if it is this run's (driver = our plugin). */
async function kuryrNetwork(neutronNet = NEUTRON_NET) {
  const found = await docker.listNetworks({ filters: { name: [neutronNet] } });
  return found.find((n) => n.Name === neutronNet && n.Driver === PLUGIN) ?? null;
}

const portOf = (uuid: string) => [...neutron.state.ports.values()].find((p) => p['device_id'] === uuid);

beforeAll(async () => {
  expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock (bash scripts/servers.sh start)').toBe(true);
  expect(process.getuid?.(), 'the plugin makes bridges and veths, and listens in /run/docker/plugins: root').toBe(0);
  for (const id of [NEUTRON_NET, PRIVATE_NET]) {
    const clash = (await docker.listNetworks({ filters: { name: [id] } })).find((n) => n.Name === id);
    expect(clash, `a Docker network named ${id} exists already (driver ${clash?.Driver}): a leftover of an earlier run?`).toBeUndefined();
  }
  neutron = await startNeutronStub({ token: TOKEN });
  plugin = await startLibnetworkPlugin({ name: PLUGIN, linkPrefix: LINK_PREFIX });
  cluster = await startCluster({
    hosts: [],
    hostEnv: { RESYNC_SECONDS: '2', HOST_CPUS: '8', HOST_MEMORY_MIB: '8192', HOST_LEASE_TTL: '10' },
    // The gateway asks Neutron for ports that are not its own (`nets: [{"port": ...}]`), as Zun's API does.
    gatewayEnv: { NETWORK_CIDR_POOL: '192.168.232.0/23', NEUTRON_URL: neutron.endpoint, OS_TOKEN: TOKEN },
  });
  cluster.addHostActor(HOST, {
    STATE_DIR: join(STATE, 'host'),
    NETWORK_DRIVER: 'kuryr',
    NEUTRON_URL: neutron.endpoint,
    OS_TOKEN: TOKEN,
    KURYR_DRIVER_NAME: PLUGIN,
  });
  await cluster.ready([HOST]);
}, 180_000);

afterAll(async () => {
  if (process.env['E2E_DUMP']) for (const s of cluster?.services.values() ?? []) console.log(`--- ${s.name}\n${s.output().slice(-8000)}`);
  // Containers first (their endpoints leave through the plugin), then the network while the plugin still answers.
  await cluster?.stop();
  for (const id of [NEUTRON_NET, PRIVATE_NET]) {
    const net = await kuryrNetwork(id).catch(() => null);
    if (net) await docker.getNetwork(net.Id).remove().catch((e: unknown) => console.error(`could not remove Docker network ${id}: ${String(e)}`));
  }
  await plugin?.close();
  await neutron?.close();
  rmSync(STATE, { recursive: true, force: true });
}, 120_000);

describe('kuryr networks through the host actor', () => {
  it('a Neutron network: Docker network with Zun options on the plugin, Neutron ports pinned as IP and MAC, traffic between the containers, all released on delete', async () => {
    // First the one for the network_attach test below: the gateway gives it the pool's first /24.
    const other = await api('POST', '/v1/networks', { name: 'private', neutron_net_id: PRIVATE_NET });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    const reg = await api('POST', '/v1/networks', { name: 'kuryr-net', neutron_net_id: NEUTRON_NET });
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    expect(reg.body).toMatchObject({ name: 'kuryr-net', neutron_net_id: NEUTRON_NET });

    const a = await runContainer({ name: 'kuryr-a', nets: [{ network: 'kuryr-net', 'v4-fixed-ip': FIXED_IP }] });
    const b = await runContainer({ name: 'kuryr-b', nets: [{ network: 'kuryr-net' }] });
    await Promise.all([until(a, 'Running'), until(b, 'Running')]);

    // The Docker network: named by the Neutron id, on the plugin, with exactly Zun's options.
    const net = await kuryrNetwork();
    expect(net, 'the kuryr Docker network').not.toBeNull();
    const full = await docker.getNetwork(net!.Id).inspect();
    expect(full.Driver).toBe(PLUGIN);
    expect(full.Options).toEqual({ 'neutron.net.uuid': NEUTRON_NET, 'neutron.net.shared': 'True', 'neutron.subnet.uuid': SUBNET });
    expect(full.IPAM).toMatchObject({ Driver: PLUGIN, Options: { 'neutron.net.shared': 'True', 'neutron.subnet.uuid': SUBNET }, Config: [{ Subnet: CIDR, Gateway: GATEWAY }] });
    expect(full.EnableIPv6).toBe(false);
    // ... and that is what reached the plugin: the IPAM options and the network's generic options.
    const pools = plugin.callsOf('IpamDriver.RequestPool');
    expect(pools).toHaveLength(1);
    expect(pools[0]!.body).toMatchObject({ Pool: CIDR, Options: { 'neutron.subnet.uuid': SUBNET, 'neutron.net.shared': 'True' }, V6: false });
    const creates = plugin.callsOf('NetworkDriver.CreateNetwork');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.body.Options['com.docker.network.generic']).toEqual({ 'neutron.net.uuid': NEUTRON_NET, 'neutron.net.shared': 'True', 'neutron.subnet.uuid': SUBNET });
    expect(creates[0]!.body.IPv4Data).toEqual([expect.objectContaining({ Pool: CIDR, Gateway: `${GATEWAY}/24` })]);

    // Neutron: one port per container, as Zun creates it for a first network.
    const reqs = neutron.createRequests();
    expect(reqs).toHaveLength(2);
    for (const uuid of [a, b]) {
      expect(reqs.find((r) => r['device_id'] === uuid)).toMatchObject({
        network_id: NEUTRON_NET,
        tenant_id: 'default',
        device_owner: KURYR_DEVICE_OWNER,
        'binding:host_id': HOST,
      });
    }
    expect(reqs.find((r) => r['device_id'] === a)!['fixed_ips']).toEqual([{ ip_address: FIXED_IP }]);
    expect(reqs.find((r) => r['device_id'] === b)!['fixed_ips']).toBeUndefined();
    const portA = portOf(a)!;
    const portB = portOf(b)!;
    expect(portA.fixed_ips).toEqual([{ ip_address: FIXED_IP, subnet_id: SUBNET }]);
    const ipA = FIXED_IP;
    const ipB = portB.fixed_ips[0].ip_address as string;
    expect(ipB).toMatch(/^192\.168\.233\.\d+$/);
    expect(ipB).not.toBe(ipA);

    // Docker (and the container's own eth0): the port's IP and MAC.
    const da = await dockerOf(a);
    const db = await dockerOf(b);
    for (const [d, port, ip] of [[da, portA, ipA], [db, portB, ipB]] as const) {
      expect(Object.keys(d.NetworkSettings.Networks)).toEqual([NEUTRON_NET]);
      const ep = d.NetworkSettings.Networks[NEUTRON_NET]!;
      expect(ep.IPAddress).toBe(ip);
      expect(ep.MacAddress).toBe(port.mac_address);
      expect(ep.Gateway).toBe(GATEWAY);
      const eth0 = await exec(d.Id, ['sh', '-c', 'cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0; ls /sys/class/net']);
      expect(eth0.code, eth0.out).toBe(0);
      const [mac, addr, ...ifaces] = eth0.out.trim().split('\n');
      expect(mac).toBe(port.mac_address);
      expect(addr).toContain(`inet ${ip}/24`);
      // Only its kuryr interface: no docker_gwbridge endpoint (the plugin gave a gateway).
      expect(ifaces.sort()).toEqual(['eth0', 'lo']);
    }
    // The plugin's IPAM was asked for exactly the ports' addresses; its endpoints got the ports' MACs.
    const asked = plugin.callsOf('IpamDriver.RequestAddress').filter((c) => c.body.Options?.['RequestAddressType'] === undefined).map((c) => c.body.Address);
    expect(asked.sort()).toEqual([ipA, ipB].sort());
    const macs = plugin.callsOf('NetworkDriver.CreateEndpoint').map((c) => c.body.Interface.MacAddress);
    expect(macs.sort()).toEqual([portA.mac_address, portB.mac_address].sort());
    expect(plugin.callsOf('NetworkDriver.Join')).toHaveLength(2);

    // Zun's view: addresses keyed by the Neutron net id, with the port ids.
    for (const [uuid, port, ip] of [[a, portA, ipA], [b, portB, ipB]] as const) {
      const view = await waitFor(`addresses of ${uuid}`, async () => {
        const v = (await api('GET', `/v1/containers/${uuid}`)).body;
        return Object.keys(v.addresses ?? {}).length > 0 ? v : undefined;
      });
      expect(view.addresses).toEqual({ [NEUTRON_NET]: [{ addr: ip, version: 4, port: port.id, subnet_id: SUBNET, preserve_on_delete: false }] });
    }

    // Traffic: between the two containers over the plugin's bridge; nothing answers beyond it.
    expect((await exec(da.Id, ['ping', '-c', '1', '-W', '2', ipB])).code).toBe(0);
    expect((await exec(db.Id, ['ping', '-c', '1', '-W', '2', ipA])).code).toBe(0);
    expect((await exec(da.Id, ['ping', '-c', '1', '-W', '1', GATEWAY])).code).not.toBe(0);
    const links = await plugin.links();
    expect(links.filter((l) => l.startsWith(`${LINK_PREFIX}b`))).toHaveLength(1);
    expect(links.filter((l) => l.startsWith(`${LINK_PREFIX}h`))).toHaveLength(2);

    // Delete both: the ports go from Neutron, the endpoints from the plugin, the Docker network once unused.
    for (const u of [a, b]) expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await Promise.all([until(a, 'gone'), until(b, 'gone')]);
    await waitFor('the Neutron ports deleted', async () => neutron.state.ports.size === 0 || undefined, 30_000, 250);
    expect(neutron.state.deleted.sort()).toEqual([portA.id, portB.id].sort());
    await waitFor('the kuryr Docker network removed once unused', async () => (await kuryrNetwork()) === null || undefined, 30_000, 500);
    expect(plugin.callsOf('NetworkDriver.Leave')).toHaveLength(2);
    expect(plugin.callsOf('NetworkDriver.DeleteEndpoint')).toHaveLength(2);
    // dockerd drops the network from its list before it tells the driver.
    await waitFor('the plugin told to delete the network', async () => plugin.callsOf('NetworkDriver.DeleteNetwork').length === 1 || undefined, 10_000, 100);
    expect(plugin.callsOf('IpamDriver.ReleasePool')).toHaveLength(1);
    expect(plugin.calls.filter((c) => c.status !== 200)).toEqual([]);
    expect(await plugin.links()).toEqual([]);
  });

  it('network_attach: an unbound Neutron port and a connect (v4 + v6); network_detach deletes the port Zun made, not just unbinds it', async () => {
    const c = await runContainer({ name: 'kuryr-c', nets: [{ network: 'kuryr-net' }] });
    await until(c, 'Running');
    const first = portOf(c)!;
    expect((await api('POST', `/v1/containers/${c}/network_attach?network=private`)).status).toBe(200);
    const view = await waitFor('c on two networks', async () => {
      const v = (await api('GET', `/v1/containers/${c}`)).body;
      return Object.keys(v.addresses ?? {}).length === 2 ? v : undefined;
    }, 60_000, 250);

    // Zun's port for a further network: no device_owner, no binding (kuryr_network.py connect_container_to_network).
    const req = neutron.createRequests().find((r) => r['device_id'] === c && r['network_id'] === PRIVATE_NET)!;
    expect(req).toEqual({ network_id: PRIVATE_NET, tenant_id: 'default', device_id: c });
    const attached = [...neutron.state.ports.values()].find((p) => p['device_id'] === c && p['network_id'] === PRIVATE_NET)!;
    const [v4, v6] = attached.fixed_ips as { ip_address: string; subnet_id: string }[];
    expect(v4!.subnet_id).toBe(PRIVATE_V4);
    expect(v6!.subnet_id).toBe(PRIVATE_V6);
    expect(view.addresses[PRIVATE_NET]).toEqual([
      { addr: v4!.ip_address, version: 4, port: attached.id, subnet_id: PRIVATE_V4, preserve_on_delete: false },
      { addr: v6!.ip_address, version: 6, port: attached.id, subnet_id: PRIVATE_V6, preserve_on_delete: false },
    ]);
    const dc = await dockerOf(c);
    expect(Object.keys(dc.NetworkSettings.Networks).sort()).toEqual([NEUTRON_NET, PRIVATE_NET].sort());
    expect(dc.NetworkSettings.Networks[PRIVATE_NET]).toMatchObject({ IPAddress: v4!.ip_address, GlobalIPv6Address: v6!.ip_address });
    const privateNet = await docker.getNetwork((await kuryrNetwork(PRIVATE_NET))!.Id).inspect();
    expect(privateNet.EnableIPv6).toBe(true);
    expect(privateNet.Options).toEqual({
      'neutron.net.uuid': PRIVATE_NET,
      'neutron.net.shared': 'False',
      'neutron.subnet.uuid': PRIVATE_V4,
      'neutron.subnet.v6.uuid': PRIVATE_V6,
    });

    // network_detach: Docker disconnect, then the port Zun made is deleted (not left unbound in Neutron).
    expect((await api('POST', `/v1/containers/${c}/network_detach?network=private`)).status).toBe(202);
    await waitFor('c back on one network', async () => Object.keys((await api('GET', `/v1/containers/${c}`)).body.addresses ?? {}).length === 1 || undefined, 60_000, 250);
    expect(Object.keys((await dockerOf(c)).NetworkSettings.Networks)).toEqual([NEUTRON_NET]);
    await waitFor('the attached port deleted', async () => neutron.state.deleted.includes(attached.id) || undefined, 30_000, 250);
    expect(neutron.state.ports.has(attached.id)).toBe(false);
    expect(neutron.state.ports.get(first.id)).toMatchObject({ device_id: c, device_owner: KURYR_DEVICE_OWNER, 'binding:host_id': HOST });

    expect((await api('DELETE', `/v1/containers/${c}?stop=true`)).status).toBe(204);
    await until(c, 'gone');
    await waitFor('all Neutron ports deleted', async () => neutron.state.ports.size === 0 || undefined, 30_000, 250);
    await waitFor('both kuryr Docker networks removed', async () => ((await kuryrNetwork()) === null && (await kuryrNetwork(PRIVATE_NET)) === null) || undefined, 30_000, 500);
    // Three more: kuryr-net again for c, private, and private's v6 subnet.
    await waitFor('the plugin told to delete the networks', async () => plugin.callsOf('NetworkDriver.DeleteNetwork').length === 3 || undefined, 10_000, 100);
    expect(plugin.callsOf('IpamDriver.ReleasePool')).toHaveLength(4);
    expect(plugin.calls.filter((x) => x.status !== 200)).toEqual([]);
    expect(await plugin.links()).toEqual([]);
  });

  it('nets port=<Neutron port>: checked as Zun checks it, bound fenced, given to the container as its IP and MAC, unbound (not deleted) on delete', async () => {
    // A user's port, made in Neutron beforehand (`openstack port create --network ...`): no device yet.
    const make = async (body: Record<string, unknown>) => {
      const r = await fetch(`${neutron.endpoint}/v2.0/ports`, { method: 'POST', headers: { 'X-Auth-Token': TOKEN, 'Content-Type': 'application/json' }, body: JSON.stringify({ port: body }) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { port: Record<string, any> }).port;
    };
    const mine = await make({ network_id: NEUTRON_NET, tenant_id: 'default', name: 'web-port' });
    const theirs = await make({ network_id: NEUTRON_NET, tenant_id: 'another-project' });
    const create = (nets: unknown[]) => api('POST', '/v1/containers?run=true', { image: 'zun-base:latest', host: HOST, cpu: 0.1, memory: '32', command: ['sleep', '3600'], nets });

    // Refused as Zun refuses, before anything is appended.
    const unknown = await create([{ port: '0d9e4a1b-7c2f-4e3d-8a5b-6c7d8e9f0a1b' }]);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors[0].detail).toBe('Neutron port 0d9e4a1b-7c2f-4e3d-8a5b-6c7d8e9f0a1b could not be found.');
    const foreign = await create([{ port: theirs.id }]);
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].detail).toBe(`Port ${theirs.id} not usable for the container.`);

    // By name, as Zun's get_neutron_port takes it.
    const a = await runContainer({ name: 'kuryr-port-a', nets: [{ port: 'web-port' }] });
    // Taken at once: a second create is refused whether or not the host has bound it in Neutron yet.
    const again = await create([{ port: mine.id }]);
    expect(again.status).toBe(400);
    expect(again.body.errors[0].detail).toBe(`Port ${mine.id} is still in use.`);
    await until(a, 'Running');

    const bound = neutron.state.ports.get(mine.id)!;
    expect(bound).toMatchObject({ device_id: a, device_owner: KURYR_DEVICE_OWNER, 'binding:host_id': HOST });
    const ip = (mine.fixed_ips as { ip_address: string }[])[0]!.ip_address;
    // The addresses come with ContainerStarted, or just after it (ContainerNetworkAttached) when Docker could not be asked at the start.
    const view = await waitFor(`addresses of ${a}`, async () => {
      const v = (await api('GET', `/v1/containers/${a}`)).body;
      return Object.keys(v.addresses ?? {}).length > 0 ? v : undefined;
    });
    expect(view.addresses).toEqual({ [NEUTRON_NET]: [{ addr: ip, version: 4, port: mine.id, subnet_id: SUBNET, preserve_on_delete: true }] });
    const ep = (await dockerOf(a)).NetworkSettings.Networks[NEUTRON_NET]!;
    expect(ep.IPAddress).toBe(ip);
    expect(ep.MacAddress).toBe(mine.mac_address);
    expect(neutron.createRequests().filter((r) => r['device_id'] === a)).toEqual([]); // no port of Zun's own

    // Delete: the user's port is unbound in Neutron, not deleted; then another container can have it.
    expect((await api('DELETE', `/v1/containers/${a}?stop=true`)).status).toBe(204);
    await until(a, 'gone');
    await waitFor('the port unbound', async () => neutron.state.ports.get(mine.id)?.['device_id'] === '' || undefined, 30_000, 250);
    expect(neutron.state.deleted).not.toContain(mine.id);
    const b = await runContainer({ name: 'kuryr-port-b', nets: [{ port: mine.id }] });
    await until(b, 'Running');
    expect(neutron.state.ports.get(mine.id)).toMatchObject({ device_id: b });
    expect((await api('DELETE', `/v1/containers/${b}?stop=true`)).status).toBe(204);
    await until(b, 'gone');
    await waitFor('the port unbound again', async () => neutron.state.ports.get(mine.id)?.['device_id'] === '' || undefined, 30_000, 250);
    expect(neutron.state.ports.has(mine.id)).toBe(true);
    for (const p of [mine, theirs]) {
      const r = await fetch(`${neutron.endpoint}/v2.0/ports/${p.id}`, { method: 'DELETE', headers: { 'X-Auth-Token': TOKEN } });
      expect(r.status).toBe(204);
    }
    await waitFor('the kuryr Docker network removed', async () => (await kuryrNetwork()) === null || undefined, 30_000, 500);
  });
});
