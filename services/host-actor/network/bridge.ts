/**
 * NETWORK_DRIVER=bridge: one Docker user-defined bridge network per Zun
 * network and host, created when a container of this host first needs it and
 * removed when none uses it any more.
 *
 * Ownership is by labels: every network made here carries zun.managed=true,
 * zun.network.id=<id>, zun.host=<host> (and zun.project.id), and lookups go by
 * those labels, never by name. A network that has our name but not our labels
 * is never touched (NETWORK_NOT_OURS).
 *
 * Isolation. dockerd runs with --iptables=false here, so Docker installs no
 * isolation rules between bridges, and with ip_forward=1 the host would route
 * between any two bridges (verified: a container on one bridge network pings
 * one on another). Each bridge is therefore created with
 * com.docker.network.bridge.inhibit_ipv4=true: the bridge gets no IPv4
 * address on the host, so the containers' default gateway does not exist and
 * there is no L3 path off the bridge. Containers on the same bridge talk over
 * L2; nothing else reaches them, not even the host (verified on this machine).
 * IPv6 needs the same: Docker gives the bridge the /64's gateway address,
 * and with IPv6 forwarding on (Docker turns it on) the host routes v6
 * between bridges (verified). inhibit_ipv4 has no IPv6 twin in Docker 20.10,
 * so the driver sets disable_ipv6=1 on the bridge interface (br-<id12>):
 * the host drops its v6 address there while the bridge still forwards
 * frames between its ports (verified: same bridge pings, across bridges
 * and from the host does not). It is applied whenever the network is
 * ensured or listed (the periodic collection), since a dockerd restart
 * re-creates the interface with its address.
 * Same-bridge traffic only needs the bridge itself, unless br_netfilter
 * passes bridged frames through iptables (bridge-nf-call-iptables=1, as here):
 * then the FORWARD chain must accept them. `checkBridgeForwarding` reports
 * that; here the policy is ACCEPT.
 *
 * Addresses. A network with an IPv4 subnet gets it with Docker's dynamic
 * allocation limited to the lower half (IPRange), so the upper half is free
 * for the addresses of Zun ports (handed out from the top by the gateway);
 * fixed IPs may be anywhere in the subnet. A network with an IPv6 /64 is
 * created with EnableIPv6 and the same split (dynamic addresses from the
 * lower /65). Containers get a v4 and a v6 address then, and `addresses`
 * lists both.
 *
 * Ports. A `nets` entry naming a Zun port arrives resolved: the port's
 * addresses are the fixed IPs, and NetworkSpec.port names it; `addresses`
 * then carries the port id (preserve_on_delete true) instead of Docker's
 * endpoint id.
 *
 * Limits: a bridge is host-local (containers of one Zun network on two hosts
 * do not reach each other); Docker refuses a second network with an
 * overlapping subnet on the same dockerd (SUBNET_IN_USE), which matters only
 * when several host actors share one dockerd.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import type { Logger } from '../../platform/log.js';
import {
  NETWORK_LABELS,
  NetworkError,
  NetworkErrorCode,
  createKeyedLock,
  dockerMessage,
  dockerStatus,
  networkUsers,
  type ConnectOptions,
  type ContainerNetRef,
  type CreateEndpoint,
  type ManagedNetwork,
  type NetworkAddress,
  type NetworkDriver,
  type NetworkSpec,
} from './types.js';

/** Docker network name of a Zun network on a host: unique per host, so host actors can share a dockerd. */
export function bridgeNetworkName(netId: string, host: string): string {
  const h = host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return `zun-${netId}-${h}`;
}

export const INHIBIT_IPV4_OPTION = 'com.docker.network.bridge.inhibit_ipv4';
/** How long a found network is trusted without asking Docker again. */
const FIND_TTL_MS = 5_000;

interface DockerNetworkSummary {
  Id: string;
  Name: string;
  Driver?: string;
  EnableIPv6?: boolean;
  Labels?: Record<string, string> | null;
  Containers?: Record<string, unknown> | null;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: { Subnet?: string }[] | null } | null;
}

export function createBridgeNetworkDriver({
  docker,
  host,
  log,
  isolate = true,
  disableHostIpv6,
}: {
  docker: Docker;
  /** This host's name: goes into the zun.host label. */
  host: string;
  log: Logger;
  /** Create bridges with inhibit_ipv4, and no host IPv6 address (see the module comment). Default true. */
  isolate?: boolean;
  /** Takes the host's IPv6 off a bridge interface (default: disable_ipv6=1 in /proc/sys). */
  disableHostIpv6?: (ifname: string) => Promise<void>;
}): NetworkDriver {
  const withLock = createKeyedLock();
  const disableV6 = disableHostIpv6 ?? writeDisableIpv6;
  /** Applies the IPv6 isolation to a network of ours; a failure is logged, not thrown (the network still works). */
  async function isolateV6(n: { Id: string; Name: string; EnableIPv6?: boolean }): Promise<void> {
    if (!isolate || !n.EnableIPv6) return;
    const ifname = bridgeInterfaceName(n.Id);
    try {
      await disableV6(ifname);
    } catch (e) {
      log.warn({ dockerNetwork: n.Name, ifname, err: (e as Error).message }, 'could not take the host IPv6 address off the bridge: IPv6 traffic may be routed between networks');
    }
  }
  const labelsOf = (net: NetworkSpec): Record<string, string> => ({
    [NETWORK_LABELS.managed]: 'true',
    [NETWORK_LABELS.network]: net.id,
    [NETWORK_LABELS.host]: host,
    [NETWORK_LABELS.project]: net.projectId,
  });
  const isOurs = (n: DockerNetworkSummary, netId?: string): boolean =>
    n.Labels?.[NETWORK_LABELS.managed] === 'true' &&
    n.Labels?.[NETWORK_LABELS.host] === host &&
    (netId === undefined || n.Labels?.[NETWORK_LABELS.network] === netId);

  /**
   * Found networks, for FIND_TTL_MS: every container create and address
   * read looks its network up, and a burst of creates on one network would
   * list Docker's networks each time. Only hits are kept; removal here drops
   * the entry, and a network removed behind our back is missed for at most
   * the TTL (the create then fails and is retried).
   */
  const found = new Map<string, { n: DockerNetworkSummary; at: number }>();
  async function find(net: NetworkSpec): Promise<DockerNetworkSummary | null> {
    const hit = found.get(net.id);
    if (hit && Date.now() - hit.at < FIND_TTL_MS) return hit.n;
    const list = (await docker.listNetworks({
      filters: { label: [`${NETWORK_LABELS.network}=${net.id}`, `${NETWORK_LABELS.host}=${host}`] },
    })) as DockerNetworkSummary[];
    const n = list.find((x) => isOurs(x, net.id)) ?? null;
    if (n) found.set(net.id, { n, at: Date.now() });
    else found.delete(net.id);
    return n;
  }

  async function inspectByName(name: string): Promise<DockerNetworkSummary | null> {
    try {
      return (await docker.getNetwork(name).inspect()) as DockerNetworkSummary;
    } catch (e) {
      if (dockerStatus(e) === 404) return null;
      throw new NetworkError(NetworkErrorCode.docker, `inspect network ${name}: ${dockerMessage(e)}`, { cause: e });
    }
  }

  async function ensureUnlocked(net: NetworkSpec, retried = false): Promise<{ dockerNetworkId: string; dockerNetworkName: string }> {
    const existing = await find(net);
    if (existing) {
      await isolateV6(existing);
      return { dockerNetworkId: existing.Id, dockerNetworkName: existing.Name };
    }
    const name = bridgeNetworkName(net.id, host);
    const clash = await inspectByName(name);
    if (clash) {
      if (isOurs(clash, net.id)) return { dockerNetworkId: clash.Id, dockerNetworkName: clash.Name };
      throw new NetworkError(NetworkErrorCode.notOurs, `Docker network ${name} exists without our labels; not touching it`);
    }
    const options: Record<string, string> = isolate ? { [INHIBIT_IPV4_OPTION]: 'true' } : {};
    const config: { Subnet: string; Gateway?: string; IPRange?: string }[] = [];
    if (net.cidr) config.push({ Subnet: net.cidr, ...(net.gateway ? { Gateway: net.gateway } : {}), ...lowerHalf(net.cidr) });
    if (net.cidrV6) config.push({ Subnet: net.cidrV6, ...(net.gatewayV6 ? { Gateway: net.gatewayV6 } : {}), ...lowerHalf(net.cidrV6) });
    const body: Docker.NetworkCreateOptions = {
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      EnableIPv6: Boolean(net.cidrV6),
      IPAM: { Driver: 'default', Config: config },
      Options: options,
      Labels: labelsOf(net),
    };
    try {
      const created = await docker.createNetwork(body);
      await isolateV6({ Id: created.id, Name: name, EnableIPv6: Boolean(net.cidrV6) });
      log.info({ network: net.id, dockerNetwork: created.id, cidr: net.cidr ?? null, cidrV6: net.cidrV6 ?? null }, 'bridge network created');
      return { dockerNetworkId: created.id, dockerNetworkName: name };
    } catch (e) {
      if (dockerStatus(e) === 409) {
        const again = await find(net);
        if (again) return { dockerNetworkId: again.Id, dockerNetworkName: again.Name };
      }
      const msg = dockerMessage(e);
      if (/overlaps/i.test(msg)) {
        // A subnet goes back to the pool when its network is deleted, while the network's bridge
        // stays here until the grace period has passed: an unused bridge of ours on the subnet goes
        // now, and the create is tried once more.
        if (!retried && (await removeUnusedOnSubnets(net))) return ensureUnlocked(net, true);
        throw new NetworkError(NetworkErrorCode.subnetInUse, `subnet ${net.cidr} of network ${net.id}: ${msg}`, { cause: e });
      }
      throw new NetworkError(NetworkErrorCode.docker, `create network ${name}: ${msg}`, { cause: e });
    }
  }

  function removeNetworkIfUnused(net: NetworkSpec): Promise<{ removed: boolean }> {
    return withLock(net.id, async () => {
      found.delete(net.id);
      const existing = await find(net);
      if (!existing) return { removed: true };
      const full = (await docker.getNetwork(existing.Id).inspect()) as DockerNetworkSummary;
      if (!isOurs(full, net.id)) throw new NetworkError(NetworkErrorCode.notOurs, `network ${existing.Id} lost our labels`);
      if ((await networkUsers(docker, full)).length > 0) return { removed: false };
      try {
        found.delete(net.id);
        await docker.getNetwork(existing.Id).remove();
      } catch (e) {
        const status = dockerStatus(e);
        if (status === 404) return { removed: true };
        // 403 "has active endpoints": a container joined since the inspect.
        if (status === 403 || /active endpoints/i.test(dockerMessage(e))) return { removed: false };
        throw new NetworkError(NetworkErrorCode.docker, `remove network ${existing.Name}: ${dockerMessage(e)}`, { cause: e });
      }
      log.info({ network: net.id, dockerNetwork: existing.Id }, 'bridge network removed');
      return { removed: true };
    });
  }

  /** Removes this host's unused bridges of other networks on `net`'s subnets; whether any went. */
  async function removeUnusedOnSubnets(net: NetworkSpec): Promise<boolean> {
    const subnets = new Set([net.cidr, net.cidrV6].filter((x): x is string => Boolean(x)));
    if (subnets.size === 0) return false;
    const ours = (await docker.listNetworks({
      filters: { label: [`${NETWORK_LABELS.managed}=true`, `${NETWORK_LABELS.host}=${host}`] },
    })) as DockerNetworkSummary[];
    let removed = false;
    for (const n of ours) {
      const other = n.Labels?.[NETWORK_LABELS.network];
      if (!other || other === net.id || !isOurs(n, other)) continue;
      if (!(n.IPAM?.Config ?? []).some((c) => c.Subnet !== undefined && subnets.has(c.Subnet))) continue;
      if ((await removeNetworkIfUnused({ id: other, name: other, projectId: '' })).removed) {
        log.info({ network: net.id, stale: other, dockerNetwork: n.Id }, 'unused bridge on the same subnet removed');
        removed = true;
      }
    }
    return removed;
  }

  const ensureNetwork = (net: NetworkSpec) => withLock(net.id, () => ensureUnlocked(net));

  function checkOptions(net: NetworkSpec, opts: ConnectOptions): void {
    if (opts.v4FixedIp && !net.cidr) {
      throw new NetworkError(NetworkErrorCode.unsupported, `network ${net.id} has no cidr; Docker only accepts fixed IPs on user-configured subnets`);
    }
    if (opts.v6FixedIp && !net.cidrV6) {
      throw new NetworkError(NetworkErrorCode.unsupported, `network ${net.id} has no IPv6 subnet`);
    }
  }

  const endpointConfig = (opts: ConnectOptions): { IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } } =>
    opts.v4FixedIp || opts.v6FixedIp
      ? { IPAMConfig: { ...(opts.v4FixedIp ? { IPv4Address: opts.v4FixedIp } : {}), ...(opts.v6FixedIp ? { IPv6Address: opts.v6FixedIp } : {}) } }
      : {};

  interface InspectedNet {
    IPAddress?: string;
    GlobalIPv6Address?: string;
    EndpointID?: string;
    NetworkID?: string;
  }

  async function containerNetworks(dockerId: string): Promise<Record<string, InspectedNet> | null> {
    try {
      const info = await docker.getContainer(dockerId).inspect();
      return (info.NetworkSettings?.Networks ?? {}) as Record<string, InspectedNet>;
    } catch (e) {
      if (dockerStatus(e) === 404) return null;
      throw new NetworkError(NetworkErrorCode.docker, `inspect container ${dockerId}: ${dockerMessage(e)}`, { cause: e });
    }
  }

  function addressesFrom(entry: InspectedNet | undefined, net: NetworkSpec): NetworkAddress[] {
    if (!entry) return [];
    const port = net.port || entry.EndpointID || '';
    const preserve = Boolean(net.port);
    const out: NetworkAddress[] = [];
    if (entry.IPAddress) out.push({ addr: entry.IPAddress, version: 4, port, subnet_id: net.id, preserve_on_delete: preserve });
    if (entry.GlobalIPv6Address) out.push({ addr: entry.GlobalIPv6Address, version: 6, port, subnet_id: `${net.id}-v6`, preserve_on_delete: preserve });
    return out;
  }

  return {
    kind: 'bridge',
    ensureNetwork,

    async endpointForCreate(_container, net, opts = {}): Promise<CreateEndpoint> {
      checkOptions(net, opts);
      const { dockerNetworkName } = await ensureNetwork(net);
      return {
        networkMode: dockerNetworkName,
        endpointsConfig: { [dockerNetworkName]: endpointConfig(opts) },
        macAddress: null,
        addresses: [],
      };
    },

    async connect(container: ContainerNetRef, net: NetworkSpec, opts: ConnectOptions = {}) {
      checkOptions(net, opts);
      return withLock(net.id, async () => {
        const { dockerNetworkName } = await ensureUnlocked(net);
        const nets = await containerNetworks(container.dockerId);
        if (nets === null) throw new NetworkError(NetworkErrorCode.docker, `container ${container.dockerId} does not exist`);
        // Connected means an endpoint: after a failed connect dockerd 20.10 keeps the network in
        // the container's configuration without one (docker.ts, dropBrokenNetworkEntries), and taking
        // that for connected would never connect.
        if (!nets[dockerNetworkName]?.EndpointID) {
          try {
            await docker.getNetwork(dockerNetworkName).connect({
              Container: container.dockerId,
              EndpointConfig: endpointConfig(opts),
            });
          } catch (e) {
            throw new NetworkError(NetworkErrorCode.docker, `connect ${container.dockerId} to ${dockerNetworkName}: ${dockerMessage(e)}`, { cause: e });
          }
          log.info({ network: net.id, container: container.uuid, fixedIp: opts.v4FixedIp ?? null, fixedIpV6: opts.v6FixedIp ?? null, port: opts.port ?? null }, 'container connected');
        }
        const after = await containerNetworks(container.dockerId);
        return { addresses: addressesFrom(after?.[dockerNetworkName], net) };
      });
    },

    async disconnect(container, net) {
      await withLock(net.id, async () => {
        const existing = await find(net);
        if (!existing) return;
        const nets = await containerNetworks(container.dockerId);
        if (nets === null || !nets[existing.Name]) return;
        try {
          await docker.getNetwork(existing.Id).disconnect({ Container: container.dockerId, Force: false });
        } catch (e) {
          const status = dockerStatus(e);
          if (status === 404 || /is not connected/i.test(dockerMessage(e))) return;
          throw new NetworkError(NetworkErrorCode.docker, `disconnect ${container.dockerId} from ${existing.Name}: ${dockerMessage(e)}`, { cause: e });
        }
        log.info({ network: net.id, container: container.uuid }, 'container disconnected');
      });
    },

    async observe(container, specOf) {
      const out = new Map<string, NetworkAddress[]>();
      const nets = await containerNetworks(container.dockerId);
      if (nets === null) return out;
      let ours: Map<string, DockerNetworkSummary> | null = null;
      for (const entry of Object.values(nets)) {
        // Only active endpoints, as a network's Containers lists them (a stopped container has none).
        if (!entry.EndpointID || !entry.NetworkID) continue;
        // Docker network ids are never reused: a network once found with our labels stays ours.
        let n = [...found.values()].map((f) => f.n).find((x) => x.Id === entry.NetworkID) ?? null;
        if (!n) {
          ours ??= new Map(
            ((await docker.listNetworks({ filters: { label: [`${NETWORK_LABELS.managed}=true`, `${NETWORK_LABELS.host}=${host}`] } })) as DockerNetworkSummary[])
              .filter((x) => isOurs(x))
              .map((x) => [x.Id, x]),
          );
          n = ours.get(entry.NetworkID) ?? null;
        }
        const netId = n?.Labels?.[NETWORK_LABELS.network];
        if (!n || !netId) continue;
        out.set(netId, addressesFrom(entry, specOf(netId)));
      }
      return out;
    },

    async addresses(container, net) {
      const existing = await find(net);
      if (!existing) return [];
      const nets = await containerNetworks(container.dockerId);
      return addressesFrom(nets?.[existing.Name], net);
    },

    removeNetworkIfUnused,

    async listNetworks(): Promise<ManagedNetwork[]> {
      const found = (await docker.listNetworks({
        filters: { label: [`${NETWORK_LABELS.managed}=true`, `${NETWORK_LABELS.host}=${host}`] },
      })) as DockerNetworkSummary[];
      const out: ManagedNetwork[] = [];
      for (const n of found.filter((x) => isOurs(x))) {
        try {
          const full = (await docker.getNetwork(n.Id).inspect()) as DockerNetworkSummary;
          await isolateV6(full);
          out.push({
            networkId: full.Labels?.[NETWORK_LABELS.network] ?? '',
            dockerNetworkId: full.Id,
            dockerNetworkName: full.Name,
            containers: await networkUsers(docker, full),
          });
        } catch (e) {
          if (dockerStatus(e) !== 404) throw e;
        }
      }
      return out;
    },
  };
}

/** The host interface Docker 20.10 makes for a bridge network: br- and the first 12 characters of its id. */
export const bridgeInterfaceName = (dockerNetworkId: string): string => `br-${dockerNetworkId.slice(0, 12)}`;

/** disable_ipv6=1 on an interface; idempotent. Root only. */
async function writeDisableIpv6(ifname: string): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new Error(`not an interface name: ${ifname}`);
  await writeFile(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1');
}

/**
 * Docker's IPRange for a subnet: its lower half, where Docker hands out
 * dynamic addresses; the upper half is left to ports and fixed IPs. None for
 * subnets too small to split usefully.
 */
export function lowerHalf(cidr: string): { IPRange?: string } {
  const m = /^(.*)\/(\d+)$/.exec(cidr);
  if (!m) return {};
  const prefix = Number(m[2]);
  const max = m[1]!.includes(':') ? 128 : 32;
  if (prefix >= max - 3) return {};
  return { IPRange: `${m[1]}/${prefix + 1}` };
}

/**
 * Whether same-bridge traffic can pass on this host. With br_netfilter and
 * bridge-nf-call-iptables=1, bridged frames traverse iptables' FORWARD chain,
 * and dockerd --iptables=false adds no ACCEPT rule for them: a DROP policy
 * there silently cuts containers on one bridge apart. Read-only.
 */
export async function checkBridgeForwarding(): Promise<{
  ok: boolean;
  bridgeNfCallIptables: boolean | null;
  forwardPolicy: string | null;
  message: string;
}> {
  let nf: boolean | null = null;
  try {
    nf = (await readFile('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8')).trim() === '1';
  } catch {
    nf = null; // br_netfilter not loaded: bridged frames skip iptables
  }
  if (nf !== true) return { ok: true, bridgeNfCallIptables: nf, forwardPolicy: null, message: 'bridged traffic does not pass iptables' };
  const policy = await new Promise<string | null>((resolve) => {
    execFile('iptables', ['-S', 'FORWARD'], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(null);
      const m = /^-P FORWARD (\S+)/m.exec(stdout);
      resolve(m ? m[1]! : null);
    });
  });
  if (policy === 'ACCEPT') return { ok: true, bridgeNfCallIptables: true, forwardPolicy: policy, message: 'FORWARD policy ACCEPT' };
  return {
    ok: false,
    bridgeNfCallIptables: true,
    forwardPolicy: policy,
    message: `bridged frames pass iptables and the FORWARD policy is ${policy ?? 'unknown'}: containers on one bridge may not reach each other (allow them, e.g. -A FORWARD -m physdev --physdev-is-bridged -j ACCEPT, or set bridge-nf-call-iptables=0)`,
  };
}
