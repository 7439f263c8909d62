/**
 * The in-memory twin of the NetworkDriver port, for unit tests of the host
 * actor against the memory runtime (memory-runtime.ts). It keeps what the
 * actor depends on: networks found by id, idempotent ensure / connect /
 * disconnect, a container's first network given at create (its NetworkMode
 * names the network), addresses only while the container runs (fixed IP, or
 * the next free host address of the subnet), and removal only when unused.
 */
import type { MemoryRuntime } from '../memory-runtime.js';
import {
  NetworkError,
  NetworkErrorCode,
  type ConnectOptions,
  type ContainerNetRef,
  type CreateEndpoint,
  type ManagedNetwork,
  type NetworkAddress,
  type NetworkDriver,
  type NetworkSpec,
} from './types.js';

interface MemNet {
  readonly spec: NetworkSpec;
  readonly dockerNetworkId: string;
  readonly dockerNetworkName: string;
  /** Explicitly connected containers -> fixed IP (or null). */
  readonly connected: Map<string, string | null>;
  /** Fixed IPs asked for at create, by container uuid. */
  readonly atCreate: Map<string, string | null>;
  readonly ips: Map<string, string>;
}

export interface MemoryNetworkDriver extends NetworkDriver {
  /** Docker networks that exist, by Zun network id. */
  networks(): Map<string, MemNet>;
  readonly calls: { op: string; network: string }[];
}

export function createMemoryNetworkDriver({ runtime, host }: { runtime: MemoryRuntime; host: string }): MemoryNetworkDriver {
  const nets = new Map<string, MemNet>();
  const calls: { op: string; network: string }[] = [];
  let n = 0;

  function ensure(spec: NetworkSpec): MemNet {
    let net = nets.get(spec.id);
    if (!net) {
      n++;
      net = {
        spec,
        dockerNetworkId: `memnet${n}`,
        dockerNetworkName: `zun-${spec.id}-${host}`,
        connected: new Map(),
        atCreate: new Map(),
        ips: new Map(),
      };
      nets.set(spec.id, net);
      calls.push({ op: 'create', network: spec.id });
    }
    return net;
  }

  /** Docker ids of containers on `net`: created in it or connected to it. */
  function members(net: MemNet): string[] {
    const ids = new Set(net.connected.keys());
    for (const c of runtime.containers()) if (c.networkMode === net.dockerNetworkName) ids.add(c.id);
    return [...ids].filter((id) => runtime.containers().some((c) => c.id === id));
  }

  function addressOf(net: MemNet, dockerId: string, spec: NetworkSpec): NetworkAddress[] {
    const c = runtime.containers().find((x) => x.id === dockerId);
    if (!c || c.state !== 'running' || !members(net).includes(dockerId)) return [];
    let ip = net.ips.get(dockerId);
    if (!ip) {
      const uuid = c.labels['zun.container.uuid'] ?? '';
      const fixed = net.connected.get(dockerId) ?? net.atCreate.get(uuid) ?? null;
      const base = (net.spec.cidr ?? '10.0.0.0/24').replace(/\.0\/\d+$/, '');
      ip = fixed ?? `${base}.${10 + net.ips.size}`;
      net.ips.set(dockerId, ip);
    }
    const port = spec.port || `ep-${dockerId}`;
    return [{ addr: ip, version: 4, port, subnet_id: net.spec.id, preserve_on_delete: Boolean(spec.port) }];
  }

  return {
    kind: 'bridge',
    networks: () => nets,
    calls,
    async ensureNetwork(spec) {
      const net = ensure(spec);
      return { dockerNetworkId: net.dockerNetworkId, dockerNetworkName: net.dockerNetworkName };
    },
    async endpointForCreate(container, spec, opts: ConnectOptions = {}): Promise<CreateEndpoint> {
      const net = ensure(spec);
      net.atCreate.set(container.uuid, opts.v4FixedIp ?? null);
      return {
        networkMode: net.dockerNetworkName,
        endpointsConfig: { [net.dockerNetworkName]: opts.v4FixedIp ? { IPAMConfig: { IPv4Address: opts.v4FixedIp } } : {} },
        macAddress: null,
        addresses: [],
      };
    },
    async connect(container: ContainerNetRef, spec, opts: ConnectOptions = {}) {
      const net = ensure(spec);
      if (!members(net).includes(container.dockerId)) {
        if (!runtime.containers().some((c) => c.id === container.dockerId)) {
          throw new NetworkError(NetworkErrorCode.docker, `container ${container.dockerId} does not exist`);
        }
        net.connected.set(container.dockerId, opts.v4FixedIp ?? null);
        calls.push({ op: 'connect', network: spec.id });
      }
      return { addresses: addressOf(net, container.dockerId, spec) };
    },
    async disconnect(container, spec) {
      const net = nets.get(spec.id);
      if (!net) return;
      net.connected.delete(container.dockerId);
      net.ips.delete(container.dockerId);
      const c = runtime.containers().find((x) => x.id === container.dockerId);
      if (c && c.networkMode === net.dockerNetworkName) c.networkMode = 'none';
      calls.push({ op: 'disconnect', network: spec.id });
    },
    async addresses(container, spec) {
      const net = nets.get(spec.id);
      return net ? addressOf(net, container.dockerId, spec) : [];
    },
    async removeNetworkIfUnused(spec) {
      const net = nets.get(spec.id);
      if (!net) return { removed: true };
      if (members(net).length > 0) return { removed: false };
      nets.delete(spec.id);
      calls.push({ op: 'remove', network: spec.id });
      return { removed: true };
    },
    async listNetworks(): Promise<ManagedNetwork[]> {
      return [...nets.values()].map((net) => {
        // As networkUsers reads Docker: the endpoints, which only a running container has, else the stopped members.
        const all = members(net);
        const live = all.filter((id) => runtime.containers().some((c) => c.id === id && (c.state === 'running' || c.state === 'paused')));
        return { networkId: net.spec.id, dockerNetworkId: net.dockerNetworkId, dockerNetworkName: net.dockerNetworkName, containers: live.length > 0 ? live : all };
      });
    },
  };
}
