/**
 * Networks and volumes as the gateway sees them: resolving a container's
 * `nets` and `mounts` (and a capsule's volumes and network) into the spec
 * before the create is appended, so the host actor never looks anything up;
 * creating the project's default network on first need; creating and
 * reserving volumes.
 *
 * Every write goes through the fenced command path (services/resources):
 * - the default network has a fixed id per project, so two first creates
 *   race on the network's own fence (expected sequence 0) and the loser
 *   reloads and uses the winner's; its subnet comes from the IPAM ledger,
 *   fenced too, and idempotent per network id;
 * - a volume is reserved for the consumer about to be created, fenced on the
 *   volume, so two creates cannot both take it (Zun: VolumeInUse, 400). A
 *   reservation whose consumer never came to life (the create failed after
 *   the reserve) does not block for ever: it is stale once the consumer's log
 *   is empty and the reservation is older than RESERVATION_GRACE_MS, or once
 *   the consumer is deleted.
 *
 * Subnets: a network registered with POST /v1/networks gets a /24 of the
 * pool from the IPAM ledger (fenced), so fixed IPs can be checked here and
 * pinned on the host. The project's default network gets none: each host's
 * Docker picks a free subnet for its bridge. That keeps several host actors
 * on one dockerd working (Docker refuses two bridges with one subnet, and a
 * project's default network is on every host it has containers on); the
 * price is no fixed IPs on the default network (400). A network with a
 * subnet can be on only one host per dockerd (bridges are host-local).
 *
 * Deviation from Zun (documented in the README): a mount `source` naming a
 * volume that does not exist creates it in the caller's project (Zun
 * requires an existing Cinder volume; here there is no volume API), with
 * `size` GB or 1 GB, kept when the container is deleted. `size` alone makes
 * an anonymous volume removed with its container, as in Zun.
 */
import { type CapsuleSpec, type ContainerSpec, type MountRequest, type NetRequest, type RecordedEvent } from '../../events/index.js';
import type { NetworkEvent, NetworkRef } from '../../events/network.js';
import { createFoldIndex, type ReadEventsFrom } from './fold-index.js';
import { evolveNetwork, initialNetworkState, ipInCidr, neutronPortOf, portOf, ipv6InCidr, networkLive, networkRefOf, sameIpv6, subnet6At, type NetworkState, type PortBinding, type PortState } from '../../domain/network.js';
import type { NeutronPort } from '../openstack/neutron-client.js';
import { desiredNets } from '../../domain/container.js';
import { volumeHolders, volumeLive, type VolumeState } from '../../domain/volume.js';
import { loadCapsule, loadContainer, type CommandDeps } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import { allocateSubnet, executeNetworkCommand, executeVolumeCommand, loadNetwork, loadVolume, releaseSubnet } from '../resources/commands.js';
import { defaultNetworkId, namedVolumeId, neutronNetworkId } from '../resources/ids.js';
import type { AuthContext } from './auth.js';
import { Conflict, InvalidValue, ServiceUnavailable, ZunError } from './errors.js';
import { noLookupCache, type LookupCache } from './lookup-cache.js';

export class NetworkNotFound extends ZunError {
  constructor(network: string) {
    super(404, 'network-not-found', `Neutron network ${network} could not be found.`);
    this.name = 'NetworkNotFound';
  }
}

export class VolumeNotFound extends ZunError {
  constructor(volume: string) {
    super(404, 'volume-not-found', `Volume ${volume} could not be found.`);
    this.name = 'VolumeNotFound';
  }
}

export class PortNotFound extends ZunError {
  constructor(port: string) {
    super(404, 'port-not-found', `Neutron port ${port} could not be found.`);
    this.name = 'PortNotFound';
  }
}

/** zun/common/exception.py PortInUse (an Invalid: 400). */
export class PortInUse extends ZunError {
  constructor(port: string) {
    super(400, 'port-in-use', `Port ${port} is still in use.`);
    this.name = 'PortInUse';
  }
}

/** zun/common/exception.py PortNotUsable (an Invalid: 400): a Neutron port of another project, or one Neutron shows in use. */
export class PortNotUsable extends ZunError {
  constructor(port: string) {
    super(400, 'port-not-usable', `Port ${port} not usable for the container.`);
    this.name = 'PortNotUsable';
  }
}

/** zun/common/exception.py PortBindingFailed (an Invalid: 400). */
export class PortBindingFailed extends ZunError {
  constructor(port: string) {
    super(400, 'port-binding-failed', `Binding failed for port ${port}, please check neutron logs for more information.`);
    this.name = 'PortBindingFailed';
  }
}

/** Neutron's IpAddressAlreadyAllocated / IpAddressGenerationFailure (409). */
export class IpAddressInUse extends ZunError {
  constructor(message: string) {
    super(409, 'ip-address-in-use', message);
    this.name = 'IpAddressInUse';
  }
}

export class VolumeInUse extends ZunError {
  constructor(volume: string) {
    super(400, 'volume-in-use', `Volume ${volume} is still in use.`);
    this.name = 'VolumeInUse';
  }
}

/** How old a reservation by a consumer with no events must be before it is considered abandoned. */
export const RESERVATION_GRACE_MS = 60_000;
export const DEFAULT_NETWORK_NAME = 'default';
/** GB of a volume created by naming it (no size given). */
export const DEFAULT_VOLUME_SIZE_GB = 1;

/** Who is asking, and the request's id (the command id of what it appends). */
export interface Caller {
  readonly auth: AuthContext;
  readonly requestId: string;
}

export interface ResourceServiceDeps {
  readonly store: EventStore;
  readonly newId: () => string;
  readonly now: () => Date;
  /** IPv4 pool the networks' /24s come from (default 10.200.0.0/16). */
  readonly pool: string;
  /** IPv6 pool the networks' /64s come from, at their /24's index (default fd7a:756e:0::/48); none when absent. */
  readonly poolV6?: string;
  /** Network and port lookups fold the network events (incrementally, fold-index.ts). */
  readonly readEvents?: ReadEventsFrom;
  /**
   * Neutron, where the hosts use kuryr (NEUTRON_URL): a `nets` port that is
   * not one of this service's own ports is looked up there, as Zun does.
   */
  readonly neutron?: NeutronPorts;
  /** The project's default network, read on every create, is cached here (lookup-cache.ts). */
  readonly lookups?: LookupCache;
}

/** The part of Neutron's API the gateway uses: python-neutronclient's list_ports(id=...) / list_ports(name=...). */
export interface NeutronPorts {
  listPorts(query: { id?: string; name?: string }): Promise<NeutronPort[]>;
}

const uuidRe = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const asUuid = (s: string): string | null => {
  if (!uuidRe.test(s)) return null;
  const h = s.replace(/-/g, '').toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** Strict base64, as Python's b64decode accepts it (whitespace ignored). */
const isBase64 = (s: string) => {
  const t = s.replace(/\s+/g, '');
  return t.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(t);
};

export function createResourceService(deps: ResourceServiceDeps) {
  const { store, pool } = deps;
  const lookups = deps.lookups ?? noLookupCache;
  const commandDeps: CommandDeps = { store, newId: deps.newId, now: deps.now };
  const cctx = (c: Caller, suffix: string) => ({
    projectId: c.auth.projectId,
    userId: c.auth.userId,
    requestId: c.requestId,
    commandId: `${c.requestId}:${suffix}`,
  });
  const visible = (c: Caller, projectId: string | null) => c.auth.isAdmin || projectId === c.auth.projectId;

  // Name lookups, port lookups and lists: every network as the log has it, folded incrementally (fold-index.ts).
  const networkIndex = deps.readEvents
    ? createFoldIndex<NetworkState>({
        readEvents: deps.readEvents,
        kind: 'network',
        initial: initialNetworkState,
        evolve: (s, e) => evolveNetwork(s, e as RecordedEvent<NetworkEvent>),
      })
    : null;

  async function allNetworks(): Promise<NetworkState[]> {
    if (!networkIndex) throw new ServiceUnavailable('No network index is configured.');
    return [...(await networkIndex.states()).values()].filter(networkLive);
  }

  /**
   * Creates a network, with a subnet of the pool when `subnet` (a network
   * registered with POST /v1/networks: fixed IPs need it), or with none (the
   * default network: Docker's IPAM picks a free subnet on each host, see the
   * module comment); returns it (an existing live one for `allowExisting`).
   */
  async function createNetwork(
    c: Caller,
    id: string,
    o: { name: string; neutronNetId: string; projectId: string; isDefault: boolean },
    allowExisting: boolean,
    withSubnet: boolean,
  ): Promise<NetworkState> {
    const existing = await loadNetwork(store, id);
    if (networkLive(existing)) {
      if (allowExisting) return existing;
      throw new Conflict(`A network with neutron_net_id ${o.neutronNetId} already exists.`);
    }
    let subnet: { cidr: string | null; gateway: string | null; cidrV6?: string; gatewayV6?: string } = { cidr: null, gateway: null };
    if (withSubnet) {
      const a = await allocateSubnet(commandDeps, pool, id, cctx(c, `ipam:${id}`));
      if (!a.ok) throw new ServiceUnavailable(a.message);
      subnet = { cidr: a.cidr, gateway: a.gateway };
      if (deps.poolV6) {
        const v6 = subnet6At(deps.poolV6, a.index);
        subnet = { ...subnet, cidrV6: v6.cidr, gatewayV6: v6.gateway };
      }
    }
    const res = await executeNetworkCommand(commandDeps, id, { type: 'CreateNetwork', ...o, ...subnet }, cctx(c, `network:${id}`));
    if (!res.ok) {
      // Someone created it between our load and our append: theirs is the one.
      if (allowExisting && networkLive(res.state)) return res.state;
      throw new Conflict(res.rejection.message);
    }
    return res.state;
  }

  /**
   * The project's default network, made on first need. Cached once it exists
   * (a create's event, or any later one of the network, drops the entry).
   */
  async function defaultNetwork(c: Caller, projectId = c.auth.projectId): Promise<NetworkRef> {
    const id = defaultNetworkId(projectId);
    return lookups.get('network', id, async () =>
      networkRefOf(await createNetwork(c, id, { name: DEFAULT_NETWORK_NAME, neutronNetId: id, projectId, isDefault: true }, true, false)),
    );
  }

  /**
   * A network by Zun id, Neutron id or name, as the caller may use it: its
   * own project's, or any for an admin. `default` names the default network
   * of `projectId` (the caller's unless given). Read-only: nothing is made.
   */
  async function findNetwork(c: Caller, ident: string, projectId = c.auth.projectId): Promise<NetworkState> {
    if (ident === DEFAULT_NETWORK_NAME) {
      const s = await loadNetwork(store, defaultNetworkId(projectId));
      if (networkLive(s) && visible(c, s.projectId)) return s;
      throw new NetworkNotFound(ident);
    }
    const byId = asUuid(ident);
    for (const id of [byId, neutronNetworkId(ident)]) {
      if (!id) continue;
      const s = await loadNetwork(store, id);
      if (networkLive(s) && visible(c, s.projectId)) return s;
    }
    const named = (await allNetworks()).filter((s) => s.name === ident && visible(c, s.projectId));
    const own = named.filter((s) => s.projectId === c.auth.projectId);
    const pick = own.length > 0 ? own : named;
    if (pick.length === 0) throw new NetworkNotFound(ident);
    if (pick.length > 1) throw new Conflict(`Multiple neutron networks exist with same name. Please use the uuid instead.`);
    return pick[0]!;
  }

  /** One `nets` entry resolved (network or the project default; fixed IPs checked against the subnet). */
  async function resolveNet(c: Caller, n: NetRequest, projectId = c.auth.projectId): Promise<NetRequest> {
    return (await prepareNet(c, n, projectId)).commit();
  }

  /** A port by id, with its network, as the caller may use it (its project's, or any for an admin). */
  async function findPort(c: Caller, portId: string): Promise<{ network: NetworkState; port: PortState }> {
    for (const network of await allNetworks()) {
      const port = portOf(network, portId);
      if (port && visible(c, port.projectId)) return { network, port };
    }
    throw new PortNotFound(portId);
  }

  /**
   * Consumers whose hold on a port is void: deleted, no longer asking for
   * the port, or never created (the create failed after the bind) once the
   * grace has passed.
   */
  async function stalePortHolders(port: PortBinding & { readonly id: string }): Promise<string[]> {
    const holder = port.boundTo;
    if (holder === null) return [];
    const [ct, cp] = await Promise.all([loadContainer(store, holder), loadCapsule(store, holder)]);
    if (ct.status === 'Deleted' || cp.status === 'Deleted') return [holder];
    if (ct.status === null && cp.status === null) {
      const at = Date.parse(port.boundAt ?? '');
      return Number.isNaN(at) || deps.now().getTime() - at > RESERVATION_GRACE_MS ? [holder] : [];
    }
    if (ct.status !== null && !desiredNets(ct).some((n) => n.port === port.id || n.resolved?.port === port.id)) return [holder];
    return [];
  }

  /** Whether `consumer` may take the port now (nothing written). */
  async function checkPortFree(port: PortBinding & { readonly id: string }, consumer: string | null): Promise<void> {
    if (port.boundTo === null || port.boundTo === consumer) return;
    if ((await stalePortHolders(port)).includes(port.boundTo)) return;
    throw new PortInUse(port.id);
  }

  async function bindPort(c: Caller, network: NetworkState, portId: string, consumer: string, neutron = false): Promise<void> {
    const fresh = await loadNetwork(store, network.id);
    const held = neutron ? neutronPortOf(fresh, portId) : portOf(fresh, portId);
    const stale = held ? await stalePortHolders({ ...held, id: portId }) : [];
    const res = await executeNetworkCommand(
      commandDeps,
      network.id,
      { type: 'BindPort', portId, consumer, stale, ...(neutron ? { neutron } : {}) },
      cctx(c, `port-bind:${portId}:${consumer}`),
    );
    if (!res.ok) {
      if (res.rejection.code === 'port-in-use') throw new PortInUse(portId);
      throw new PortNotFound(portId);
    }
  }

  /**
   * A `nets` entry naming a port: the port's network, with the port's
   * addresses as the fixed IPs, bound to `consumer` on commit (fenced on the
   * network, so two containers cannot both take it).
   */
  async function preparePort(c: Caller, n: NetRequest, consumer: string | null): Promise<{ id: string; commit: () => Promise<NetRequest> }> {
    if (consumer === null) throw new InvalidValue(`Port ${n.port} can only be given to a container.`);
    if (n.network !== undefined) throw new InvalidValue('A nets entry names a network or a port, not both.');
    if (n.v4FixedIp !== undefined || n.v6FixedIp !== undefined) throw new InvalidValue(`The addresses of port ${n.port} are the port's; do not give fixed IPs with it.`);
    const found = await findPort(c, n.port!).catch((e: unknown) => {
      if (e instanceof PortNotFound && deps.neutron) return null;
      throw e;
    });
    if (found === null) return prepareNeutronPort(c, n.port!, consumer);
    const { network, port } = found;
    await checkPortFree(port, consumer);
    const v4 = port.fixedIps.find((f) => f.version === 4)?.ip;
    const v6 = port.fixedIps.find((f) => f.version === 6)?.ip;
    const ref: NetworkRef = { ...networkRefOf(network), port: port.id };
    return {
      id: ref.id,
      commit: async () => {
        await bindPort(c, network, port.id, consumer);
        return { port: port.id, network: ref.id, ...(v4 ? { v4FixedIp: v4 } : {}), ...(v6 ? { v6FixedIp: v6 } : {}), resolved: ref };
      },
    };
  }

  /**
   * A `nets` port that is Neutron's (kuryr hosts), checked as Zun's API
   * checks it (neutron.py get_neutron_port, ensure_neutron_port_usable): by
   * id, or by name when not a uuid; of the caller's project; not bound to a
   * device; not ACTIVE, BUILD or ERROR; its binding not failed. Its network
   * must be registered (POST /v1/networks with its neutron_net_id), as any
   * network a container names. On commit it is bound to the consumer in that
   * network's log, fenced, so two creates cannot both take it (Zun checks
   * only Neutron's device_id, which the host sets later). The host actor
   * then gives it the container as its device and unbinds it on delete.
   */
  async function prepareNeutronPort(c: Caller, ident: string, consumer: string): Promise<{ id: string; commit: () => Promise<NetRequest> }> {
    let ports: NeutronPort[];
    try {
      ports = await deps.neutron!.listPorts(asUuid(ident) ? { id: ident } : { name: ident });
    } catch (e) {
      throw new ServiceUnavailable(`Neutron did not answer for port ${ident}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ports.length === 0) throw new PortNotFound(ident);
    if (ports.length > 1) throw new Conflict('Multiple neutron ports exist with same name. Please use the uuid instead.');
    const port = ports[0]!;
    if ((port.tenant_id ?? port.project_id) !== c.auth.projectId) throw new PortNotUsable(port.id);
    if (port.device_id) throw new PortInUse(port.id);
    if (port.status === 'ACTIVE' || port.status === 'BUILD' || port.status === 'ERROR') throw new PortNotUsable(port.id);
    if (port['binding:vif_type'] === 'binding_failed') throw new PortBindingFailed(port.id);
    const network = await loadNetwork(store, neutronNetworkId(port.network_id));
    if (!networkLive(network) || !visible(c, network.projectId)) throw new NetworkNotFound(port.network_id);
    await checkPortFree({ ...neutronPortOf(network, port.id), id: port.id }, consumer);
    const ref: NetworkRef = { ...networkRefOf(network), port: port.id };
    return {
      id: ref.id,
      commit: async () => {
        await bindPort(c, network, port.id, consumer, true);
        return { port: port.id, network: ref.id, resolved: ref };
      },
    };
  }

  /** A fixed IP a port of the network holds cannot be given to a container (Neutron: IpAddressAlreadyAllocated). */
  function checkNotPortAddress(n: NetRequest, s: NetworkState): void {
    for (const p of Object.values(s.ports)) {
      for (const f of p.fixedIps) {
        const asked = f.version === 4 ? n.v4FixedIp : n.v6FixedIp;
        if (asked === undefined) continue;
        if (f.version === 4 ? asked === f.ip : sameIpv6(asked, f.ip)) {
          throw new IpAddressInUse(`IP address ${asked} already allocated in subnet ${f.version === 4 ? s.cidr : s.cidrV6} (port ${p.id}).`);
        }
      }
    }
  }

  /**
   * One `nets` entry in two steps: the checks and the Zun network id it will
   * be (nothing written), then `commit`, which makes the default network of
   * `projectId` when that is the one and it is missing.
   */
  async function prepareNet(
    c: Caller,
    n: NetRequest,
    projectId = c.auth.projectId,
    consumer: string | null = null,
  ): Promise<{ id: string; commit: () => Promise<NetRequest> }> {
    if (n.port !== undefined) return preparePort(c, n, consumer);
    if (n.network !== undefined && n.network !== DEFAULT_NETWORK_NAME) {
      const s = await findNetwork(c, n.network, projectId);
      const ref = checkedNetRef(n, networkRefOf(s));
      checkNotPortAddress(n, s);
      return { id: ref.id, commit: async () => checkedNet(n, ref) };
    }
    if (n.v4FixedIp !== undefined || n.v6FixedIp !== undefined) checkedNet(n, { id: '', neutronNetId: '', name: DEFAULT_NETWORK_NAME, projectId, cidr: null, gateway: null });
    return { id: defaultNetworkId(projectId), commit: async () => checkedNet(n, await defaultNetwork(c, projectId)) };
  }

  /** The fixed-IP checks of checkedNet, returning the network. */
  function checkedNetRef(n: NetRequest, ref: NetworkRef): NetworkRef {
    checkedNet(n, ref);
    return ref;
  }

  function checkedNet(n: NetRequest, ref: NetworkRef): NetRequest {
    if (n.v6FixedIp !== undefined) {
      if (!ref.cidrV6) throw new InvalidValue(`Network ${ref.name} has no IPv6 subnet (a project's default network and networks made before IPv6 have none); create a network for IPv6 fixed IPs.`);
      if (!ipv6InCidr(n.v6FixedIp, ref.cidrV6)) throw new InvalidValue(`Fixed IP ${n.v6FixedIp} is not in the subnet ${ref.cidrV6} of network ${ref.name}.`);
      if (ref.gatewayV6 && sameIpv6(n.v6FixedIp, ref.gatewayV6)) throw new InvalidValue(`Fixed IP ${n.v6FixedIp} is the gateway address of network ${ref.name}.`);
    }
    if (n.v4FixedIp !== undefined && !ref.cidr) {
      throw new InvalidValue(`Network ${ref.name} has no fixed subnet (a project's default network gets one from each host); create a network for fixed IPs.`);
    }
    if (n.v4FixedIp !== undefined && ref.cidr && !ipInCidr(n.v4FixedIp, ref.cidr)) {
      throw new InvalidValue(`Fixed IP ${n.v4FixedIp} is not in the subnet ${ref.cidr} of network ${ref.name}.`);
    }
    if (n.v4FixedIp !== undefined && ref.gateway === n.v4FixedIp) {
      throw new InvalidValue(`Fixed IP ${n.v4FixedIp} is the gateway address of network ${ref.name}.`);
    }
    return { ...n, network: n.network ?? ref.id, resolved: ref };
  }

  /** Consumers that hold a volume but are not (and will not be) alive: their hold is void. */
  async function staleHolders(v: VolumeState): Promise<string[]> {
    const now = deps.now().getTime();
    const out: string[] = [];
    for (const consumer of volumeHolders(v)) {
      const [ct, cp] = await Promise.all([loadContainer(store, consumer), loadCapsule(store, consumer)]);
      const status = ct.status ?? cp.status;
      if (status === 'Deleted') out.push(consumer);
      else if (status === null) {
        const at = Date.parse(v.reservations[consumer] ?? '');
        if (!(v.attachments[consumer] !== undefined) && (Number.isNaN(at) || now - at > RESERVATION_GRACE_MS)) out.push(consumer);
      }
    }
    return out;
  }

  async function reserve(c: Caller, v: VolumeState, consumer: string, label: string): Promise<void> {
    const stale = await staleHolders(v);
    const res = await executeVolumeCommand(commandDeps, v.id, { type: 'ReserveVolume', consumer, stale }, cctx(c, `reserve:${v.id}:${consumer}`));
    if (!res.ok) {
      if (res.rejection.code === 'in-use') throw new VolumeInUse(label);
      throw new VolumeNotFound(label);
    }
  }

  async function createVolume(c: Caller, id: string, o: { name: string; sizeGb: number; autoRemove: boolean }): Promise<VolumeState> {
    const res = await executeVolumeCommand(commandDeps, id, { type: 'CreateVolume', projectId: c.auth.projectId, ...o }, cctx(c, `volume:${id}`));
    if (res.ok) return res.state;
    // Created meanwhile by someone else (a named volume): use it.
    if (volumeLive(res.state)) return res.state;
    throw new Conflict(res.rejection.message);
  }

  /** A mount's volume: by uuid (must exist), or by name (created when missing: see the module comment). */
  async function volumeForSource(c: Caller, source: string, sizeGb: number | undefined): Promise<VolumeState> {
    const id = asUuid(source);
    if (id) {
      const v = await loadVolume(store, id);
      if (!volumeLive(v) || !visible(c, v.projectId)) throw new VolumeNotFound(source);
      return v;
    }
    const named = await loadVolume(store, namedVolumeId(c.auth.projectId, source));
    if (volumeLive(named)) return named;
    return createVolume(c, named.id, { name: source, sizeGb: sizeGb ?? DEFAULT_VOLUME_SIZE_GB, autoRemove: false });
  }

  /** What resolveMount will find, checked without writing anything: bad content, unknown or busy volumes. */
  async function checkMount(c: Caller, m: MountRequest): Promise<void> {
    if (m.type === 'bind') {
      if (!isBase64(m.source ?? '')) throw new InvalidValue(`The source of bind mount ${m.destination} is not base64 file content.`);
      return;
    }
    if (m.source === undefined) return;
    const id = asUuid(m.source);
    const v = await loadVolume(store, id ?? namedVolumeId(c.auth.projectId, m.source));
    if (!volumeLive(v)) {
      if (id) throw new VolumeNotFound(m.source);
      return; // a name: made on create
    }
    if (!visible(c, v.projectId)) throw new VolumeNotFound(m.source);
    const stale = new Set(await staleHolders(v));
    if (volumeHolders(v).some((h) => !stale.has(h))) throw new VolumeInUse(m.source);
  }

  async function resolveMount(c: Caller, consumer: string, m: MountRequest, i: number): Promise<MountRequest> {
    if (m.type === 'bind') {
      if (!isBase64(m.source ?? '')) throw new InvalidValue(`The source of bind mount ${m.destination} is not base64 file content.`);
      return { ...m, volumeId: `${consumer}-file-${i}` };
    }
    if (m.source === undefined) {
      const v = await createVolume(c, deps.newId(), { name: '', sizeGb: m.size ?? DEFAULT_VOLUME_SIZE_GB, autoRemove: true });
      await reserve(c, v, consumer, v.id);
      return { ...m, volumeId: v.id };
    }
    const v = await volumeForSource(c, m.source, m.size);
    await reserve(c, v, consumer, m.source);
    return { ...m, volumeId: v.id };
  }

  /**
   * Where the existing host-local volumes a container mounts live (their
   * homeHost): placement must put it there. 400 when they live on different
   * hosts, or when the admin's requested host is another one.
   */
  async function volumeHostOf(c: Caller, spec: Pick<ContainerSpec, 'mounts' | 'requestedHost'>): Promise<string | null> {
    const homes = new Map<string, string>();
    for (const m of spec.mounts) {
      if (m.type === 'bind' || m.source === undefined) continue;
      const id = asUuid(m.source);
      const v = await loadVolume(store, id ?? namedVolumeId(c.auth.projectId, m.source));
      if (volumeLive(v) && v.homeHost) homes.set(m.source, v.homeHost);
    }
    const hosts = new Set(homes.values());
    if (hosts.size > 1) {
      throw new InvalidValue(`The volumes ${[...homes.entries()].map(([v, h]) => `${v} (host ${h})`).join(', ')} live on different hosts; a container can mount local volumes of one host only.`);
    }
    const host = [...hosts][0] ?? null;
    if (host && spec.requestedHost && spec.requestedHost !== host) {
      throw new InvalidValue(`The volumes ${[...homes.keys()].join(', ')} live on host ${host}, not on the requested host ${spec.requestedHost}.`);
    }
    return host;
  }

  /**
   * Resolves a container's nets and mounts in two steps: first every check
   * that needs no write (unknown networks, fixed IPs outside the subnet,
   * bad file content, unknown or busy volumes), so that a refused request
   * appends nothing; then the returned `commit` makes what must exist (the
   * default network, volumes) and reserves the volumes, and gives the spec
   * to append. Call `commit` right before the create is appended.
   */
  async function prepareContainerSpec(c: Caller, uuid: string, spec: ContainerSpec): Promise<() => Promise<ContainerSpec>> {
    const dests = new Set<string>();
    for (const m of spec.mounts) {
      if (dests.has(m.destination)) throw new InvalidValue(`Duplicate mount destination ${m.destination}.`);
      dests.add(m.destination);
    }
    const requested = spec.nets.length > 0 ? spec.nets : [{}];
    const planned: { id: string; commit: () => Promise<NetRequest> }[] = [];
    for (const n of requested) planned.push(await prepareNet(c, n, c.auth.projectId, uuid));
    const ids = planned.map((p) => p.id);
    if (new Set(ids).size !== ids.length) throw new InvalidValue('A network is requested more than once.');
    for (const m of spec.mounts) await checkMount(c, m);
    const volumeHost = await volumeHostOf(c, spec);
    return async () => {
      const nets: NetRequest[] = [];
      for (const p of planned) nets.push(await p.commit());
      const mounts: MountRequest[] = [];
      for (let i = 0; i < spec.mounts.length; i++) mounts.push(await resolveMount(c, uuid, spec.mounts[i]!, i));
      return { ...spec, nets, mounts, ...(volumeHost ? { volumeHost } : {}) };
    };
  }

  return {
    defaultNetwork,
    prepareNet,
    prepareContainerSpec,
    findNetwork,
    resolveNet,
    allNetworks,

    /** Both steps of prepareContainerSpec at once. */
    async resolveContainerSpec(c: Caller, uuid: string, spec: ContainerSpec): Promise<ContainerSpec> {
      return (await prepareContainerSpec(c, uuid, spec))();
    },

    /** A capsule's volumes (created or reserved, for the capsule), member uuids and default network. */
    async resolveCapsuleSpec(c: Caller, uuid: string, spec: CapsuleSpec): Promise<CapsuleSpec> {
      // Checks first (unknown or busy volumes, volumes of two hosts), so that a refusal appends nothing.
      for (const v of spec.volumes) if (v.volumeId) await checkMount(c, { type: 'volume', source: v.volumeId, destination: v.name });
      const volumeHost = await volumeHostOf(c, {
        mounts: spec.volumes.filter((v) => v.volumeId).map((v) => ({ type: 'volume' as const, source: v.volumeId!, destination: v.name })),
        requestedHost: null,
      });
      const volumes = [];
      for (const v of spec.volumes) {
        if (v.volumeId) {
          // volumeID is a uuid (the template schema says so): an existing volume of the project.
          const vol = await volumeForSource(c, v.volumeId, undefined);
          await reserve(c, vol, uuid, v.volumeId);
          volumes.push({ ...v, volumeUuid: vol.id });
        } else {
          const vol = await createVolume(c, deps.newId(), { name: v.name, sizeGb: v.size ?? DEFAULT_VOLUME_SIZE_GB, autoRemove: v.autoRemove });
          await reserve(c, vol, uuid, vol.id);
          volumes.push({ ...v, volumeUuid: vol.id });
        }
      }
      const withUuid = <T extends { uuid?: string }>(m: T): T => ({ ...m, uuid: m.uuid ?? deps.newId() });
      return {
        ...spec,
        volumes,
        containers: spec.containers.map(withUuid),
        initContainers: spec.initContainers.map(withUuid),
        nets: [await resolveNet(c, {})],
        ...(volumeHost ? { volumeHost } : {}),
      };
    },

    /** POST /v1/networks: a network for a Neutron id (one per id), with a subnet of the pool. */
    async createNamedNetwork(c: Caller, o: { name: string; neutronNetId: string | null }): Promise<NetworkState> {
      const neutron = o.neutronNetId ?? deps.newId();
      const id = neutronNetworkId(neutron);
      return createNetwork(c, id, { name: o.name, neutronNetId: neutron, projectId: c.auth.projectId, isDefault: false }, false, true);
    },

    findPort,
    stalePortHolders,

    /** POST /v2.0/ports: a port of a network the caller may use, its addresses decided fenced on the network. */
    async createPort(
      c: Caller,
      o: { network: string; name: string; fixedIps?: readonly { ip?: string; version?: 4 | 6 }[] },
    ): Promise<{ network: NetworkState; port: PortState }> {
      const s = await findNetwork(c, o.network);
      const portId = deps.newId();
      const res = await executeNetworkCommand(
        commandDeps,
        s.id,
        { type: 'CreatePort', portId, name: o.name, projectId: c.auth.projectId, ...(o.fixedIps ? { fixedIps: o.fixedIps } : {}) },
        cctx(c, `port:${portId}`),
      );
      if (!res.ok) {
        switch (res.rejection.code) {
          case 'ip-in-use':
            throw new IpAddressInUse(res.rejection.message);
          case 'invalid':
            throw new InvalidValue(res.rejection.message);
          case 'not-found':
            throw new NetworkNotFound(o.network);
          default:
            throw new Conflict(res.rejection.message);
        }
      }
      return { network: res.state, port: portOf(res.state, portId)! };
    },

    /** DELETE /v2.0/ports/{id}: refused (400 PortInUse) while a live container holds it. */
    async deletePort(c: Caller, portId: string): Promise<void> {
      const { network, port } = await findPort(c, portId);
      const stale = await stalePortHolders(port);
      const res = await executeNetworkCommand(commandDeps, network.id, { type: 'DeletePort', portId, stale }, cctx(c, `port-delete:${portId}`));
      if (!res.ok) {
        if (res.rejection.code === 'port-in-use') throw new PortInUse(portId);
        throw new PortNotFound(portId);
      }
    },

    /** Every port the caller may see, with its network. */
    async listPorts(c: Caller): Promise<{ network: NetworkState; port: PortState }[]> {
      const out: { network: NetworkState; port: PortState }[] = [];
      for (const network of await allNetworks()) {
        for (const port of Object.values(network.ports)) if (visible(c, port.projectId)) out.push({ network, port });
      }
      return out;
    },

    /** DELETE /v1/networks/{ident}: refused while a live container or capsule is on it. */
    async deleteNetwork(c: Caller, ident: string, users: (networkId: string) => Promise<string[]>): Promise<void> {
      const s = await findNetwork(c, ident).catch((e: unknown) => {
        if (e instanceof NetworkNotFound) throw new NetworkNotFound(ident);
        throw e;
      });
      const using = await users(s.id);
      if (using.length > 0) throw new Conflict(`Network ${ident} is in use by ${using.join(', ')}.`);
      const res = await executeNetworkCommand(commandDeps, s.id, { type: 'DeleteNetwork' }, cctx(c, `network-delete:${s.id}`));
      if (!res.ok) {
        if (res.rejection.code === 'conflict') throw new Conflict(res.rejection.message);
        throw new NetworkNotFound(ident);
      }
      await releaseSubnet(commandDeps, pool, s.id, cctx(c, `ipam-release:${s.id}`));
    },
  };
}

export type ResourceService = ReturnType<typeof createResourceService>;
