/**
 * Networks, the pure part: the network aggregate (state, fold, decider) and
 * the IPAM ledger that gives each network a subnet of the address pool.
 *
 * Pure and total: no I/O, no clock, no randomness. Ids come in.
 *
 * Subnets: the pool (default 10.200.0.0/16) is cut into /24s; the ledger
 * hands out the lowest free index. The ledger is one aggregate per pool and
 * every allocation is appended fenced on its last sequence, so two racing
 * creates cannot get the same subnet: one fails the fence, reloads, and the
 * decider picks the next free index. Allocation is idempotent per network
 * id: asking again for a network that holds a subnet returns that subnet
 * and appends nothing, so a create that crashed after allocating and is
 * retried (the project default network has a fixed id) reuses it.
 */
import type { RecordedEvent } from '../events/index.js';
import type { CidrAllocated, IpamEvent, NetworkCreated, NetworkEvent, NetworkRef, PortFixedIp } from '../events/network.js';

// ---- the network aggregate -------------------------------------------------------

export interface NetworkState {
  readonly id: string;
  readonly seq: number;
  /** null before NetworkCreated. */
  readonly status: 'Active' | 'Deleted' | null;
  readonly name: string | null;
  readonly neutronNetId: string | null;
  readonly projectId: string | null;
  readonly userId: string | null;
  readonly cidr: string | null;
  readonly gateway: string | null;
  /** IPv6 /64 of a network registered with POST /v1/networks (null for older ones and default networks). */
  readonly cidrV6: string | null;
  readonly gatewayV6: string | null;
  readonly isDefault: boolean;
  readonly createdAt: string | null;
  /** Live ports of the network, by port id. */
  readonly ports: Readonly<Record<string, PortState>>;
  /**
   * Neutron's own ports (kuryr) that consumers were given, by Neutron port
   * id: only who holds each, so that two creates cannot both take one. The
   * port itself lives in Neutron.
   */
  readonly neutronPorts: Readonly<Record<string, PortBinding>>;
}

/** Who last bound a port; whether that binding still holds is the caller's to judge (the `stale` of BindPort). */
export interface PortBinding {
  readonly boundTo: string | null;
  readonly boundAt: string | null;
}

/** A port of a bridge network (Neutron's port, served by this service). */
export interface PortState {
  readonly id: string;
  readonly networkId: string;
  readonly name: string;
  readonly projectId: string;
  readonly userId: string | null;
  readonly fixedIps: readonly PortFixedIp[];
  readonly macAddress: string | null;
  /** The container or capsule that last bound it; whether that binding still holds is the caller's to judge (decidePort's `stale`). */
  readonly boundTo: string | null;
  readonly boundAt: string | null;
  readonly createdAt: string | null;
}

/**
 * A port of the network by id, own properties only: ids come from requests,
 * and `ports.valueOf` (or `constructor`, ...) is not a port.
 */
export const portOf = (s: NetworkState, id: string): PortState | undefined => (Object.hasOwn(s.ports, id) ? s.ports[id] : undefined);
const UNBOUND: PortBinding = { boundTo: null, boundAt: null };
/** Who holds a Neutron port of the network, by id (own properties only, as portOf); nobody when it was never bound here. */
export const neutronPortOf = (s: NetworkState, id: string): PortBinding => (Object.hasOwn(s.neutronPorts, id) ? s.neutronPorts[id]! : UNBOUND);

export function initialNetworkState(id: string): NetworkState {
  return {
    id, seq: 0, status: null, name: null, neutronNetId: null, projectId: null, userId: null,
    cidr: null, gateway: null, cidrV6: null, gatewayV6: null, isDefault: false, createdAt: null, ports: {}, neutronPorts: {},
  };
}

type Meta = { seq?: number; occurredAt?: string; userId?: string };

export function evolveNetwork(s: NetworkState, e: RecordedEvent<NetworkEvent> | (NetworkEvent & Meta)): NetworkState {
  const seq = e.seq ?? s.seq;
  switch (e.type) {
    case 'NetworkCreated':
      return {
        ...s,
        seq,
        status: 'Active',
        name: e.data.name,
        neutronNetId: e.data.neutronNetId,
        projectId: e.data.projectId,
        userId: e.userId ?? s.userId,
        cidr: e.data.cidr,
        gateway: e.data.gateway,
        cidrV6: e.data.cidrV6 ?? null,
        gatewayV6: e.data.gatewayV6 ?? null,
        isDefault: e.data.isDefault,
        createdAt: e.occurredAt ?? s.createdAt,
        ports: {},
        neutronPorts: {},
      };
    case 'NetworkDeleted':
      return { ...s, seq, status: 'Deleted', ports: {}, neutronPorts: {} };
    case 'PortCreated': {
      const port: PortState = {
        id: e.data.portId,
        networkId: s.id,
        name: e.data.name,
        projectId: e.data.projectId,
        userId: e.userId ?? null,
        fixedIps: e.data.fixedIps,
        macAddress: e.data.macAddress,
        boundTo: null,
        boundAt: null,
        createdAt: e.occurredAt ?? null,
      };
      return { ...s, seq, ports: { ...s.ports, [port.id]: port } };
    }
    case 'PortBound': {
      const port = portOf(s, e.data.portId);
      const binding: PortBinding = { boundTo: e.data.consumer, boundAt: e.occurredAt ?? null };
      // Not one of ours: a Neutron port (BindPort with `neutron`).
      if (!port) return { ...s, seq, neutronPorts: { ...s.neutronPorts, [e.data.portId]: binding } };
      return { ...s, seq, ports: { ...s.ports, [port.id]: { ...port, ...binding } } };
    }
    case 'PortDeleted': {
      const { [e.data.portId]: _gone, ...rest } = s.ports;
      return { ...s, seq, ports: rest };
    }
  }
}

export const networkLive = (s: NetworkState): boolean => s.status === 'Active';

/** What a container or capsule spec carries of a live network. */
export function networkRefOf(s: NetworkState): NetworkRef {
  if (!networkLive(s)) throw new TypeError(`network ${s.id} is not live`);
  return {
    id: s.id,
    neutronNetId: s.neutronNetId!,
    name: s.name!,
    projectId: s.projectId!,
    cidr: s.cidr,
    gateway: s.gateway,
    ...(s.cidrV6 ? { cidrV6: s.cidrV6, gatewayV6: s.gatewayV6 } : {}),
  };
}

export type NetworkCommand =
  /** The network as NetworkCreated records it. */
  | ({ readonly type: 'CreateNetwork' } & NetworkCreated['data'])
  | { readonly type: 'DeleteNetwork' }
  | {
      readonly type: 'CreatePort';
      readonly portId: string;
      readonly name: string;
      readonly projectId: string;
      /** Neutron's fixed_ips: absent = one address of each of the network's subnets, chosen here. */
      readonly fixedIps?: readonly { readonly ip?: string; readonly version?: 4 | 6 }[];
    }
  | {
      readonly type: 'BindPort';
      readonly portId: string;
      readonly consumer: string;
      /** A Neutron port (kuryr), which the caller found usable in Neutron; not a port of this network's own. */
      readonly neutron?: boolean;
      /** Consumers whose binding is void (deleted, or no longer using the port): the caller's judgement. */
      readonly stale: readonly string[];
    }
  | { readonly type: 'DeletePort'; readonly portId: string; readonly stale: readonly string[] };

export type NetworkRejection =
  | { readonly code: 'not-found'; readonly message: string }
  | { readonly code: 'conflict'; readonly message: string }
  | { readonly code: 'invalid'; readonly message: string }
  | { readonly code: 'port-not-found'; readonly message: string }
  | { readonly code: 'port-in-use'; readonly message: string }
  | { readonly code: 'ip-in-use'; readonly message: string };

export type NetworkDecision = { readonly events: readonly NetworkEvent[] } | { readonly rejected: NetworkRejection };

/**
 * Create is legal for a new id or one whose network was deleted (a Neutron
 * id may be registered again); delete only for a live network. "In use" is
 * not the aggregate's to know: the caller checks it against the containers.
 */
export function decideNetwork(cmd: NetworkCommand, s: NetworkState): NetworkDecision {
  switch (cmd.type) {
    case 'CreateNetwork':
      if (networkLive(s)) {
        return { rejected: { code: 'conflict', message: `A network with neutron_net_id ${s.neutronNetId} already exists.` } };
      }
      return {
        events: [
          {
            type: 'NetworkCreated',
            data: {
              name: cmd.name,
              neutronNetId: cmd.neutronNetId,
              projectId: cmd.projectId,
              cidr: cmd.cidr,
              gateway: cmd.gateway,
              ...(cmd.cidrV6 ? { cidrV6: cmd.cidrV6, gatewayV6: cmd.gatewayV6 ?? null } : {}),
              isDefault: cmd.isDefault,
            },
          },
        ],
      };
    case 'DeleteNetwork': {
      if (!networkLive(s)) return { rejected: { code: 'not-found', message: `Network ${s.id} could not be found.` } };
      const ports = Object.keys(s.ports);
      if (ports.length > 0) {
        return { rejected: { code: 'conflict', message: `Unable to complete operation on network ${s.neutronNetId}. There are one or more ports still in use on the network: ${ports.join(', ')}.` } };
      }
      return { events: [{ type: 'NetworkDeleted', data: {} }] };
    }
    case 'CreatePort':
      return decideCreatePort(cmd, s);
    case 'BindPort': {
      const port = cmd.neutron ? neutronPortOf(s, cmd.portId) : portOf(s, cmd.portId);
      if (!networkLive(s) || !port) return { rejected: { code: 'port-not-found', message: `Neutron port ${cmd.portId} could not be found.` } };
      if (port.boundTo === cmd.consumer) return { events: [] };
      if (port.boundTo !== null && !cmd.stale.includes(port.boundTo)) {
        return { rejected: { code: 'port-in-use', message: `Port ${cmd.portId} is still in use.` } };
      }
      return { events: [{ type: 'PortBound', data: { portId: cmd.portId, consumer: cmd.consumer } }] };
    }
    case 'DeletePort': {
      const port = portOf(s, cmd.portId);
      if (!networkLive(s) || !port) return { rejected: { code: 'port-not-found', message: `Neutron port ${cmd.portId} could not be found.` } };
      if (port.boundTo !== null && !cmd.stale.includes(port.boundTo)) {
        return { rejected: { code: 'port-in-use', message: `Port ${cmd.portId} is still in use by ${port.boundTo}.` } };
      }
      return { events: [{ type: 'PortDeleted', data: { portId: cmd.portId } }] };
    }
  }
}

/** Every address held by a port of the network, canonical text. */
function portAddresses(s: NetworkState): Set<string> {
  const out = new Set<string>();
  for (const p of Object.values(s.ports)) for (const f of p.fixedIps) out.add(canonicalIp(f.ip, f.version));
  return out;
}

const canonicalIp = (ip: string, version: 4 | 6): string => {
  if (version === 4) return ip;
  const n = ipv6ToBigInt(ip);
  return n === null ? ip : bigIntToIpv6(n);
};

/** What Docker gives a container on a bridge when no MAC is set: 02:42 and the four IPv4 bytes. */
export function macFromIpv4(ip: string): string | null {
  const n = ipv4ToInt(ip);
  if (n === null) return null;
  const bytes = [2, 0x42, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * A port's addresses: the requested ones, checked (inside a subnet of the
 * network, not its gateway, not held by another port), or one per subnet
 * chosen from the top of the subnet down (Docker hands out the bottom half
 * dynamically: see the bridge driver). The IPv6 address chosen mirrors the
 * IPv4 one's host part in the upper half of the /64, so both are predictable.
 */
function decideCreatePort(cmd: Extract<NetworkCommand, { type: 'CreatePort' }>, s: NetworkState): NetworkDecision {
  if (!networkLive(s)) return { rejected: { code: 'not-found', message: `Network ${s.id} could not be found.` } };
  if (portOf(s, cmd.portId)) return { rejected: { code: 'conflict', message: `Port ${cmd.portId} already exists.` } };
  if (!s.cidr) {
    return { rejected: { code: 'invalid', message: `Network ${s.name} has no fixed subnet (a project's default network gets one from each host); ports need a network made with POST /v1/networks.` } };
  }
  const taken = portAddresses(s);
  const invalid = (message: string): NetworkDecision => ({ rejected: { code: 'invalid', message } });
  const fixedIps: PortFixedIp[] = [];
  const requested = cmd.fixedIps ?? [];
  for (const r of requested) {
    if (r.ip === undefined) continue;
    const version = r.ip.includes(':') ? 6 : 4;
    if (r.version !== undefined && r.version !== version) return invalid(`${r.ip} is not an IPv${r.version} address.`);
    if (version === 4) {
      if (!ipInCidr(r.ip, s.cidr)) return invalid(`IP address ${r.ip} is not a valid IP for the subnet ${s.cidr} of network ${s.name}.`);
      if (r.ip === s.gateway) return invalid(`IP address ${r.ip} is the gateway of network ${s.name}.`);
    } else {
      if (!s.cidrV6) return invalid(`Network ${s.name} has no IPv6 subnet.`);
      if (!ipv6InCidr(r.ip, s.cidrV6)) return invalid(`IP address ${r.ip} is not a valid IP for the subnet ${s.cidrV6} of network ${s.name}.`);
      if (s.gatewayV6 && sameIpv6(r.ip, s.gatewayV6)) return invalid(`IP address ${r.ip} is the gateway of network ${s.name}.`);
    }
    const key = canonicalIp(r.ip, version);
    if (taken.has(key) || fixedIps.some((f) => canonicalIp(f.ip, f.version) === key)) {
      return { rejected: { code: 'ip-in-use', message: `IP address ${r.ip} already allocated in subnet ${version === 4 ? s.cidr : s.cidrV6}.` } };
    }
    fixedIps.push({ ip: key, version });
  }
  // Versions asked for without an address (Neutron: {"subnet_id": ...}), or every subnet when nothing was asked.
  const wantAuto = (v: 4 | 6) =>
    requested.length === 0 ? v === 4 || s.cidrV6 !== null : requested.some((r) => r.ip === undefined && (r.version ?? 4) === v);
  if (wantAuto(6) && !s.cidrV6) return invalid(`Network ${s.name} has no IPv6 subnet.`);
  const c4 = parseCidr(s.cidr)!;
  const size = 2 ** (32 - c4.prefix);
  const auto4 = wantAuto(4) && !fixedIps.some((f) => f.version === 4);
  const auto6 = wantAuto(6) && !fixedIps.some((f) => f.version === 6);
  if (auto4 || auto6) {
    let found = false;
    for (let off = size - 2; off >= size / 2; off--) {
      const ip4 = intToIpv4(c4.base + off);
      const ip6 = s.cidrV6 ? bigIntToIpv6(parseCidr6(s.cidrV6)!.base + (1n << 63n) + BigInt(off)) : null;
      if (auto4 && (taken.has(ip4) || ip4 === s.gateway)) continue;
      if (auto6 && ip6 !== null && taken.has(ip6)) continue;
      if (auto4) fixedIps.push({ ip: ip4, version: 4 });
      if (auto6 && ip6 !== null) fixedIps.push({ ip: ip6, version: 6 });
      found = true;
      break;
    }
    if (!found) return { rejected: { code: 'ip-in-use', message: `No more IP addresses available on network ${s.name}.` } };
  }
  const v4 = fixedIps.find((f) => f.version === 4);
  return {
    events: [
      {
        type: 'PortCreated',
        data: { portId: cmd.portId, name: cmd.name, projectId: cmd.projectId, fixedIps, macAddress: v4 ? macFromIpv4(v4.ip) : null },
      },
    ],
  };
}

// ---- IPv4 arithmetic ---------------------------------------------------------------

export function ipv4ToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIpv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

export function parseCidr(cidr: string): Cidr | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return null;
  const ip = ipv4ToInt(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix < 0 || prefix > 32) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ip & mask) >>> 0, prefix };
}

/** Whether `ip` is a usable host address of `cidr` (not the network or broadcast address). */
export function ipInCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  const n = ipv4ToInt(ip);
  if (!c || n === null) return false;
  const size = 2 ** (32 - c.prefix);
  const off = n - c.base;
  return off > 0 && off < size - 1;
}

// ---- IPv6 arithmetic -----------------------------------------------------------------

const V6_MAX = (1n << 128n) - 1n;

/** An IPv6 address as a 128-bit integer (RFC 4291 text forms, incl. an embedded IPv4 tail), or null. */
export function ipv6ToBigInt(ip: string): bigint | null {
  if (ip.includes('%') || ip.length > 45) return null;
  let text = ip;
  const tail = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (tail) {
    const v4 = ipv4ToInt(tail[1]!);
    if (v4 === null) return null;
    text = `${text.slice(0, tail.index)}:${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (h: string): string[] | null => {
    if (h === '') return [];
    const groups = h.split(':');
    return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? groups : null;
  };
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : [];
  if (!head || !rest) return null;
  let groups: string[];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    groups = [...head, ...Array<string>(missing).fill('0'), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  return n;
}

/** RFC 5952 canonical text of a 128-bit integer. */
export function bigIntToIpv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Cidr6 {
  readonly base: bigint;
  readonly prefix: number;
}

export function parseCidr6(cidr: string): Cidr6 | null {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) return null;
  const ip = ipv6ToBigInt(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 128) return null;
  const mask = prefix === 0 ? 0n : (V6_MAX << BigInt(128 - prefix)) & V6_MAX;
  return { base: ip & mask, prefix };
}

/**
 * Whether `ip` is a usable host address of the IPv6 `cidr`: inside it and
 * not the subnet-router anycast address (host part 0). The gateway is the
 * caller's to exclude (see sameIpv6).
 */
export function ipv6InCidr(ip: string, cidr: string): boolean {
  const c = parseCidr6(cidr);
  const n = ipv6ToBigInt(ip);
  if (!c || n === null) return false;
  const size = 1n << BigInt(128 - c.prefix);
  const off = n - c.base;
  return off > 0n && off < size;
}

/** Whether two IPv6 texts name the same address. */
export const sameIpv6 = (a: string, b: string): boolean => {
  const x = ipv6ToBigInt(a);
  return x !== null && x === ipv6ToBigInt(b);
};

/** IPv6 subnets handed out: one /64 of the IPv6 pool per network, at the same index as its IPv4 /24. */
export const SUBNET6_PREFIX = 64;
/** A ULA /48 ("zun" in the global id): room for 65,536 /64s. */
export const DEFAULT_ADDRESS_POOL_V6 = 'fd7a:756e:0::/48';

/** The index-th /64 of the IPv6 pool, with its gateway (host part 1). */
export function subnet6At(pool6: string, index: number): { cidr: string; gateway: string } {
  const p = parseCidr6(pool6);
  if (!p || p.prefix > SUBNET6_PREFIX) throw new RangeError(`IPv6 address pool ${pool6} must be an IPv6 CIDR of /${SUBNET6_PREFIX} or larger`);
  const count = 1n << BigInt(SUBNET6_PREFIX - p.prefix);
  if (BigInt(index) >= count) throw new RangeError(`IPv6 address pool ${pool6} has no subnet ${index}`);
  const base = p.base + (BigInt(index) << BigInt(128 - SUBNET6_PREFIX));
  return { cidr: `${bigIntToIpv6(base)}/${SUBNET6_PREFIX}`, gateway: bigIntToIpv6(base + 1n) };
}

// ---- the IPAM ledger ------------------------------------------------------------------

/** Subnets handed out: /24s (the `SUBNET_PREFIX`) of the pool. */
export const SUBNET_PREFIX = 24;
export const DEFAULT_ADDRESS_POOL = '10.200.0.0/16';

export interface IpamState {
  readonly seq: number;
  /** Allocated subnet index by network id. */
  readonly byNetwork: Readonly<Record<string, CidrAllocated['data']>>;
}

export const initialIpamState = (): IpamState => ({ seq: 0, byNetwork: {} });

export function evolveIpam(s: IpamState, e: RecordedEvent<IpamEvent> | (IpamEvent & { seq?: number })): IpamState {
  const seq = e.seq ?? s.seq;
  switch (e.type) {
    case 'CidrAllocated':
      return { seq, byNetwork: { ...s.byNetwork, [e.data.networkId]: e.data } };
    case 'CidrReleased': {
      const { [e.data.networkId]: _gone, ...rest } = s.byNetwork;
      return { seq, byNetwork: rest };
    }
  }
}

export function foldIpam(events: Iterable<RecordedEvent>): IpamState {
  let s = initialIpamState();
  for (const e of events) s = evolveIpam(s, e as RecordedEvent<IpamEvent>);
  return s;
}

/** The index-th /24 of the pool, with its gateway (the first host address). */
export function subnetAt(pool: string, index: number): { cidr: string; gateway: string } {
  const p = parseCidr(pool);
  if (!p || p.prefix > SUBNET_PREFIX) throw new RangeError(`address pool ${pool} must be an IPv4 CIDR of /${SUBNET_PREFIX} or larger`);
  const base = p.base + index * 2 ** (32 - SUBNET_PREFIX);
  return { cidr: `${intToIpv4(base)}/${SUBNET_PREFIX}`, gateway: intToIpv4(base + 1) };
}

export const poolSize = (pool: string): number => {
  const p = parseCidr(pool);
  if (!p || p.prefix > SUBNET_PREFIX) throw new RangeError(`address pool ${pool} must be an IPv4 CIDR of /${SUBNET_PREFIX} or larger`);
  return 2 ** (SUBNET_PREFIX - p.prefix);
};

export type IpamDecision =
  | { readonly events: readonly IpamEvent[]; readonly allocation: CidrAllocated['data'] }
  | { readonly rejected: { readonly code: 'exhausted'; readonly message: string } };

/** The lowest free subnet for `networkId`, or the one it already holds (no event then). */
export function decideAllocate(s: IpamState, pool: string, networkId: string): IpamDecision {
  const held = s.byNetwork[networkId];
  if (held) return { events: [], allocation: held };
  const used = new Set(Object.values(s.byNetwork).map((a) => a.index));
  const n = poolSize(pool);
  for (let index = 0; index < n; index++) {
    if (used.has(index)) continue;
    const allocation = { networkId, index, ...subnetAt(pool, index) };
    return { events: [{ type: 'CidrAllocated', data: allocation }], allocation };
  }
  return { rejected: { code: 'exhausted', message: `No free /${SUBNET_PREFIX} left in the address pool ${pool}.` } };
}

/** Gives the subnet of `networkId` back; nothing to append when it holds none. */
export function decideRelease(s: IpamState, networkId: string): readonly IpamEvent[] {
  return s.byNetwork[networkId] ? [{ type: 'CidrReleased', data: { networkId } }] : [];
}
