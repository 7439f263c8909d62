/**
 * Networks and volumes of this host, for the container and capsule
 * reconcilers: the sequences that wire a consumer (a container or a capsule)
 * to its volumes and networks, and unwire it, each step idempotent so that a
 * pass interrupted anywhere (kill -9) is simply run again.
 *
 * Volumes, before the consumer's Docker container is created:
 *   load the volume aggregate -> driver create -> attach -> mount ->
 *   record VolumeAttached(host, consumer) -> bind `<mountpoint>:<dest>`.
 * After the consumer's Docker containers are removed (and before its
 * ContainerDeleted / CapsuleDeleted is recorded, so the pass runs again
 * until this is done):
 *   unmount -> detach (only when no other consumer on this host still uses
 *   it) -> record VolumeDetached -> if auto-remove and nobody holds it:
 *   driver delete -> record VolumeDeleted.
 * Every volume's steps are serialised in this process (one host actor owns
 * the host's volumes), so a consumer being attached and another being
 * detached never race on one mount.
 *
 * Networks: the first network is given at create (the driver's endpoint:
 * NetworkMode + EndpointsConfig); others are connected after; addresses are
 * read back from Docker. Docker networks no container uses are removed by
 * `collectNetworks` after a grace period (the actor calls it on resync).
 * What a driver holds outside Docker for a consumer (kuryr: its Neutron
 * ports) is let go of with its mounts, after its Docker containers are
 * removed and before its Deleted is recorded (`releaseMounts`), by the
 * addresses recorded on it; on network_detach, `disconnect` hands the
 * driver the recorded addresses too, so the ports Zun made are deleted and
 * only the user's are unbound.
 *
 * Test hook: `crash(point)` is called after each step that creates something
 * on the host (`network-created`, `volume-created`, `volume-attached`,
 * `volume-mounted`); main.ts kills the process there when CRASH_AFTER names
 * the point, so tests can check that a restarted actor converges without
 * leaking or doubling anything.
 */
import type { NetRequest } from '../../events/index.js';
import type { NetworkAddress, NetworkRef } from '../../events/network.js';
import { desiredNets, observedNetworks, type AttachedNetwork } from '../../domain/container.js';
import { otherUsersOnHost, volumeHolders, volumeLive, type VolumeState } from '../../domain/volume.js';
import { loadCapsule, loadContainer, type CommandDeps } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { executeVolumeCommand, loadVolume } from '../resources/commands.js';
import { createKeyedLock, NetworkError, NetworkErrorCode, type CreateEndpoint, type NetworkDriver, type NetworkSpec } from './network/types.js';
import type { BindFileStore } from './volume/bind-file.js';
import { VolumeError, VolumeErrorCode, type VolumeDriver, type VolumeRef } from './volume/types.js';

export const CrashPoint = {
  networkCreated: 'network-created',
  volumeCreated: 'volume-created',
  volumeAttached: 'volume-attached',
  volumeMounted: 'volume-mounted',
} as const;
export type CrashPoint = (typeof CrashPoint)[keyof typeof CrashPoint];

/** A mount of a consumer, resolved: a Zun volume, or a file to inject. */
export interface ConsumerMount {
  readonly kind: 'volume' | 'bind';
  /** Zun volume uuid, or the injected file's id. */
  readonly volumeId: string;
  readonly destination: string;
  readonly readOnly?: boolean;
  /** bind: the file's content, base64. */
  readonly contentBase64?: string;
}

/** A failure no retry will cure: the reconciler records it (the consumer goes to Error). */
export class ResourceError extends Error {
  constructor(
    readonly code: 'VOLUME_NOT_FOUND' | 'VOLUME_ELSEWHERE' | 'NO_DRIVER' | 'UNUSABLE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ResourceError';
  }
}

/** Whether a failure of a network or volume step is terminal (recorded) rather than retried. */
export function terminalResourceError(err: unknown): boolean {
  if (err instanceof ResourceError) return true;
  if (err instanceof NetworkError) {
    return err.code === NetworkErrorCode.unsupported || err.code === NetworkErrorCode.notOurs || err.code === NetworkErrorCode.subnetInUse;
  }
  if (err instanceof VolumeError) {
    return err.code === VolumeErrorCode.invalid || err.code === VolumeErrorCode.formatMismatch || err.code === VolumeErrorCode.mountConflict;
  }
  return false;
}

export interface HostResourcesDeps {
  readonly hostname: string;
  readonly store: EventStore;
  readonly newId: () => string;
  readonly clock: () => Date;
  readonly log: Logger;
  readonly network?: NetworkDriver | null;
  readonly volumes?: VolumeDriver | null;
  readonly bindFiles?: BindFileStore | null;
  /** Test hook, see the module comment. */
  readonly crash?: (point: CrashPoint) => void;
}

export interface HostResources {
  readonly network: NetworkDriver | null;
  /** Creates, attaches and mounts each volume for `consumer`, injects files; returns the Binds. */
  prepareMounts(consumer: string, mounts: readonly ConsumerMount[]): Promise<string[]>;
  /**
   * Lets go of each volume and injected file of `consumer` (its containers
   * are gone), and of what the network driver holds for it outside Docker
   * (kuryr: its Neutron ports).
   */
  releaseMounts(consumer: string, mounts: readonly ConsumerMount[]): Promise<void>;
  /** The create-time endpoint of the first resolved network; null when there is none. */
  endpointFor(uuid: string, nets: readonly NetRequest[]): Promise<CreateEndpoint | null>;
  /** Zun network id -> addresses, for every network of ours Docker shows the container on. */
  connectedNetworks(dockerId: string, uuid: string, known: readonly NetworkRef[]): Promise<Map<string, NetworkAddress[]>>;
  connect(ref: { dockerId: string; uuid: string }, net: NetRequest): Promise<void>;
  disconnect(ref: { dockerId: string; uuid: string }, network: string, known: readonly NetworkRef[]): Promise<void>;
  /** Removes Docker networks that stayed unused for `graceMs`. Call periodically. */
  collectNetworks(nowMs: number, graceMs: number): Promise<void>;
}

export function createHostResources(deps: HostResourcesDeps): HostResources {
  const { hostname, store, log } = deps;
  const network = deps.network ?? null;
  const volumes = deps.volumes ?? null;
  const bindFiles = deps.bindFiles ?? null;
  const crash = deps.crash ?? (() => {});
  const withLock = createKeyedLock();
  const commandDeps: CommandDeps = { store, newId: deps.newId, now: deps.clock };
  let unusedSince = new Map<string, number>();
  /** Networks just handed to a create or connect (by driver network id): not collected while the container is being made. */
  const touched = new Map<string, number>();
  const touch = (spec: NetworkSpec) => touched.set(spec.id, deps.clock().getTime());

  const ctx = (projectId: string, commandId: string) => ({
    projectId,
    userId: `host:${hostname}`,
    requestId: `req-${deps.newId()}`,
    commandId,
  });

  function specOf(ref: NetworkRef): NetworkSpec {
    return {
      id: network?.kind === 'kuryr' ? ref.neutronNetId : ref.id,
      name: ref.name,
      projectId: ref.projectId,
      cidr: ref.cidr,
      gateway: ref.gateway,
      cidrV6: ref.cidrV6 ?? null,
      gatewayV6: ref.gatewayV6 ?? null,
      port: ref.port ?? null,
    };
  }

  /**
   * The consumer's networks as far as the network driver holds something
   * for them outside Docker (kuryr: Neutron ports; bridge: nothing), let go
   * of once its Docker containers are removed: every network it has
   * addresses recorded on, by those addresses, and every network it was
   * given whose addresses were never recorded (deleted before they were),
   * by what the driver finds for it now. The user's port of a `nets` entry
   * is kept (unbound) either way. Idempotent: run again after a crash, the
   * ports already deleted are not found.
   */
  async function releaseNetworks(consumer: string): Promise<void> {
    if (!network?.release) return;
    const container = await loadContainer(store, consumer);
    let recorded: Readonly<Record<string, AttachedNetwork>>;
    let given: readonly NetRequest[];
    if (container.status !== null) {
      recorded = observedNetworks(container);
      given = desiredNets(container);
    } else {
      const capsule = await loadCapsule(store, consumer);
      recorded = capsule.networks ?? {};
      given = capsule.spec?.nets ?? [];
    }
    const byId = new Map(given.filter((n) => n.resolved).map((n) => [n.resolved!.id, n]));
    for (const id of new Set([...Object.keys(recorded), ...byId.keys()])) {
      const req = byId.get(id);
      const spec = specOf(req?.resolved ?? { id, neutronNetId: recorded[id]!.neutronNetId, name: id, projectId: '', cidr: null, gateway: null });
      const userPort = req?.port ?? req?.resolved?.port;
      const found = recorded[id]?.addresses ?? (await network.addresses({ dockerId: '', uuid: consumer }, spec));
      const addresses = found.map((a) => (a.port === userPort && !a.preserve_on_delete ? { ...a, preserve_on_delete: true } : a));
      if (addresses.length === 0) continue;
      await network.release({ uuid: consumer }, spec, { addresses });
      log.info({ consumer, network: id, ports: [...new Set(addresses.map((a) => a.port))] }, 'network ports released');
    }
  }

  async function attachVolume(consumer: string, m: ConsumerMount): Promise<string> {
    if (!volumes) throw new ResourceError('NO_DRIVER', 'no volume driver is configured on this host');
    return withLock(m.volumeId, async () => {
      const vol = await loadVolume(store, m.volumeId);
      if (!volumeLive(vol)) throw new ResourceError('VOLUME_NOT_FOUND', `Volume ${m.volumeId} could not be found.`);
      if (volumes.kind === 'local-block' && vol.homeHost !== null && vol.homeHost !== hostname) {
        throw new ResourceError('VOLUME_ELSEWHERE', `Volume ${vol.name ?? vol.id} is a local volume of host ${vol.homeHost}, not of ${hostname}.`);
      }
      const { providerId } = await volumes.create({ id: vol.id, sizeGb: Math.max(1, vol.sizeGb) });
      const ref: VolumeRef = { id: vol.id, sizeGb: Math.max(1, vol.sizeGb), providerId };
      crash(CrashPoint.volumeCreated);
      await volumes.attach(ref, { containerUuid: consumer });
      crash(CrashPoint.volumeAttached);
      const { mountpoint } = await volumes.mount(ref);
      crash(CrashPoint.volumeMounted);
      if (vol.attachments[consumer] !== hostname) {
        const res = await executeVolumeCommand(
          commandDeps,
          vol.id,
          { type: 'AttachVolume', host: hostname, consumer, providerId, hostLocal: volumes.kind === 'local-block' },
          ctx(vol.projectId ?? 'unknown', `${hostname}:${vol.id}:${vol.seq}:attach:${consumer}`),
        );
        if (!res.ok) throw new ResourceError('VOLUME_NOT_FOUND', res.rejection.message);
        log.info({ volume: vol.id, consumer, mountpoint }, 'volume attached');
      }
      return mountpoint;
    });
  }

  /**
   * The driver's handle of a volume: its provider id as recorded in the log
   * (VolumeAttached), else as this host's driver finds it (the cinder driver
   * keeps it with the attachment state), else none (never attached here).
   */
  async function refOf(vol: VolumeState): Promise<VolumeRef> {
    const base: VolumeRef = { id: vol.id, sizeGb: Math.max(1, vol.sizeGb) };
    const providerId = vol.providerId ?? (await volumes!.inspect(base)).providerId;
    return { ...base, providerId };
  }

  async function detachVolume(consumer: string, volumeId: string): Promise<void> {
    if (!volumes) return;
    await withLock(volumeId, async () => {
      let vol = await loadVolume(store, volumeId);
      if (vol.status === null) return;
      const ref = await refOf(vol);
      // cinder without a provider id: none in the log, none saved on this host, and none in Cinder under
      // its name zun-<id> (refOf looks there): no Cinder volume was made, nothing to detach or delete.
      const onHost = ref.providerId != null || volumes.kind !== 'cinder';
      if (vol.status === 'Deleted') {
        // Recorded deleted (the last step), so the host side is done too, unless a crash came between: idempotent.
        if (onHost) await volumes.delete(ref);
        return;
      }
      if (onHost && otherUsersOnHost(vol, hostname, consumer).length === 0) {
        await volumes.unmount(ref);
        await volumes.detach(ref, { containerUuid: consumer });
      }
      const res = await executeVolumeCommand(commandDeps, vol.id, { type: 'DetachVolume', host: hostname, consumer }, ctx(vol.projectId ?? 'unknown', `${hostname}:${vol.id}:${vol.seq}:detach:${consumer}`));
      vol = res.state;
      if (vol.autoRemove && volumeLive(vol) && volumeHolders(vol).length === 0) {
        if (onHost) await volumes.delete(ref);
        await executeVolumeCommand(commandDeps, vol.id, { type: 'DeleteVolume' }, ctx(vol.projectId ?? 'unknown', `${hostname}:${vol.id}:${vol.seq}:delete`));
        log.info({ volume: vol.id, consumer }, 'auto-remove volume deleted');
      } else {
        log.info({ volume: vol.id, consumer }, 'volume detached');
      }
    });
  }

  return {
    network,

    async prepareMounts(consumer, mounts) {
      const binds: string[] = [];
      for (const m of mounts) {
        if (m.kind === 'bind') {
          if (!bindFiles) throw new ResourceError('NO_DRIVER', 'no file store is configured on this host');
          const { source } = await bindFiles.inject({ id: m.volumeId, contentBase64: m.contentBase64 ?? '' });
          binds.push(`${source}:${m.destination}`);
        } else {
          const mountpoint = await attachVolume(consumer, m);
          binds.push(`${mountpoint}:${m.destination}${m.readOnly ? ':ro' : ''}`);
        }
      }
      return binds;
    },

    async releaseMounts(consumer, mounts) {
      await releaseNetworks(consumer);
      const seen = new Set<string>();
      for (const m of mounts) {
        if (seen.has(m.volumeId)) continue;
        seen.add(m.volumeId);
        if (m.kind === 'bind') await bindFiles?.remove({ id: m.volumeId });
        else await detachVolume(consumer, m.volumeId);
      }
    },

    async endpointFor(uuid, nets) {
      const first = nets.find((n) => n.resolved);
      if (!first) return null;
      if (!network) throw new ResourceError('NO_DRIVER', 'no network driver is configured on this host');
      const spec = specOf(first.resolved!);
      touch(spec);
      const ep = await network.endpointForCreate({ uuid }, spec, {
        v4FixedIp: first.v4FixedIp ?? null,
        v6FixedIp: first.v6FixedIp ?? null,
        port: first.port ?? null,
      });
      crash(CrashPoint.networkCreated);
      return ep;
    },

    async connectedNetworks(dockerId, uuid, known) {
      const out = new Map<string, NetworkAddress[]>();
      if (!network) return out;
      const refOf = (id: string) => known.find((r) => specOf(r).id === id);
      if (network.observe) {
        const seen = await network.observe({ dockerId, uuid }, (id) => {
          const ref = refOf(id);
          return ref ? specOf(ref) : { id, name: id, projectId: '' };
        });
        for (const [id, addrs] of seen) out.set(refOf(id)?.id ?? id, addrs);
        return out;
      }
      for (const n of await network.listNetworks()) {
        if (!n.containers.includes(dockerId)) continue;
        const ref = known.find((r) => specOf(r).id === n.networkId);
        const zunId = ref?.id ?? n.networkId;
        const spec: NetworkSpec = ref ? specOf(ref) : { id: n.networkId, name: n.networkId, projectId: '' };
        out.set(zunId, await network.addresses({ dockerId, uuid }, spec));
      }
      return out;
    },

    async connect(ref, net) {
      if (!network) throw new ResourceError('NO_DRIVER', 'no network driver is configured on this host');
      touch(specOf(net.resolved!));
      await network.connect(ref, specOf(net.resolved!), { v4FixedIp: net.v4FixedIp ?? null, v6FixedIp: net.v6FixedIp ?? null, port: net.port ?? null });
    },

    async disconnect(ref, networkId, known) {
      if (!network) return;
      const r = known.find((k) => k.id === networkId);
      // The recorded addresses say which ports Zun made (deleted) and which were the user's (unbound).
      const addresses = network.release ? observedNetworks(await loadContainer(store, ref.uuid))[networkId]?.addresses : undefined;
      await network.disconnect(ref, r ? specOf(r) : { id: networkId, name: networkId, projectId: '' }, addresses ? { addresses } : {});
    },

    async collectNetworks(nowMs, graceMs) {
      if (!network) return;
      const next = new Map<string, number>();
      for (const n of await network.listNetworks()) {
        if (n.containers.length > 0) continue;
        const since = unusedSince.get(n.networkId) ?? nowMs;
        next.set(n.networkId, since);
        if (nowMs - since < graceMs) continue;
        if (nowMs - (touched.get(n.networkId) ?? -Infinity) < graceMs) continue;
        const { removed } = await network.removeNetworkIfUnused({ id: n.networkId, name: n.networkId, projectId: '' });
        if (removed) {
          next.delete(n.networkId);
          log.info({ network: n.networkId, dockerNetwork: n.dockerNetworkName }, 'unused network removed');
        }
      }
      unusedSince = next;
      for (const [id, at] of touched) if (nowMs - at >= graceMs) touched.delete(id);
    },
  };
}
