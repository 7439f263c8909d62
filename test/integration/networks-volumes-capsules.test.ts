/**
 * Networks, volumes and capsules end to end on the real dockerd: the real
 * services as processes (gateway in noauth mode, projector, placement, host
 * actors with the bridge network driver and local-block volumes), their own
 * nats-server and etcd, everything driven through Zun's REST API (and the
 * real `openstack capsule` client), checked in Docker and on the host
 * (networks, loop devices, mounts).
 *
 * Traffic only between containers this test made, on networks this test
 * made. Subnets come from a pool picked at random in 10.100-189.0.0/16, so
 * concurrent runs on one dockerd do not collide. Everything is labelled
 * with this run's host names and removed at the end (cluster.stop()).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor, type Cluster, type ServiceProcess } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { loopDevicesOf, mountsUnder } from '../support/host-cleanup.js';
import { dockerAvailable } from '../support/servers.js';
import { zunApi } from '../support/zun-api.js';
import { dockerExec, inspectLabelled } from '../support/docker.js';
import { namedVolumeId } from '../../services/resources/ids.js';
import { bigIntToIpv6, parseCidr6 } from '../../domain/network.js';

const run = promisify(execFile);
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const H1 = `nvc-${RUN}-a`;
const H2 = `nvc-${RUN}-b`;
const STATE = mkdtempSync(join(tmpdir(), 'zun-nvc-'));
const stateOf = (h: string) => join(STATE, h);
const OCTET = 100 + Math.floor(Math.random() * 90);
const POOL = `10.${OCTET}.0.0/16`;
const V6_GLOBAL = Math.floor(Math.random() * 0xffff).toString(16);
const POOL_V6 = `fd7a:${V6_GLOBAL}:${OCTET.toString(16)}::/48`;

let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
let etcd: Etcd3;

const { api, until, run: runContainer } = zunApi(() => cluster.gatewayUrl);


const dockerOf = (uuid: string) => inspectLabelled(docker, uuid);

const exec = (dockerId: string, cmd: string[]) => dockerExec(docker, dockerId, cmd);

const networksOf = (host: string, networkId?: string) =>
  docker.listNetworks({ filters: { label: [`zun.host=${host}`, ...(networkId ? [`zun.network.id=${networkId}`] : [])] } });

async function registered(host: string): Promise<void> {
  await waitFor(`${host} registered`, async () => (await etcd.get(`zun/hosts/${host}`).string()) !== null, 60_000, 200);
}

beforeAll(async () => {
  expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock (bash scripts/servers.sh start)').toBe(true);
  cluster = await startCluster({
    hosts: [],
    hostEnv: { RESYNC_SECONDS: '2', HOST_CPUS: '8', HOST_MEMORY_MIB: '8192', HOST_LEASE_TTL: '10' },
    gatewayEnv: { NETWORK_CIDR_POOL: POOL, NETWORK_CIDR_POOL_V6: POOL_V6 },
  });
  cluster.addHostActor(H1, { STATE_DIR: stateOf(H1) });
  await cluster.ready();
  etcd = new Etcd3({ hosts: cluster.etcdEndpoint });
  await registered(H1);
}, 180_000);

afterAll(async () => {
  if (process.env['E2E_DUMP']) for (const s of cluster?.services.values() ?? []) console.log(`--- ${s.name}\n${s.output().slice(-8000)}`);
  etcd?.close();
  await cluster?.stop();
  rmSync(STATE, { recursive: true, force: true });
}, 120_000);

describe('networks through the API', () => {
  it('two containers on one bridge network reach each other at their fixed IPs; another project cannot reach them', async () => {
    const net = await api('POST', '/v1/networks', { name: 'nvc-net' });
    expect(net.status, JSON.stringify(net.body)).toBe(200);
    expect(net.body).toMatchObject({ name: 'nvc-net', project_id: 'default', network_id: null });
    const netId = net.body.neutron_net_id as string;
    const ip = (n: number) => `10.${OCTET}.0.${n}`;
    // The first network of the pool: 10.<octet>.0.0/24. Outside it: refused, nothing made.
    const bad = await api('POST', '/v1/containers', { image: 'zun-base:latest', nets: [{ network: 'nvc-net', 'v4-fixed-ip': '192.0.2.7' }] });
    expect(bad.status).toBe(400);

    const a = await runContainer({ name: 'nvc-a', host: H1, nets: [{ network: 'nvc-net', 'v4-fixed-ip': ip(10) }] });
    const b = await runContainer({ name: 'nvc-b', host: H1, nets: [{ network: 'nvc-net', 'v4-fixed-ip': ip(11) }] });
    // Another project, on its own default network.
    const other = { 'X-Project-Id': `other-${RUN}`, 'X-Roles': 'member' };
    const c = await runContainer({ name: 'nvc-c' }, other);
    await Promise.all([until(a, 'Running'), until(b, 'Running'), until(c, 'Running')]);

    // Zun's addresses shape, keyed by the Neutron net id, once the host has seen them.
    // (The network also has an IPv6 /64: Docker gives each container a dynamic v6 address too.)
    const view = await waitFor('addresses of a', async () => {
      const v = (await api('GET', `/v1/containers/${a}`)).body;
      return Object.keys(v.addresses).length > 0 ? v : undefined;
    });
    const v6 = { addr: expect.stringMatching(/:/), version: 6, port: expect.any(String), subnet_id: expect.any(String), preserve_on_delete: false };
    expect(view.addresses[netId]).toEqual([{ addr: ip(10), version: 4, port: expect.any(String), subnet_id: expect.any(String), preserve_on_delete: false }, v6]);
    const list = await api('GET', `/v1/containers/${a}/network_list`);
    expect(list.body.networks).toEqual([
      { net_id: netId, port_id: view.addresses[netId][0].port, fixed_ips: [{ subnet_id: expect.any(String), version: 4, ip_address: ip(10) }, { subnet_id: expect.any(String), version: 6, ip_address: view.addresses[netId][1].addr }] },
    ]);
    const legacy = await api('GET', `/v1/containers/${a}/network_list`, undefined, { 'OpenStack-API-Version': 'container 1.13' });
    expect(legacy.body.networks).toEqual([
      { net_id: netId, subnet_id: expect.any(String), port_id: expect.any(String), version: 4, ip_address: ip(10) },
      { net_id: netId, subnet_id: expect.any(String), port_id: expect.any(String), version: 6, ip_address: view.addresses[netId][1].addr },
    ]);

    const da = await dockerOf(a);
    const db = await dockerOf(b);
    const dc = await dockerOf(c);
    // One Docker bridge per Zun network and host, named after both.
    const bridge = `zun-${net.body.uuid}-${H1}`;
    expect(Object.keys(da.NetworkSettings.Networks)).toEqual([bridge]);
    expect(da.NetworkSettings.Networks[bridge]!.IPAddress).toBe(ip(10));
    expect(db.NetworkSettings.Networks[bridge]!.IPAddress).toBe(ip(11));
    const cIp = Object.values(dc.NetworkSettings.Networks)[0]!.IPAddress;
    expect(cIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    expect((await exec(da.Id, ['ping', '-c', '1', '-W', '2', ip(11)])).code).toBe(0);
    expect((await exec(db.Id, ['ping', '-c', '1', '-W', '2', ip(10)])).code).toBe(0);
    // Separate bridges without an address on the host: no route between projects.
    expect((await exec(da.Id, ['ping', '-c', '1', '-W', '2', cIp])).code).not.toBe(0);
    expect((await exec(dc.Id, ['ping', '-c', '1', '-W', '2', ip(10)])).code).not.toBe(0);

    // In use: the network cannot be deleted (1.27).
    expect((await api('DELETE', `/v1/networks/${netId}`)).status).toBe(409);

    // network_attach b to the project's default network, then network_detach it again.
    expect((await api('POST', `/v1/containers/${b}/network_attach?network=default`)).status).toBe(200);
    const attached = await waitFor('b on two networks', async () => {
      const v = (await api('GET', `/v1/containers/${b}`)).body;
      return Object.keys(v.addresses).length === 2 ? v : undefined;
    });
    const defaultNet = Object.keys(attached.addresses).find((k) => k !== netId)!;
    expect(Object.keys((await dockerOf(b)).NetworkSettings.Networks)).toHaveLength(2);
    expect((await api('POST', `/v1/containers/${b}/network_detach?network=${defaultNet}`)).status).toBe(202);
    await waitFor('b back on one network', async () => Object.keys((await api('GET', `/v1/containers/${b}`)).body.addresses).length === 1);
    expect(Object.keys((await dockerOf(b)).NetworkSettings.Networks)).toHaveLength(1);
    // Both are container actions (Zun's names), finished by what the host observed.
    const actions = (await api('GET', `/v1/containers/${b}/container_actions`)).body.containerActions as { action: string; request_id: string; finish_time: string | null }[];
    expect(actions.map((x) => x.action).slice(0, 2)).toEqual(['network_detach', 'network_attach']);
    for (const x of actions.slice(0, 2)) {
      const one = (await api('GET', `/v1/containers/${b}/container_actions/${x.request_id}`)).body as { events: { event: string; result: string }[] };
      expect(one.events.map((e) => [e.event, e.result])).toEqual([[`compute__do_${x.action}`, 'Success']]);
    }

    // A network_attach that Docker keeps refusing: its address is taken on the bridge by a container
    // this test made outside the system. The host gives up after a few connects: the action ends in
    // Error with Docker's reason (as in Zun), and the container runs on as it was.
    const squatter = await docker.createContainer({
      Image: 'zun-base:latest',
      Cmd: ['sleep', '300'],
      Labels: { [`zun-test-${RUN}`]: 'squatter' },
      HostConfig: { NetworkMode: bridge },
      NetworkingConfig: { EndpointsConfig: { [bridge]: { IPAMConfig: { IPv4Address: ip(50) } } } },
    });
    await squatter.start();
    try {
      const d = await runContainer({ name: 'nvc-d', host: H1 });
      await until(d, 'Running');
      expect((await api('POST', `/v1/containers/${d}/network_attach?network=nvc-net&fixed_ip=${ip(50)}`)).status).toBe(200);
      type Action = { action: string; request_id: string; finish_time: string | null; message: string | null };
      const refused = await waitFor('the attach given up', async () => {
        const all = (await api('GET', `/v1/containers/${d}/container_actions`)).body.containerActions as Action[];
        const x = all.find((y) => y.action === 'network_attach');
        return x?.finish_time ? x : undefined;
      }, 30_000);
      expect(refused.message).toMatch(/in use/i);
      const events = (await api('GET', `/v1/containers/${d}/container_actions/${refused.request_id}`)).body.events as { event: string; result: string }[];
      expect(events.map((e) => [e.event, e.result])).toEqual([['compute__do_network_attach', 'Error']]);
      const view = (await api('GET', `/v1/containers/${d}`)).body;
      expect(view.status).toBe('Running');
      expect(Object.keys(view.addresses)).not.toContain(netId);
      // Docker keeps the failed connect in the container's configuration (dockerd 20.10), and a
      // start would fail on it while the address stays taken: a stop and start still work.
      expect((await api('POST', `/v1/containers/${d}/stop`)).status).toBe(202);
      await until(d, 'Stopped');
      expect((await api('POST', `/v1/containers/${d}/start`)).status).toBe(202);
      await until(d, 'Running');
      const networks = Object.values((await dockerOf(d)).NetworkSettings.Networks);
      expect(networks.map((n) => Boolean(n.EndpointID))).toEqual([true]);
      expect((await api('DELETE', `/v1/containers/${d}?stop=true`)).status).toBe(204);
      await until(d, 'gone');
    } finally {
      await squatter.remove({ force: true });
    }

    for (const u of [a, b]) expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    expect((await api('DELETE', `/v1/containers/${c}?stop=true`, undefined, other)).status).toBe(204);
    await Promise.all([until(a, 'gone'), until(b, 'gone')]);
    expect((await api('DELETE', `/v1/networks/${netId}`)).status).toBe(204);
    // Unused Docker networks are removed by the host actor after its grace period.
    await waitFor('no network of nvc-net left on the host', async () => (await networksOf(H1, net.body.uuid)).length === 0, 30_000, 500);
  });
});

describe('a stopped container and its network', () => {
  it('keeps its Docker network through the resyncs, and starts again on it; made again when removed behind our back', async () => {
    const net = await api('POST', '/v1/networks', { name: 'nvc-stopped' });
    expect(net.status, JSON.stringify(net.body)).toBe(200);
    const netId = net.body.neutron_net_id as string;
    const bridge = `zun-${net.body.uuid}-${H1}`;
    const u = await runContainer({ name: 'nvc-stopped', host: H1, nets: [{ network: 'nvc-stopped' }] });
    await until(u, 'Running');
    const addressOn = async () => {
      const v = (await api('GET', `/v1/containers/${u}`)).body;
      return (v.addresses[netId] as { addr: string; version: number }[] | undefined)?.find((a) => a.version === 4)?.addr;
    };
    const first = await waitFor('the address recorded', addressOn);
    const subnet = first.split('.').slice(0, 3).join('.');

    expect((await api('POST', `/v1/containers/${u}/stop?timeout=1`)).status).toBe(202);
    await until(u, 'Stopped');
    // Several resyncs past the grace period (RESYNC_SECONDS=2): a network that only a stopped container is on is kept.
    await new Promise((r) => setTimeout(r, 7_000));
    expect((await networksOf(H1, net.body.uuid)).map((n) => n.Name)).toEqual([bridge]);
    expect((await api('POST', `/v1/containers/${u}/start`)).status).toBe(202);
    await until(u, 'Running');
    expect(Object.keys((await dockerOf(u)).NetworkSettings.Networks)).toEqual([bridge]);

    // Removed behind the host actor's back (Docker allows it while no container runs on it): the
    // container's configuration still names the old network, so a start fails until the host actor
    // drops that entry; the network diff then makes the network again and connects the container.
    expect((await api('POST', `/v1/containers/${u}/stop?timeout=1`)).status).toBe(202);
    await until(u, 'Stopped');
    const [old] = await networksOf(H1, net.body.uuid);
    await docker.getNetwork(old!.Id).remove();
    expect((await api('POST', `/v1/containers/${u}/start`)).status).toBe(202);
    await until(u, 'Running', 'containers', 30_000);
    const again = await waitFor('connected to the network made again', async () => {
      const nets = (await dockerOf(u)).NetworkSettings.Networks;
      return nets[bridge]?.NetworkID && nets[bridge]!.NetworkID !== old!.Id ? nets[bridge] : undefined;
    }, 30_000);
    expect(again.IPAddress.startsWith(`${subnet}.`)).toBe(true);
    await waitFor('the new address recorded', async () => ((await addressOn()) === again.IPAddress ? true : undefined), 30_000);
    expect((await api('GET', `/v1/containers/${u}`)).body.status_reason ?? null).toBeNull();

    expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await until(u, 'gone');
    expect((await api('DELETE', `/v1/networks/${netId}`)).status).toBe(204);
    // The host actor collects the bridge after its grace period, as for nvc-net above; the next test starts without it.
    await waitFor('no network of nvc-stopped left on the host', async () => (await networksOf(H1, net.body.uuid)).length === 0, 30_000, 500);
  });
});

describe('IPv6 and ports through the API', () => {
  it('a port (/v2.0/ports) and IPv6 fixed IPs: containers reach each other over IPv6 and IPv4; the port outlives its container', async () => {
    const net = await api('POST', '/v1/networks', { name: 'nvc-net6' });
    expect(net.status, JSON.stringify(net.body)).toBe(200);
    const netId = net.body.neutron_net_id as string;
    const subnets = (await api('GET', `/v2.0/subnets?network_id=${netId}`)).body.subnets as { id: string; ip_version: number; cidr: string; gateway_ip: string }[];
    expect(subnets.map((s) => s.ip_version)).toEqual([4, 6]);
    const v4 = subnets[0]!;
    const v6 = subnets[1]!;
    expect(v6.cidr).toMatch(new RegExp(`^fd7a:${V6_GLOBAL}:${OCTET.toString(16)}(:[0-9a-f]+)?::/64$`));
    const prefix4 = v4.cidr.replace(/\.0\/24$/, '');
    const base6 = parseCidr6(v6.cidr)!.base;
    const six = (hostPart: bigint) => bigIntToIpv6(base6 + hostPart);
    const portV6 = six((1n << 63n) + 0xfen);

    // A port: its addresses are decided now, from the top of each subnet.
    const created = await api('POST', '/v2.0/ports', { port: { network_id: netId, name: 'nvc-port' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const port = created.body.port as { id: string; fixed_ips: { subnet_id: string; ip_address: string }[]; mac_address: string };
    expect(port.fixed_ips.map((f) => f.ip_address)).toEqual([`${prefix4}.254`, portV6]);

    const a = await runContainer({ name: 'nvc-v6a', host: H1, nets: [{ network: 'nvc-net6', 'v4-fixed-ip': `${prefix4}.20`, 'v6-fixed-ip': six(0x20n) }] });
    const b = await runContainer({ name: 'nvc-v6b', host: H1, nets: [{ port: port.id }] });
    await Promise.all([until(a, 'Running'), until(b, 'Running')]);
    // The port is held: a second container cannot take it, and it cannot be deleted.
    const busy = await api('POST', '/v1/containers', { image: 'zun-base:latest', nets: [{ port: port.id }] });
    expect(busy.status, JSON.stringify(busy.body)).toBe(400);
    expect((await api('DELETE', `/v2.0/ports/${port.id}`)).status).toBe(400);
    expect((await api('GET', `/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: b, status: 'ACTIVE' });

    const viewA = await waitFor('addresses of a', async () => {
      const v = (await api('GET', `/v1/containers/${a}`)).body;
      return v.addresses[netId]?.length === 2 ? v : undefined;
    });
    expect(viewA.addresses[netId]).toEqual([
      { addr: `${prefix4}.20`, version: 4, port: expect.any(String), subnet_id: v4.id, preserve_on_delete: false },
      { addr: six(0x20n), version: 6, port: expect.any(String), subnet_id: v6.id, preserve_on_delete: false },
    ]);
    const viewB = await waitFor('addresses of b', async () => {
      const v = (await api('GET', `/v1/containers/${b}`)).body;
      return v.addresses[netId]?.length === 2 ? v : undefined;
    });
    expect(viewB.addresses[netId]).toEqual([
      { addr: `${prefix4}.254`, version: 4, port: port.id, subnet_id: v4.id, preserve_on_delete: true },
      { addr: portV6, version: 6, port: port.id, subnet_id: v6.id, preserve_on_delete: true },
    ]);
    expect((await api('GET', `/v1/containers/${b}/network_list`)).body.networks).toEqual([
      { net_id: netId, port_id: port.id, fixed_ips: [
        { subnet_id: v4.id, version: 4, ip_address: `${prefix4}.254` },
        { subnet_id: v6.id, version: 6, ip_address: portV6 },
      ] },
    ]);

    const da = await dockerOf(a);
    const db = await dockerOf(b);
    const bridge = `zun-${net.body.uuid}-${H1}`;
    expect(da.NetworkSettings.Networks[bridge]!.GlobalIPv6Address).toBe(six(0x20n));
    expect(db.NetworkSettings.Networks[bridge]!.MacAddress).toBe(port.mac_address);
    expect((await exec(da.Id, ['ping6', '-c', '1', '-W', '2', portV6])).code).toBe(0);
    expect((await exec(db.Id, ['ping6', '-c', '1', '-W', '2', six(0x20n)])).code).toBe(0);
    expect((await exec(db.Id, ['ping', '-c', '1', '-W', '2', `${prefix4}.20`])).code).toBe(0);

    // Another network: no IPv6 path to it either (the host holds no v6 address on the bridges, so it routes nothing).
    expect((await api('POST', '/v1/networks', { name: 'nvc-net6-other' })).status).toBe(200);
    const o = await runContainer({ name: 'nvc-v6o', host: H1, nets: [{ network: 'nvc-net6-other' }] });
    await until(o, 'Running');
    const dO = await dockerOf(o);
    const oV6 = Object.values(dO.NetworkSettings.Networks)[0]!.GlobalIPv6Address;
    expect(oV6).toContain(':');
    for (const bridgeOf of [da, dO]) {
      const id = Object.values(bridgeOf.NetworkSettings.Networks)[0]!.NetworkID as string;
      expect(readFileSync(`/proc/sys/net/ipv6/conf/br-${id.slice(0, 12)}/disable_ipv6`, 'utf8').trim()).toBe('1');
    }
    expect((await exec(da.Id, ['ping6', '-c', '1', '-W', '2', oV6])).code).not.toBe(0);
    expect((await exec(dO.Id, ['ping6', '-c', '1', '-W', '2', six(0x20n)])).code).not.toBe(0);
    expect((await api('DELETE', `/v1/containers/${o}?force=true`)).status).toBe(204);

    // The container goes; the port stays, free, and the next container gets the same addresses.
    expect((await api('DELETE', `/v1/containers/${b}?stop=true`)).status).toBe(204);
    await until(b, 'gone');
    expect((await api('GET', `/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: '', status: 'DOWN' });
    const b2 = await runContainer({ name: 'nvc-v6b2', host: H1, nets: [{ port: port.id }] });
    await until(b2, 'Running');
    await waitFor('b2 at the port\'s address', async () => (await exec(da.Id, ['ping6', '-c', '1', '-W', '1', portV6])).code === 0, 30_000, 500);

    for (const u of [a, b2]) expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await Promise.all([until(a, 'gone'), until(b2, 'gone')]);
    // A network with ports cannot be deleted; without, it can.
    expect((await api('DELETE', `/v1/networks/${netId}`)).status).toBe(409);
    expect((await api('DELETE', `/v2.0/ports/${port.id}`)).status).toBe(204);
    expect((await api('DELETE', `/v1/networks/${netId}`)).status).toBe(204);
    await waitFor('no network of nvc-net6 left on the host', async () => (await networksOf(H1, net.body.uuid)).length === 0, 30_000, 500);
  });
});

describe('volumes through the API', () => {
  it('a file written to a named volume survives its container and is there for the next one', async () => {
    const volFile = join(stateOf(H1), 'volumes', `${namedVolumeId('default', 'nvc-data')}.img`);
    const first = await runContainer({ name: 'nvc-writer', host: H1, mounts: [{ source: 'nvc-data', destination: '/data' }], command: ['sh', '-c', 'echo survived-$HOSTNAME > /data/note; sleep 3600'] });
    await until(first, 'Running');
    const d1 = await dockerOf(first);
    expect(d1.HostConfig.Binds).toEqual([`${join(stateOf(H1), 'mnt', namedVolumeId('default', 'nvc-data'))}:/data`]);
    await waitFor('the note written', async () => (await exec(d1.Id, ['cat', '/data/note'])).code === 0);
    const written = (await exec(d1.Id, ['cat', '/data/note'])).out.trim();
    expect(written).toMatch(/^survived-/);
    // In use: a second container cannot take it (Zun's VolumeInUse, 400).
    const busy = await api('POST', '/v1/containers', { image: 'zun-base:latest', mounts: [{ source: 'nvc-data', destination: '/data' }] });
    expect(busy.status, JSON.stringify(busy.body)).toBe(400);

    expect((await api('DELETE', `/v1/containers/${first}?stop=true`)).status).toBe(204);
    await until(first, 'gone');
    // Let go of on the host: unmounted, loop device detached, the data kept.
    expect(mountsUnder(join(stateOf(H1), 'mnt'))).toEqual([]);
    expect(loopDevicesOf(volFile)).toEqual([]);
    expect(existsSync(volFile)).toBe(true);

    const second = await runContainer({ name: 'nvc-reader', host: H1, mounts: [{ source: 'nvc-data', destination: '/mnt/again' }] });
    await until(second, 'Running');
    const d2 = await dockerOf(second);
    expect((await exec(d2.Id, ['cat', '/mnt/again/note'])).out.trim()).toBe(written);
    expect(loopDevicesOf(volFile)).toHaveLength(1);

    // `size`: a new volume removed with its container.
    const scratch = await runContainer({ name: 'nvc-scratch', host: H1, mounts: [{ size: 1, destination: '/scratch' }] });
    await until(scratch, 'Running');
    const bind = (await dockerOf(scratch)).HostConfig.Binds!.find((b) => b.endsWith(':/scratch'))!;
    const scratchId = bind.split(':')[0]!.split('/').pop()!;
    const scratchFile = join(stateOf(H1), 'volumes', `${scratchId}.img`);
    expect(existsSync(scratchFile)).toBe(true);
    for (const u of [second, scratch]) expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await Promise.all([until(second, 'gone'), until(scratch, 'gone')]);
    expect(existsSync(scratchFile)).toBe(false);
    expect(existsSync(volFile)).toBe(true);
    expect(loopDevicesOf(volFile)).toEqual([]);
    expect(loopDevicesOf(scratchFile)).toEqual([]);
    expect(mountsUnder(join(stateOf(H1), 'mnt'))).toEqual([]);
  });

  it('type=bind (1.23) injects the file content at the destination', async () => {
    const u = await runContainer({ name: 'nvc-inject', host: H1, mounts: [{ type: 'bind', source: Buffer.from('injected\n').toString('base64'), destination: '/etc/inj.txt' }] });
    await until(u, 'Running');
    const d = await dockerOf(u);
    expect((await exec(d.Id, ['cat', '/etc/inj.txt'])).out).toBe('injected\n');
    expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await until(u, 'gone');
    expect(existsSync(join(stateOf(H1), 'mnt', `${u}-file-0`))).toBe(false);
  });
});

const TEMPLATE = {
  capsuleVersion: 'beta',
  kind: 'capsule',
  metadata: { name: 'nvc-web', labels: { app: 'web' }, annotations: { run: RUN } },
  spec: {
    restartPolicy: 'Always',
    initContainers: [
      { image: 'zun-base:latest', command: ['sh', '-c', 'echo hello-from-init > /work/index.html'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
    ],
    containers: [
      { image: 'zun-base:latest', command: ['httpd', '-f', '-p', '8080', '-h', '/work'], volumeMounts: [{ name: 'work', mountPath: '/work' }], resources: { requests: { cpu: 0.1, memory: 32 } } },
      { image: 'zun-base:latest', command: ['sleep', '3600'], resources: { requests: { cpu: 0.1, memory: 16 } } },
    ],
    volumes: [{ name: 'work', cinder: { size: 1, autoRemove: true } }],
  },
};

describe('capsules through the API', () => {
  it('the init container fills a shared volume that the main container serves, inside the capsule\'s network namespace', async () => {
    const r = await api('POST', '/v1/capsules', { template: TEMPLATE });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.status).toBe('Creating');
    const uuid = r.body.uuid as string;
    await until(uuid, 'Running', 'capsules');
    const view = await waitFor('capsule addresses', async () => {
      const v = (await api('GET', `/v1/capsules/${uuid}`)).body;
      return Object.keys(v.addresses).length > 0 ? v : undefined;
    });
    expect(view).toMatchObject({ name: 'nvc-web', labels: { app: 'web' }, annotations: { run: RUN }, restart_policy: { Name: 'always', MaximumRetryCount: '0' }, cpu: 0.2, memory: '48' });
    expect(view.init_containers).toHaveLength(1);
    expect(view.init_containers[0]).toMatchObject({ status: 'Stopped', restart_policy: { Name: 'on-failure', MaximumRetryCount: '10' } });
    expect(view.containers.map((c: { status: string }) => c.status)).toEqual(['Running', 'Running']);
    expect(view.containers[0]).not.toHaveProperty('links');

    const members = await docker.listContainers({ all: true, filters: { label: [`zun.capsule.uuid=${uuid}`] } });
    expect(members.map((m) => m.Labels['zun.capsule.role']).sort()).toEqual(['container', 'container', 'init', 'sandbox']);
    const sandbox = members.find((m) => m.Labels['zun.capsule.role'] === 'sandbox')!;
    const sidecarUuid = view.containers[1].uuid as string;
    const sidecar = await dockerOf(sidecarUuid);
    expect(sidecar.HostConfig.NetworkMode).toBe(`container:${sandbox.Id}`);
    expect(sidecar.HostConfig.IpcMode).toBe(`container:${sandbox.Id}`);
    // The sidecar reaches the web server over the loopback of the shared namespace.
    const got = await waitFor('httpd answering', async () => {
      const e = await exec(sidecar.Id, ['wget', '-qO-', 'http://127.0.0.1:8080/']);
      return e.code === 0 ? e.out : undefined;
    });
    expect(got.trim()).toBe('hello-from-init');

    // Both views: before 1.32 the legacy shape.
    const legacy = (await api('GET', `/v1/capsules/${uuid}`, undefined, { 'OpenStack-API-Version': 'container 1.31' })).body;
    expect(legacy).toMatchObject({ meta_name: 'nvc-web', meta_labels: { app: 'web' }, restart_policy: 'always', volumes_info: {}, capsule_version: '' });
    expect(legacy).not.toHaveProperty('name');
    const listed = (await api('GET', '/v1/capsules')).body.capsules.map((c: { uuid: string }) => c.uuid);
    expect(listed).toContain(uuid);

    // Delete: everything goes, the auto-remove volume too.
    const volumeBind = (await dockerOf(view.containers[0].uuid)).HostConfig.Binds![0]!;
    const volFile = join(stateOf(H1), 'volumes', `${volumeBind.split(':')[0]!.split('/').pop()}.img`);
    expect(existsSync(volFile)).toBe(true);
    expect((await api('DELETE', `/v1/capsules/${uuid}`)).status).toBe(204);
    await until(uuid, 'gone', 'capsules');
    expect(await docker.listContainers({ all: true, filters: { label: [`zun.capsule.uuid=${uuid}`] } })).toEqual([]);
    expect(existsSync(volFile)).toBe(false);
    expect(mountsUnder(join(stateOf(H1), 'mnt'))).toEqual([]);
  });

  it('openstack capsule create --file, list, show and delete (the real client)', async () => {
    const file = join(STATE, 'capsule.json');
    const tpl = { ...TEMPLATE, metadata: { name: 'nvc-cli' }, spec: { ...TEMPLATE.spec, initContainers: [], volumes: [], containers: [{ image: 'zun-base:latest', command: ['sleep', '3600'] }] } };
    writeFileSync(file, JSON.stringify(tpl));
    const env = { ...process.env, OS_AUTH_TYPE: 'none', OS_ENDPOINT: `${cluster.gatewayUrl}/v1` };
    const osc = async (...args: string[]) => (await run('openstack', args, { env, timeout: 60_000 })).stdout;
    const created = JSON.parse(await osc('capsule', 'create', '--file', file, '-f', 'json'));
    expect(created).toMatchObject({ name: 'nvc-cli', status: 'Creating' });
    await until(created.uuid, 'Running', 'capsules');
    const list = JSON.parse(await osc('capsule', 'list', '-f', 'json')) as Record<string, unknown>[];
    expect(list.find((c) => c['uuid'] === created.uuid)).toMatchObject({ name: 'nvc-cli', status: 'Running' });
    const shown = JSON.parse(await osc('capsule', 'show', 'nvc-cli', '-f', 'json'));
    expect(shown).toMatchObject({ uuid: created.uuid, status: 'Running' });
    await osc('capsule', 'delete', 'nvc-cli');
    await until(created.uuid, 'gone', 'capsules');
  });
});

describe('crash safety: kill -9 between making a network or volume and attaching it', () => {
  let h2: ServiceProcess;
  const restartClean = async () => {
    h2 = cluster.addHostActor(H2, { STATE_DIR: stateOf(H2), CRASH_AFTER: '' });
    await registered(H2);
  };

  it('network: the restarted actor adopts the network it made, makes no second one, and runs the container', async () => {
    h2 = cluster.addHostActor(H2, { STATE_DIR: stateOf(H2), CRASH_AFTER: 'network-created' });
    await registered(H2);
    const net = await api('POST', '/v1/networks', { name: 'nvc-crashnet' });
    expect(net.status).toBe(200);
    const u = await runContainer({ name: 'nvc-crash-net', host: H2, nets: [{ network: 'nvc-crashnet' }] });
    await waitFor('H2 to kill itself', async () => h2.exited(), 60_000, 100);
    expect(await networksOf(H2, net.body.uuid)).toHaveLength(1);
    expect(await docker.listContainers({ all: true, filters: { label: [`zun.container.uuid=${u}`] } })).toEqual([]);

    await restartClean();
    await until(u, 'Running');
    expect(await networksOf(H2, net.body.uuid)).toHaveLength(1);
    const d = await dockerOf(u);
    expect(Object.keys(d.NetworkSettings.Networks)).toEqual([`zun-${net.body.uuid}-${H2}`]);
    expect(Object.values(d.NetworkSettings.Networks)[0]!.IPAddress).toMatch(new RegExp(`^10\\.${OCTET}\\.`));
    expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await until(u, 'gone');
    await waitFor('the network removed once unused', async () => (await networksOf(H2, net.body.uuid)).length === 0, 30_000, 500);
  });

  it('volume: the restarted actor reuses the loop device it attached, mounts once, and leaks nothing after delete', async () => {
    await h2.stop();
    h2 = cluster.addHostActor(H2, { STATE_DIR: stateOf(H2), CRASH_AFTER: 'volume-attached' });
    await registered(H2);
    const volFile = join(stateOf(H2), 'volumes', `${namedVolumeId('default', 'nvc-crashvol')}.img`);
    const mnt = join(stateOf(H2), 'mnt');
    const u = await runContainer({ name: 'nvc-crash-vol', host: H2, mounts: [{ source: 'nvc-crashvol', destination: '/data' }], command: ['sh', '-c', 'echo kept > /data/f; sleep 3600'] });
    await waitFor('H2 to kill itself', async () => h2.exited(), 60_000, 100);
    expect(loopDevicesOf(volFile)).toHaveLength(1);
    expect(mountsUnder(mnt)).toEqual([]);
    const device = loopDevicesOf(volFile)[0];

    await restartClean();
    await until(u, 'Running');
    expect(loopDevicesOf(volFile)).toEqual([device]);
    expect(mountsUnder(mnt)).toEqual([join(mnt, namedVolumeId('default', 'nvc-crashvol'))]);
    const d = await dockerOf(u);
    await waitFor('the file written', async () => (await exec(d.Id, ['cat', '/data/f'])).out.trim() === 'kept');

    expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
    await until(u, 'gone');
    expect(loopDevicesOf(volFile)).toEqual([]);
    expect(mountsUnder(mnt)).toEqual([]);
    expect(existsSync(volFile)).toBe(true);
  });

  it('volume locality: a container mounting a local volume is placed on the host holding its data', async () => {
    // nvc-crashvol lives on H2 (the test above). Two hosts are up; no host is asked for.
    const wrong = await api('POST', '/v1/containers', { image: 'zun-base:latest', host: H1, mounts: [{ source: 'nvc-crashvol', destination: '/data' }] });
    expect(wrong.status, JSON.stringify(wrong.body)).toBe(400);
    expect(wrong.body.errors[0].detail).toContain(`live on host ${H2}`);
    const placed: string[] = [];
    for (let i = 0; i < 2; i++) {
      const u = await runContainer({ name: `nvc-local-${i}`, mounts: [{ source: 'nvc-crashvol', destination: '/data' }], command: ['sh', '-c', 'cat /data/f; sleep 3600'] });
      await until(u, 'Running');
      const view = (await api('GET', `/v1/containers/${u}`)).body;
      placed.push(view.host as string);
      const d = await dockerOf(u);
      expect((await exec(d.Id, ['cat', '/data/f'])).out.trim()).toBe('kept');
      expect((await api('DELETE', `/v1/containers/${u}?stop=true`)).status).toBe(204);
      await until(u, 'gone');
    }
    expect(placed).toEqual([H2, H2]);
  });
});
