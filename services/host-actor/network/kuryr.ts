/**
 * NETWORK_DRIVER=kuryr: Zun's zun/network/kuryr_network.py. Zun never calls
 * Kuryr itself: it calls Neutron (ports) and the Docker network API with
 * driver and IPAM `kuryr`; kuryr-libnetwork on the host does the wiring.
 *
 * - The Docker network is named by the Neutron network id and created once
 *   per host with exactly Zun's request (see `kuryrNetworkCreateBody`).
 *   Zun adds no labels to it, and neither do we: a network is ours when its
 *   name is the Neutron id, its driver is kuryr and its options name the same
 *   Neutron network; any other network with that name is never touched.
 * - A container's first network: a Neutron port with device_owner
 *   compute:kuryr and binding:host_id, its IPs pinned in the endpoint config,
 *   its MAC as the container's (`endpointForCreate`). Further networks: a
 *   port without binding, then POST /networks/<id>/connect (`connect`); a
 *   failed connect deletes (or unbinds) the port again.
 * - Detach: POST /networks/<id>/disconnect, then the ports Zun created are
 *   deleted and user-supplied ports (preserve_on_delete) unbound.
 *
 * Beyond Zun, for crash safety: before creating a port, the port of this
 * container (device_id) on this network is looked up and reused, so a
 * retried attach never makes a second port.
 *
 * Neutron and kuryr-libnetwork do not run here: this driver is tested
 * against recorded Neutron responses, with a Docker API stub
 * (kuryr.test.ts) and through the host actor on the real dockerd with a
 * test libnetwork plugin in kuryr-libnetwork's place
 * (test/integration/network-kuryr-actor.test.ts); see README.md.
 */
import { isIPv6 } from 'node:net';
import type Docker from 'dockerode';
import type { Logger } from '../../platform/log.js';
import type { NeutronClient, NeutronNetwork, NeutronPort, NeutronSubnet, PortCreateBody } from '../../openstack/neutron-client.js';
import { OpenStackApiError, OpenStackErrorCode } from '../../openstack/openstack-http.js';
import {
  NetworkError,
  NetworkErrorCode,
  createKeyedLock,
  dockerMessage,
  dockerStatus,
  networkUsers,
  type ConnectOptions,
  type ContainerNetRef,
  type CreateEndpoint,
  type EndpointSettings,
  type ManagedNetwork,
  type NetworkAddress,
  type NetworkDriver,
  type NetworkSpec,
} from './types.js';

export const KURYR_DEVICE_OWNER = 'compute:kuryr';
export const KURYR_DRIVER_NAME = 'kuryr';

/** Docker's POST /networks/create body, key for key what docker-py sends for Zun (None values dropped). */
export interface KuryrNetworkCreateBody {
  readonly Name: string;
  readonly Driver: string;
  readonly Options: Record<string, string>;
  readonly IPAM: {
    readonly Driver: string;
    readonly Options: Record<string, string>;
    readonly Config: { readonly Subnet: string; readonly Gateway: string | null }[];
  };
  readonly EnableIPv6?: true;
}

function pickSubnet(subnets: readonly NeutronSubnet[], version: 4 | 6, netId: string): NeutronSubnet | null {
  const of = subnets.filter((s) => s.ip_version === version);
  if (of.length > 1) throw new NetworkError(NetworkErrorCode.badNeutronNetwork, `Multiple Neutron subnets exist with ip version ${version} (network ${netId})`);
  return of[0] ?? null;
}

/**
 * kuryr_network.py create_network: the Docker network-create request for a
 * Neutron network, its `shared` flag and its subnets (at most one v4, one v6).
 */
export function kuryrNetworkCreateBody(
  neutronNetId: string,
  shared: boolean,
  subnets: readonly NeutronSubnet[],
  driverName = KURYR_DRIVER_NAME,
): KuryrNetworkCreateBody {
  const v4 = pickSubnet(subnets, 4, neutronNetId);
  const v6 = pickSubnet(subnets, 6, neutronNetId);
  if (!v4 && !v6) throw new NetworkError(NetworkErrorCode.badNeutronNetwork, `The Neutron network ${neutronNetId} has no subnet`);
  const pyBool = shared ? 'True' : 'False';
  const ipamOptions: Record<string, string> = { 'neutron.net.shared': pyBool };
  const options: Record<string, string> = { 'neutron.net.uuid': neutronNetId, 'neutron.net.shared': pyBool };
  const config: { Subnet: string; Gateway: string | null }[] = [];
  if (v4) {
    ipamOptions['neutron.subnet.uuid'] = v4.id;
    config.push({ Subnet: v4.cidr, Gateway: v4.gateway_ip });
    options['neutron.subnet.uuid'] = v4.id;
  }
  if (v6) {
    ipamOptions['neutron.subnet.v6.uuid'] = v6.id;
    config.push({ Subnet: v6.cidr, Gateway: v6.gateway_ip });
    options['neutron.subnet.v6.uuid'] = v6.id;
  }
  return {
    Name: neutronNetId,
    Driver: driverName,
    Options: options,
    IPAM: { Driver: driverName, Options: ipamOptions, Config: config },
    ...(v6 ? { EnableIPv6: true as const } : {}),
  };
}

/** neutron.py create_or_update_port: the addresses of a port. */
export function portAddresses(port: NeutronPort, preserveOnDelete: boolean): NetworkAddress[] {
  return port.fixed_ips.map((ip) => ({
    addr: ip.ip_address,
    version: isIPv6(ip.ip_address) ? 6 : 4,
    port: port.id,
    subnet_id: ip.subnet_id,
    preserve_on_delete: preserveOnDelete,
  }));
}

/** docker-py create_endpoint_config(ipv4_address=, ipv6_address=). */
function endpointConfig(addresses: readonly NetworkAddress[]): EndpointSettings {
  const v4 = [...addresses].reverse().find((a) => a.version === 4)?.addr;
  const v6 = [...addresses].reverse().find((a) => a.version === 6)?.addr;
  if (!v4 && !v6) return {};
  return { IPAMConfig: { ...(v4 ? { IPv4Address: v4 } : {}), ...(v6 ? { IPv6Address: v6 } : {}) } };
}

interface DockerNetwork {
  Id: string;
  Name: string;
  Driver?: string;
  Options?: Record<string, string> | null;
  Containers?: Record<string, unknown> | null;
}

export function createKuryrNetworkDriver({
  docker,
  neutron,
  host,
  log,
  driverName = KURYR_DRIVER_NAME,
}: {
  docker: Docker;
  neutron: NeutronClient;
  /** This host's name: binding:host_id of the ports. */
  host: string;
  log: Logger;
  /** `[network] driver_name` (default kuryr). */
  driverName?: string;
}): NetworkDriver {
  const withLock = createKeyedLock();
  const isOurs = (n: DockerNetwork, netId: string): boolean =>
    n.Name === netId && n.Driver === driverName && n.Options?.['neutron.net.uuid'] === netId;

  const neutronError = (what: string, e: unknown): NetworkError =>
    e instanceof NetworkError ? e : new NetworkError(NetworkErrorCode.neutron, `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });

  async function findDockerNetwork(netId: string): Promise<DockerNetwork | null> {
    // docker-py networks(names=[...]): Docker's name filter matches substrings, so compare exactly.
    const found = (await docker.listNetworks({ filters: { name: [netId] } })) as DockerNetwork[];
    const exact = found.find((n) => n.Name === netId);
    if (!exact) return null;
    if (!isOurs(exact, netId)) throw new NetworkError(NetworkErrorCode.notOurs, `Docker network ${netId} exists but is not a ${driverName} network of Neutron network ${netId}`);
    return exact;
  }

  async function ensureUnlocked(net: NetworkSpec): Promise<{ dockerNetworkId: string; dockerNetworkName: string }> {
    const existing = await findDockerNetwork(net.id);
    if (existing) return { dockerNetworkId: existing.Id, dockerNetworkName: existing.Name };
    let network: NeutronNetwork | undefined;
    let subnets: NeutronSubnet[];
    try {
      // neutron.py get_neutron_network: list_networks(id=...), exactly one.
      const nets = await neutron.listNetworks({ id: net.id });
      if (nets.length !== 1) throw new NetworkError(NetworkErrorCode.badNeutronNetwork, `Neutron network ${net.id} ${nets.length === 0 ? 'could not be found' : 'is ambiguous'}`);
      network = nets[0];
      subnets = await neutron.listSubnets({ network_id: net.id });
    } catch (e) {
      throw neutronError(`Neutron network ${net.id}`, e);
    }
    const body = kuryrNetworkCreateBody(net.id, network!.shared, subnets, driverName);
    try {
      const created = await docker.createNetwork(body as unknown as Docker.NetworkCreateOptions);
      log.info({ network: net.id, dockerNetwork: created.id }, 'kuryr network created');
      return { dockerNetworkId: created.id, dockerNetworkName: net.id };
    } catch (e) {
      if (dockerStatus(e) === 409) {
        const again = await findDockerNetwork(net.id);
        if (again) return { dockerNetworkId: again.Id, dockerNetworkName: again.Name };
      }
      throw new NetworkError(NetworkErrorCode.docker, `create kuryr network ${net.id}: ${dockerMessage(e)}`, { cause: e });
    }
  }

  const ensureNetwork = (net: NetworkSpec) => withLock(net.id, () => ensureUnlocked(net));

  /**
   * neutron.py create_or_update_port. A user port (opts.port) gets device_id
   * (and device_owner + binding:host_id for the first network) and is
   * preserved on delete; otherwise a port is created, or the one this
   * container already has on the network is reused.
   */
  async function createOrUpdatePort(
    containerUuid: string,
    net: NetworkSpec,
    opts: ConnectOptions,
    setBindingHost: boolean,
  ): Promise<{ port: NeutronPort; addresses: NetworkAddress[] }> {
    try {
      if (opts.port) {
        const update: Record<string, unknown> = { device_id: containerUuid };
        if (setBindingHost) {
          update['device_owner'] = KURYR_DEVICE_OWNER;
          update['binding:host_id'] = host;
        }
        const port = await neutron.updatePort(opts.port, { port: update });
        return { port, addresses: portAddresses(port, true) };
      }
      const mine = await neutron.listPorts({ device_id: containerUuid, network_id: net.id });
      if (mine.length > 0) {
        log.info({ network: net.id, container: containerUuid, port: mine[0]!.id }, 'reusing the port of an earlier attempt');
        return { port: mine[0]!, addresses: portAddresses(mine[0]!, false) };
      }
      const portDict: Record<string, unknown> = { network_id: net.id, tenant_id: net.projectId, device_id: containerUuid };
      if (setBindingHost) {
        portDict['device_owner'] = KURYR_DEVICE_OWNER;
        portDict['binding:host_id'] = host;
      }
      const fixedIp = opts.v4FixedIp || opts.v6FixedIp;
      if (fixedIp) portDict['fixed_ips'] = [{ ip_address: fixedIp }];
      if (opts.securityGroups !== undefined && opts.securityGroups !== null) portDict['security_groups'] = [...opts.securityGroups];
      const port = await neutron.createPort({ port: portDict } as unknown as PortCreateBody);
      log.info({ network: net.id, container: containerUuid, port: port.id }, 'neutron port created');
      return { port, addresses: portAddresses(port, false) };
    } catch (e) {
      throw neutronError(`port for container ${containerUuid} on network ${net.id}`, e);
    }
  }

  /** neutron.py _unbind_port: clear device_id/owner/host, keep binding:profile minus PCI keys. */
  async function unbindPort(portId: string): Promise<void> {
    let profile: Record<string, unknown> = {};
    try {
      const found = await neutron.listPorts({ id: portId });
      if (found.length === 0) return;
      profile = { ...(found[0]!['binding:profile'] ?? {}) };
    } catch (e) {
      log.warn({ err: e, port: portId }, 'could not read binding:profile; unbinding with an empty one');
    }
    delete profile['pci_vendor_info'];
    delete profile['pci_slot'];
    try {
      await neutron.updatePort(portId, { port: { device_id: '', device_owner: '', 'binding:host_id': null, 'binding:profile': profile } });
    } catch (e) {
      if (e instanceof OpenStackApiError && e.code === OpenStackErrorCode.notFound) return;
      throw neutronError(`unbind port ${portId}`, e);
    }
  }

  async function deletePort(portId: string): Promise<void> {
    try {
      await neutron.deletePort(portId);
    } catch (e) {
      if (e instanceof OpenStackApiError && e.code === OpenStackErrorCode.notFound) return;
      throw neutronError(`delete port ${portId}`, e);
    }
  }

  /** neutron.py delete_or_unbind_ports over a container's addresses on one network. */
  async function releasePorts(addresses: readonly NetworkAddress[]): Promise<void> {
    const all = new Set(addresses.map((a) => a.port));
    const toDelete = new Set(addresses.filter((a) => !a.preserve_on_delete).map((a) => a.port));
    for (const id of all) {
      if (toDelete.has(id)) await deletePort(id);
      else await unbindPort(id);
    }
  }

  return {
    kind: 'kuryr',
    ensureNetwork,

    async endpointForCreate(container, net, opts = {}): Promise<CreateEndpoint> {
      await ensureNetwork(net);
      const { port, addresses } = await createOrUpdatePort(container.uuid, net, opts, true);
      return {
        networkMode: net.id,
        endpointsConfig: { [net.id]: endpointConfig(addresses) },
        macAddress: port.mac_address,
        addresses,
      };
    },

    async connect(container: ContainerNetRef, net: NetworkSpec, opts: ConnectOptions = {}) {
      await ensureNetwork(net);
      const { port, addresses } = await createOrUpdatePort(container.uuid, net, opts, false);
      // Connected means an endpoint on the network, as the network lists it (the same source as
      // listNetworks): after a failed connect dockerd 20.10 keeps the network in the container's
      // NetworkSettings.Networks without an endpoint, and taking that for connected never connects.
      let connected = false;
      try {
        const info = (await docker.getNetwork(net.id).inspect()) as DockerNetwork;
        connected = Object.keys(info.Containers ?? {}).some((id) => id === container.dockerId || id.startsWith(container.dockerId));
      } catch (e) {
        if (dockerStatus(e) !== 404) throw new NetworkError(NetworkErrorCode.docker, `inspect network ${net.id}: ${dockerMessage(e)}`, { cause: e });
      }
      if (!connected) {
        const ipam = endpointConfig(addresses).IPAMConfig;
        try {
          // docker-py connect_container_to_network(container, net, ipv4_address=, ipv6_address=)
          await docker.getNetwork(net.id).connect({ Container: container.dockerId, EndpointConfig: ipam ? { IPAMConfig: ipam } : {} });
        } catch (e) {
          // kuryr_network.py do_port_cleanup: the port must not outlive a failed connect.
          try {
            if (addresses[0]?.preserve_on_delete) await unbindPort(port.id);
            else await deletePort(port.id);
          } catch (cleanup) {
            log.error({ err: cleanup, port: port.id }, 'port cleanup after a failed connect failed');
          }
          throw new NetworkError(NetworkErrorCode.docker, `connect ${container.dockerId} to ${net.id}: ${dockerMessage(e)}`, { cause: e });
        }
        log.info({ network: net.id, container: container.uuid, port: port.id }, 'container connected');
      }
      return { addresses };
    },

    async disconnect(container, net, opts = {}) {
      try {
        try {
          await docker.getNetwork(net.id).disconnect({ Container: container.dockerId });
        } catch (e) {
          const status = dockerStatus(e);
          if (!(status === 404 || /is not connected/i.test(dockerMessage(e)))) {
            throw new NetworkError(NetworkErrorCode.docker, `disconnect ${container.dockerId} from ${net.id}: ${dockerMessage(e)}`, { cause: e });
          }
        }
      } finally {
        if (opts.addresses) {
          await releasePorts(opts.addresses);
        } else {
          // No record of which ports Zun made: never delete what might be a user's port; unbind them.
          const found = await neutron.listPorts({ device_id: container.uuid, network_id: net.id }).catch((e: unknown) => {
            throw neutronError(`ports of ${container.uuid}`, e);
          });
          if (found.length > 0) log.warn({ network: net.id, container: container.uuid, ports: found.map((p) => p.id) }, 'no recorded addresses: unbinding ports instead of deleting them');
          for (const p of found) await unbindPort(p.id);
        }
      }
    },

    async release(_container, _net, { addresses }) {
      await releasePorts(addresses);
    },

    async addresses(container, net) {
      try {
        const ports = await neutron.listPorts({ device_id: container.uuid, network_id: net.id });
        // Whether a port was the user's is not visible in Neutron: the network's user port (as the bridge
        // driver marks it), else the recorded addresses are authoritative for that.
        return ports.flatMap((p) => portAddresses(p, Boolean(net.port) && p.id === net.port));
      } catch (e) {
        throw neutronError(`ports of ${container.uuid}`, e);
      }
    },

    removeNetworkIfUnused(net) {
      return withLock(net.id, async () => {
        const existing = await findDockerNetwork(net.id);
        if (!existing) return { removed: true };
        const full = (await docker.getNetwork(existing.Id).inspect()) as DockerNetwork;
        if ((await networkUsers(docker, full)).length > 0) return { removed: false };
        try {
          // kuryr_network.py remove_network: docker.remove_network(<name>)
          await docker.getNetwork(net.id).remove();
        } catch (e) {
          const status = dockerStatus(e);
          if (status === 404) return { removed: true };
          if (status === 403 || /active endpoints/i.test(dockerMessage(e))) return { removed: false };
          throw new NetworkError(NetworkErrorCode.docker, `remove network ${net.id}: ${dockerMessage(e)}`, { cause: e });
        }
        log.info({ network: net.id }, 'kuryr network removed');
        return { removed: true };
      });
    },

    async listNetworks(): Promise<ManagedNetwork[]> {
      const found = (await docker.listNetworks({ filters: { driver: [driverName] } })) as DockerNetwork[];
      const out: ManagedNetwork[] = [];
      for (const n of found) {
        if (!isOurs(n, n.Name)) continue;
        const full = (await docker.getNetwork(n.Id).inspect()) as DockerNetwork;
        out.push({ networkId: n.Name, dockerNetworkId: n.Id, dockerNetworkName: n.Name, containers: await networkUsers(docker, full) });
      }
      return out;
    },
  };
}
