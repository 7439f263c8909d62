/**
 * The network event catalogue: Zun networks (one aggregate each,
 * `zun.evt.network.<uuid>`) and the IPAM ledger that hands out their subnets
 * (one aggregate per address pool, `zun.evt.ipam.<token(pool)>`).
 *
 * The ledger exists so that two network creates can never get the same CIDR:
 * an allocation is an append fenced on the ledger's last sequence, so of two
 * racing creates one fails the fence, reloads, and takes the next free subnet.
 *
 * Pure: types and constants only.
 */
import type { DomainEvent } from './envelope.js';

/** One entry of a container's `addresses[<neutron net id>]` (Zun's containers_view.py). */
export interface NetworkAddress {
  readonly addr: string;
  readonly version: 4 | 6;
  /** Neutron port id (kuryr); Docker endpoint id (bridge). */
  readonly port: string;
  readonly subnet_id: string;
  /** True for a port the user supplied: unbound on detach, never deleted. */
  readonly preserve_on_delete: boolean;
}

/**
 * A network as the gateway resolved it into a container or capsule spec:
 * everything a host needs to wire it, so the host actor never looks it up.
 */
export interface NetworkRef {
  /** The Zun network uuid (the aggregate id). */
  readonly id: string;
  /** The key of `addresses` in Zun's views; kuryr names the Docker network after it. */
  readonly neutronNetId: string;
  readonly name: string;
  readonly projectId: string;
  /** IPv4 subnet, e.g. 10.200.3.0/24; null when Neutron owns addressing (kuryr). */
  readonly cidr: string | null;
  readonly gateway: string | null;
  /** IPv6 /64 (bridge networks registered with POST /v1/networks); absent when the network has none. */
  readonly cidrV6?: string | null;
  readonly gatewayV6?: string | null;
  /**
   * The user's port on this network, when the `nets` entry named a port
   * (bridge: a Zun port whose addresses became the fixed IPs). It names the
   * endpoint in `addresses` and is kept when the container goes.
   */
  readonly port?: string;
}

type E<T extends string, D> = DomainEvent<T, D>;

// ---- the network aggregate --------------------------------------------------
export type NetworkCreated = E<
  'NetworkCreated',
  {
    readonly name: string;
    readonly neutronNetId: string;
    readonly projectId: string;
    readonly cidr: string | null;
    readonly gateway: string | null;
    /** IPv6 /64 and its gateway; absent in events written before IPv6 (read as none). */
    readonly cidrV6?: string | null;
    readonly gatewayV6?: string | null;
    /** The project's default network, made on first need. */
    readonly isDefault: boolean;
  }
>;
export type NetworkDeleted = E<'NetworkDeleted', Record<string, never>>;

/** One address of a port. */
export interface PortFixedIp {
  readonly ip: string;
  readonly version: 4 | 6;
}

/**
 * Ports of a bridge network (Neutron's ports, for networks this service
 * owns). They live in the network's aggregate so that one fenced append
 * decides an address: two ports never get the same one.
 */
export type PortCreated = E<
  'PortCreated',
  {
    readonly portId: string;
    readonly name: string;
    readonly projectId: string;
    readonly fixedIps: readonly PortFixedIp[];
    /** What Docker derives from the IPv4 address (02:42:<ipv4 bytes>), or null without one. */
    readonly macAddress: string | null;
  }
>;
/** The port is now the container's (or capsule's) `consumer`; a previous holder's binding was void (see decidePort). */
export type PortBound = E<'PortBound', { readonly portId: string; readonly consumer: string }>;
export type PortDeleted = E<'PortDeleted', { readonly portId: string }>;

export type NetworkEvent = NetworkCreated | NetworkDeleted | PortCreated | PortBound | PortDeleted;
export type NetworkEventType = NetworkEvent['type'];
export const NetworkEventTypes = ['NetworkCreated', 'NetworkDeleted', 'PortCreated', 'PortBound', 'PortDeleted'] as const satisfies readonly NetworkEventType[];

// ---- the IPAM ledger ----------------------------------------------------------
/** Subnet `index` of the pool given to a network (e.g. the index-th /24). */
export type CidrAllocated = E<
  'CidrAllocated',
  { readonly networkId: string; readonly index: number; readonly cidr: string; readonly gateway: string }
>;
export type CidrReleased = E<'CidrReleased', { readonly networkId: string }>;

export type IpamEvent = CidrAllocated | CidrReleased;
export type IpamEventType = IpamEvent['type'];
export const IpamEventTypes = ['CidrAllocated', 'CidrReleased'] as const satisfies readonly IpamEventType[];
