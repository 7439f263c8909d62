/**
 * The bridge network driver on the machine's real dockerd (--iptables=false):
 * two containers on one network with fixed IPs reach each other, a container
 * on another network does not, attach and detach work, and the network goes
 * away when unused. Traffic only between containers this test creates.
 * Everything is labelled with this run's host name and removed afterwards.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/platform/log.js';
import { bridgeNetworkName, checkBridgeForwarding, createBridgeNetworkDriver, INHIBIT_IPV4_OPTION } from '../../services/host-actor/network/bridge.js';
import { NETWORK_LABELS, type ContainerNetRef, type NetworkDriver, type NetworkSpec } from '../../services/host-actor/network/types.js';
import { dockerAvailable } from '../support/servers.js';
import { removeLabelledContainers } from '../support/host-cleanup.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const log = createLogger('network-bridge-test', 'silent');
const HOST = `nettest-${randomUUID().slice(0, 8)}`;
const TEST_LABEL = 'zun.test.run';
const octet = 1 + Math.floor(Math.random() * 250);
const NET_A: NetworkSpec = { id: randomUUID(), name: 'a', projectId: 'p1', cidr: `10.231.${octet}.0/24`, gateway: `10.231.${octet}.1` };
const NET_B: NetworkSpec = { id: randomUUID(), name: 'b', projectId: 'p1', cidr: `10.232.${octet}.0/24`, gateway: `10.232.${octet}.1` };
const ip = (net: NetworkSpec, host: number) => net.cidr!.replace(/\.0\/24$/, `.${host}`);

let driver: NetworkDriver;

async function run(net: NetworkSpec, fixedIp: string): Promise<ContainerNetRef> {
  const uuid = randomUUID();
  const ep = await driver.endpointForCreate({ uuid }, net, { v4FixedIp: fixedIp });
  const c = await docker.createContainer({
    name: `zun-${uuid}`,
    Image: 'zun-base:latest',
    Cmd: ['sleep', '600'],
    Labels: { 'zun.managed': 'true', 'zun.host': HOST, 'zun.container.uuid': uuid, [TEST_LABEL]: HOST },
    HostConfig: { Init: true, NetworkMode: ep.networkMode },
    NetworkingConfig: { EndpointsConfig: ep.endpointsConfig as Docker.EndpointsConfig },
  });
  await c.start();
  return { dockerId: c.id, uuid };
}

/** Runs a command in the container; its exit code. */
async function exec(ref: ContainerNetRef, cmd: string[]): Promise<number> {
  const e = await docker.getContainer(ref.dockerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.resume();
  });
  for (let i = 0; i < 50; i++) {
    const info = await e.inspect();
    if (!info.Running) return info.ExitCode ?? -1;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`exec ${cmd.join(' ')} did not finish`);
}

const ping = (from: ContainerNetRef, to: string) => exec(from, ['ping', '-c', '1', '-W', '2', to]);

async function cleanup(): Promise<void> {
  await removeLabelledContainers(`${TEST_LABEL}=${HOST}`);
  const ns = await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.host}=${HOST}`] } });
  await Promise.all(ns.map((n) => docker.getNetwork(n.Id).remove().catch(() => {})));
  const foreign = await docker.listNetworks({ filters: { label: [`${TEST_LABEL}=${HOST}`] } });
  await Promise.all(foreign.map((n) => docker.getNetwork(n.Id).remove().catch(() => {})));
}

describe('bridge network driver on the real dockerd', () => {
  let c1: ContainerNetRef;
  let c2: ContainerNetRef;
  let c3: ContainerNetRef;

  beforeAll(async () => {
    expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock (bash scripts/servers.sh start)').toBe(true);
    driver = createBridgeNetworkDriver({ docker, host: HOST, log });
    c1 = await run(NET_A, ip(NET_A, 10));
    c2 = await run(NET_A, ip(NET_A, 11));
    c3 = await run(NET_B, ip(NET_B, 12));
  });

  afterAll(async () => {
    await cleanup();
  });

  it('same-bridge traffic can pass on this host (bridge-nf / FORWARD policy)', async () => {
    const r = await checkBridgeForwarding();
    expect(r.ok, r.message).toBe(true);
  });

  it('creates one labelled, isolated bridge per network with the requested IPAM', async () => {
    const [a] = await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.network}=${NET_A.id}`] } });
    const info = await docker.getNetwork(a!.Id).inspect();
    expect(info.Name).toBe(bridgeNetworkName(NET_A.id, HOST));
    expect(info.Driver).toBe('bridge');
    expect(info.Labels).toMatchObject({ 'zun.managed': 'true', 'zun.network.id': NET_A.id, 'zun.host': HOST, 'zun.project.id': 'p1' });
    // Docker's dynamic addresses come from the lower half; the upper half is for ports.
    expect(info.IPAM?.Config).toEqual([{ Subnet: NET_A.cidr, Gateway: NET_A.gateway, IPRange: NET_A.cidr!.replace(/\/24$/, '/25') }]);
    expect(info.Options?.[INHIBIT_IPV4_OPTION]).toBe('true');
    expect(Object.keys(info.Containers ?? {}).sort()).toEqual([c1.dockerId, c2.dockerId].sort());
    const listed = await driver.listNetworks();
    expect(listed.map((n) => n.networkId).sort()).toEqual([NET_A.id, NET_B.id].sort());
  });

  it('gives the fixed IPs, reported as Zun addresses', async () => {
    const addrs = await driver.addresses(c1, NET_A);
    expect(addrs).toEqual([{ addr: ip(NET_A, 10), version: 4, port: expect.stringMatching(/^[0-9a-f]{64}$/), subnet_id: NET_A.id, preserve_on_delete: false }]);
  });

  it('containers on one network reach each other; other networks and the host gateway do not', async () => {
    expect(await ping(c1, ip(NET_A, 11))).toBe(0);
    expect(await ping(c2, ip(NET_A, 10))).toBe(0);
    expect(await ping(c1, ip(NET_B, 12))).not.toBe(0);
    expect(await ping(c3, ip(NET_A, 10))).not.toBe(0);
    expect(await ping(c1, NET_A.gateway!)).not.toBe(0);
  });

  it('attaches a running container to a second network with a fixed IP, idempotently', async () => {
    const { addresses } = await driver.connect(c3, NET_A, { v4FixedIp: ip(NET_A, 12) });
    expect(addresses).toEqual([expect.objectContaining({ addr: ip(NET_A, 12), version: 4, subnet_id: NET_A.id })]);
    const again = await driver.connect(c3, NET_A, { v4FixedIp: ip(NET_A, 12) });
    expect(again.addresses).toEqual(addresses);
    expect(await ping(c1, ip(NET_A, 12))).toBe(0);
    expect(await ping(c3, ip(NET_A, 11))).toBe(0);
  });

  it('detaches, idempotently, and the detached container is out of reach', async () => {
    await driver.disconnect(c3, NET_A);
    await driver.disconnect(c3, NET_A);
    const info = await docker.getContainer(c3.dockerId).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([bridgeNetworkName(NET_B.id, HOST)]);
    expect(await driver.addresses(c3, NET_A)).toEqual([]);
    expect(await ping(c1, ip(NET_A, 12))).not.toBe(0);
  });

  it('refuses fixed IPs of a version the network has no subnet for', async () => {
    await expect(driver.connect(c3, { ...NET_A, cidr: null }, { v4FixedIp: '10.9.9.9' })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(driver.connect(c3, NET_A, { v6FixedIp: 'fd00::5' })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('keeps a network while containers use it and removes it when unused', async () => {
    expect(await driver.removeNetworkIfUnused(NET_A)).toEqual({ removed: false });
    await docker.getContainer(c1.dockerId).remove({ force: true });
    await docker.getContainer(c2.dockerId).remove({ force: true });
    expect(await driver.removeNetworkIfUnused(NET_A)).toEqual({ removed: true });
    expect(await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.network}=${NET_A.id}`] } })).toEqual([]);
    expect(await driver.removeNetworkIfUnused(NET_A)).toEqual({ removed: true });
    await docker.getContainer(c3.dockerId).remove({ force: true });
    expect(await driver.removeNetworkIfUnused(NET_B)).toEqual({ removed: true });
    expect(await driver.listNetworks()).toEqual([]);
  });

  it('keeps a network while a stopped container is configured with it (Docker alone would let it go)', async () => {
    const net: NetworkSpec = { id: randomUUID(), name: 'stopped', projectId: 'p3' };
    const a = await run(net, '');
    await docker.getContainer(a.dockerId).stop({ t: 0 });
    // No endpoint any more, yet the container's next start needs the network.
    expect(Object.keys((await docker.getNetwork(bridgeNetworkName(net.id, HOST)).inspect()).Containers ?? {})).toEqual([]);
    expect((await driver.listNetworks()).find((n) => n.networkId === net.id)?.containers).toEqual([a.dockerId]);
    expect(await driver.removeNetworkIfUnused(net)).toEqual({ removed: false });
    await docker.getContainer(a.dockerId).start();
    await docker.getContainer(a.dockerId).remove({ force: true });
    expect(await driver.removeNetworkIfUnused(net)).toEqual({ removed: true });
  });

  it('a subnet back in the pool: the unused bridge of the deleted network on it goes at once, a used one stays', async () => {
    const o = 1 + ((octet + 7) % 250);
    const old: NetworkSpec = { id: randomUUID(), name: 'old', projectId: 'p4', cidr: `10.233.${o}.0/24`, gateway: `10.233.${o}.1` };
    const next: NetworkSpec = { ...old, id: randomUUID(), name: 'next' };
    const a = await run(old, '');
    // In use (here by a stopped container): the subnet is refused, and the old bridge stays.
    await docker.getContainer(a.dockerId).stop({ t: 0 });
    await expect(driver.ensureNetwork(next)).rejects.toMatchObject({ code: 'SUBNET_IN_USE' });
    expect(await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.network}=${old.id}`] } })).toHaveLength(1);
    // Unused, as after its network's delete and before the grace period is over: it goes, and the new one is made.
    await docker.getContainer(a.dockerId).remove({ force: true });
    const made = await driver.ensureNetwork(next);
    expect(made.dockerNetworkName).toBe(bridgeNetworkName(next.id, HOST));
    expect(await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.network}=${old.id}`] } })).toEqual([]);
    expect(await driver.removeNetworkIfUnused(next)).toEqual({ removed: true });
  });

  it('recreates a network when it is needed again, without a cidr letting Docker pick one', async () => {
    const net: NetworkSpec = { id: randomUUID(), name: 'auto', projectId: 'p2' };
    const a = await run(net, '');
    const b = await run(net, '');
    const [addrA] = await driver.addresses(a, net);
    const [addrB] = await driver.addresses(b, net);
    expect(addrA?.addr).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await ping(a, addrB!.addr)).toBe(0);
    await docker.getContainer(a.dockerId).remove({ force: true });
    await docker.getContainer(b.dockerId).remove({ force: true });
    expect(await driver.removeNetworkIfUnused(net)).toEqual({ removed: true });
  });

  it('never touches a network that has our name but not our labels', async () => {
    const net: NetworkSpec = { id: randomUUID(), name: 'foreign', projectId: 'p1' };
    const foreign = await docker.createNetwork({ Name: bridgeNetworkName(net.id, HOST), Driver: 'bridge', Labels: { [TEST_LABEL]: HOST } });
    await expect(driver.ensureNetwork(net)).rejects.toMatchObject({ code: 'NETWORK_NOT_OURS' });
    expect(await driver.removeNetworkIfUnused(net)).toEqual({ removed: true }); // nothing of ours exists
    expect((await foreign.inspect()).Id).toBe(foreign.id);
    await foreign.remove();
  });
});
