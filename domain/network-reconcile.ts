/**
 * The network part of the host actor's reconcile: which networks a container
 * should be connected to, against the ones Docker shows it on.
 *
 * Pure and level-based, like domain/reconcile.ts: it looks at the folded
 * state (desired networks: the resolved `nets` of the spec, then
 * network_attach / network_detach; observed: the addresses recorded) and at
 * the networks Docker shows the container on right now, keyed by Zun network
 * id. The shell connects / disconnects and appends the records; after each
 * step it observes again and asks again. Every record changes the fold so
 * that the same Docker state no longer asks for it, so the loop converges.
 *
 * The first network of a container is given at create (NetworkMode and
 * EndpointsConfig); the others are connected here. Addresses exist only
 * while the container runs (a stopped container keeps its recorded
 * addresses: an empty list in Docker is not news).
 */
import type { NetRequest } from '../events/index.js';
import type { ContainerNetworkAttached, ContainerNetworkDetached } from '../events/container.js';
import type { NetworkAddress } from '../events/network.js';
import { desiredNets, netKey, observedNetworks, type AttachedNetwork, type ContainerState } from './container.js';

export type NetworkAction =
  | { readonly type: 'connect'; readonly net: NetRequest }
  /** By Zun network id. */
  | { readonly type: 'disconnect'; readonly network: string }
  | { readonly type: 'record'; readonly observation: ContainerNetworkAttached | ContainerNetworkDetached };

const addrKey = (a: NetworkAddress) => `${a.version}|${a.addr}|${a.port}|${a.subnet_id}|${a.preserve_on_delete}`;

export function sameAddresses(a: readonly NetworkAddress[], b: readonly NetworkAddress[] | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  const x = a.map(addrKey).sort();
  const y = b.map(addrKey).sort();
  return x.every((k, i) => k === y[i]);
}

/** Whether the network part applies: a live, placed container that is not being deleted. */
export function networksApply(s: ContainerState): boolean {
  return s.status !== null && s.status !== 'Deleted' && s.host !== null && s.spec !== null && s.desired.power !== 'deleted';
}

/**
 * The next network actions for a container that exists in Docker.
 * `connected`: Zun network id -> the container's addresses on it, for every
 * network of ours Docker shows it on (an empty list while it does not run).
 */
export function diffContainerNetworks(s: ContainerState, connected: ReadonlyMap<string, readonly NetworkAddress[]>): NetworkAction[] {
  if (!networksApply(s)) return [];
  const desired = desiredNets(s).filter((n) => n.resolved);
  const recorded = observedNetworks(s);
  const wanted = new Set(desired.map(netKey));
  const out: NetworkAction[] = [];
  for (const n of desired) {
    const key = netKey(n);
    const addrs = connected.get(key);
    if (addrs === undefined) {
      out.push({ type: 'connect', net: n });
      continue;
    }
    if (addrs.length > 0 && !sameAddresses(addrs, recorded[key]?.addresses)) {
      out.push({
        type: 'record',
        observation: { type: 'ContainerNetworkAttached', data: { network: key, neutronNetId: n.resolved!.neutronNetId, addresses: addrs } },
      });
    }
  }
  for (const key of connected.keys()) if (!wanted.has(key)) out.push({ type: 'disconnect', network: key });
  for (const key of Object.keys(recorded)) {
    if (!wanted.has(key) && !connected.has(key)) {
      out.push({ type: 'record', observation: { type: 'ContainerNetworkDetached', data: { network: key } } });
    }
  }
  return out;
}

/** The network a Zun network id names, among those the container wants or has recorded. */
export function recordedNetwork(s: ContainerState, network: string): AttachedNetwork | null {
  return observedNetworks(s)[network] ?? null;
}
