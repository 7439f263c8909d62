/**
 * The network driver port of the host actor. One implementation per
 * `NETWORK_DRIVER`: bridge (Docker user-defined bridges, the default here)
 * and kuryr (Docker networks of the kuryr libnetwork driver, ports in
 * Neutron). Both are idempotent: every call converges on the requested state
 * whatever part of it already exists, so the host actor may repeat any call
 * after a crash.
 */
import type Docker from 'dockerode';

/** A Zun network as the host actor knows it (from the event log / read model). */
export interface NetworkSpec {
  /** Zun network id; for kuryr, the Neutron network uuid (Zun names the Docker network after it). */
  readonly id: string;
  readonly name: string;
  readonly projectId: string;
  /** IPv4 subnet of a bridge network, e.g. 10.10.0.0/24. Needed for fixed IPs. Unused by kuryr (Neutron owns it). */
  readonly cidr?: string | null;
  readonly gateway?: string | null;
  /** IPv6 /64 of a bridge network (IPv6 fixed IPs need it); unused by kuryr. */
  readonly cidrV6?: string | null;
  readonly gatewayV6?: string | null;
  /** bridge: the Zun port the container holds on this network (NetworkRef.port), if any. */
  readonly port?: string | null;
}

/** One entry of a Zun container's `addresses[<network id>]` (containers_view.py). */
export interface NetworkAddress {
  readonly addr: string;
  readonly version: 4 | 6;
  /** Neutron port id (kuryr); Docker endpoint id (bridge). */
  readonly port: string;
  readonly subnet_id: string;
  /** True for a port the user supplied: it is unbound on detach, never deleted. */
  readonly preserve_on_delete: boolean;
}

/** The container being wired: its Docker id and its Zun uuid (Neutron's device_id). */
export interface ContainerNetRef {
  readonly dockerId: string;
  readonly uuid: string;
}

export interface ConnectOptions {
  readonly v4FixedIp?: string | null;
  readonly v6FixedIp?: string | null;
  /**
   * A user-supplied port (nets[].port). kuryr: a Neutron port id. bridge: a
   * Zun port id whose addresses the gateway resolved into the fixed IPs; it
   * names the endpoint in `addresses` and is preserved on delete.
   */
  readonly port?: string | null;
  /** Neutron security group ids for the port: kuryr only. */
  readonly securityGroups?: readonly string[] | null;
}

/** Docker EndpointSettings, the subset we set. */
export interface EndpointSettings {
  readonly IPAMConfig?: { readonly IPv4Address?: string; readonly IPv6Address?: string };
}

/**
 * What a container's first network contributes to its Docker create request:
 * HostConfig.NetworkMode, NetworkingConfig.EndpointsConfig and MacAddress.
 */
export interface CreateEndpoint {
  readonly networkMode: string;
  readonly endpointsConfig: Readonly<Record<string, EndpointSettings>>;
  readonly macAddress: string | null;
  /** Known now for kuryr (from the port); empty for bridge until the container starts (then call `addresses`). */
  readonly addresses: readonly NetworkAddress[];
}

/** A Docker network this driver manages on this host, as found in Docker (for recovery). */
export interface ManagedNetwork {
  readonly networkId: string;
  readonly dockerNetworkId: string;
  readonly dockerNetworkName: string;
  /** Docker ids of the containers on it: running ones (endpoints), else stopped ones configured with it (`networkUsers`). */
  readonly containers: readonly string[];
}

export interface NetworkDriver {
  readonly kind: 'bridge' | 'kuryr';
  /** Creates the Docker network on this host when missing; returns it. */
  ensureNetwork(net: NetworkSpec): Promise<{ dockerNetworkId: string; dockerNetworkName: string }>;
  /**
   * Prepares the first network of a container that is about to be created
   * (ensures the network; kuryr also creates or binds the Neutron port with
   * binding:host_id). Pass the result into the Docker create request.
   */
  endpointForCreate(container: { readonly uuid: string }, net: NetworkSpec, opts?: ConnectOptions): Promise<CreateEndpoint>;
  /** Connects an existing container to one more network (Zun's network_attach). A no-op when already connected. */
  connect(container: ContainerNetRef, net: NetworkSpec, opts?: ConnectOptions): Promise<{ addresses: NetworkAddress[] }>;
  /**
   * Disconnects the container (a no-op when it is not connected or gone).
   * kuryr: deletes the ports Zun created and unbinds user ports, as given by
   * `addresses` (the container's recorded addresses on this network).
   */
  disconnect(container: ContainerNetRef, net: NetworkSpec, opts?: { addresses?: readonly NetworkAddress[] }): Promise<void>;
  /** The container's addresses on the network as observed now (bridge: after start). */
  addresses(container: ContainerNetRef, net: NetworkSpec): Promise<NetworkAddress[]>;
  /**
   * The container is gone from Docker (its delete): lets go of what the
   * driver holds for it on `net` outside Docker, by `addresses` (kuryr: the
   * ports Zun created deleted, user ports unbound, as Zun's
   * `_cleanup_network_for_container`). Idempotent. Absent in drivers that
   * hold nothing outside Docker (bridge).
   */
  release?(container: { readonly uuid: string }, net: NetworkSpec, opts: { addresses: readonly NetworkAddress[] }): Promise<void>;
  /**
   * The container's networks of this driver with an active endpoint, and
   * their addresses, as one read (bridge: one container inspect), keyed by
   * the driver's network id; `specOf` gives the spec of an id. Optional: the
   * caller falls back to listNetworks + addresses.
   */
  observe?(container: ContainerNetRef, specOf: (networkId: string) => NetworkSpec): Promise<Map<string, NetworkAddress[]>>;
  /** Removes the Docker network when no container, running or stopped, is on it (`networkUsers`); false when one is. */
  removeNetworkIfUnused(net: NetworkSpec): Promise<{ removed: boolean }>;
  /** The Docker networks of this driver on this host. */
  listNetworks(): Promise<ManagedNetwork[]>;
}

export const NetworkErrorCode = {
  /** A Docker network with our name exists but does not carry our labels / options: never touched. */
  notOurs: 'NETWORK_NOT_OURS',
  /** Docker refused the subnet (it overlaps another network on this dockerd). */
  subnetInUse: 'SUBNET_IN_USE',
  /** The request cannot be served by this driver (a fixed IP without a subnet of its version). */
  unsupported: 'UNSUPPORTED',
  /** Neutron has no usable subnet layout for the network (none, or several of one IP version). */
  badNeutronNetwork: 'BAD_NEUTRON_NETWORK',
  /** Docker answered with an error. */
  docker: 'DOCKER_ERROR',
  /** Neutron answered with an error (see cause). */
  neutron: 'NEUTRON_ERROR',
} as const;
export type NetworkErrorCode = (typeof NetworkErrorCode)[keyof typeof NetworkErrorCode];

export class NetworkError extends Error {
  constructor(
    readonly code: NetworkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NetworkError';
  }
}

/** Labels on every Docker network the bridge driver makes. */
export const NETWORK_LABELS = {
  managed: 'zun.managed',
  network: 'zun.network.id',
  host: 'zun.host',
  project: 'zun.project.id',
} as const;

/** Docker error status of a dockerode rejection, if any. */
export function dockerStatus(e: unknown): number | null {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : null;
}

export function dockerMessage(e: unknown): string {
  const j = (e as { json?: { message?: unknown } } | null)?.json;
  if (j && typeof j.message === 'string') return j.message;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The Docker ids of the containers on a Docker network: its endpoints (the
 * running containers) and, when it has none, the stopped containers whose
 * configuration names it. Docker removes a network that has no endpoint,
 * and a stopped container configured with it then fails to start ("network
 * ... not found"), so for this service such a network is still in use.
 */
export async function networkUsers(docker: Docker, network: { readonly Id: string; readonly Containers?: Record<string, unknown> | null }): Promise<string[]> {
  const endpoints = Object.keys(network.Containers ?? {});
  if (endpoints.length > 0) return endpoints;
  return (await docker.listContainers({ all: true, filters: { network: [network.Id] } })).map((c) => c.Id);
}

/** Serialises async work per key (a network, a volume) inside one process. */
export function createKeyedLock(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
