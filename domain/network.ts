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
import type { CidrAllocated, IpamEvent, NetworkEvent, NetworkRef } from '../events/network.js';

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
  readonly isDefault: boolean;
  readonly createdAt: string | null;
}

export function initialNetworkState(id: string): NetworkState {
  return {
    id, seq: 0, status: null, name: null, neutronNetId: null, projectId: null, userId: null,
    cidr: null, gateway: null, isDefault: false, createdAt: null,
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
        isDefault: e.data.isDefault,
        createdAt: e.occurredAt ?? s.createdAt,
      };
    case 'NetworkDeleted':
      return { ...s, seq, status: 'Deleted' };
  }
}

export function foldNetwork(id: string, events: Iterable<RecordedEvent>): NetworkState {
  let s = initialNetworkState(id);
  for (const e of events) s = evolveNetwork(s, e as RecordedEvent<NetworkEvent>);
  return s;
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
  };
}

export type NetworkCommand =
  | {
      readonly type: 'CreateNetwork';
      readonly name: string;
      readonly neutronNetId: string;
      readonly projectId: string;
      readonly cidr: string | null;
      readonly gateway: string | null;
      readonly isDefault: boolean;
    }
  | { readonly type: 'DeleteNetwork' };

export type NetworkRejection =
  | { readonly code: 'not-found'; readonly message: string }
  | { readonly code: 'conflict'; readonly message: string };

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
              isDefault: cmd.isDefault,
            },
          },
        ],
      };
    case 'DeleteNetwork':
      if (!networkLive(s)) return { rejected: { code: 'not-found', message: `Network ${s.id} could not be found.` } };
      return { events: [{ type: 'NetworkDeleted', data: {} }] };
  }
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
