/**
 * The command path for networks, the IPAM ledger and volumes, as
 * services/platform/commands.ts is for containers and capsules: load the
 * aggregate, fold, decide (pure, domain/network.ts and domain/volume.ts),
 * append fenced on the loaded sequence and idempotent by command id; on a
 * concurrency conflict reload and decide again (bounded). Rejections are
 * values and append nothing.
 *
 * Used by the gateway (create, reserve, allocate) and the host actor
 * (attach, detach, delete), so both decide against the same log.
 */
import type { AggregateKind, DomainEvent, RecordedEvent } from '../../events/index.js';
import type { IpamEvent, NetworkEvent } from '../../events/network.js';
import type { VolumeEvent } from '../../events/volume.js';
import {
  decideAllocate,
  decideNetwork,
  decideRelease,
  evolveIpam,
  evolveNetwork,
  initialIpamState,
  initialNetworkState,
  type IpamState,
  type NetworkCommand,
  type NetworkRejection,
  type NetworkState,
} from '../../domain/network.js';
import { decideVolume, evolveVolume, initialVolumeState, type VolumeCommand, type VolumeRejection, type VolumeState } from '../../domain/volume.js';
import type { EventStore } from '../platform/eventstore.js';
import { executeOn, type CommandContext, type CommandDeps, type CommandResult } from '../platform/commands.js';

export type ResourceResult<S, R> = CommandResult<S, R>;

/** The shared command path (services/platform/commands.ts) for one of these kinds. */
function run<S extends { seq: number }, E extends DomainEvent, R>(
  kind: AggregateKind,
  id: string,
  deps: CommandDeps,
  ctx: CommandContext,
  initial: () => S,
  evolve: (s: S, e: RecordedEvent<E>) => S,
  decide: (s: S) => { readonly events: readonly E[] } | { readonly rejected: R },
): Promise<ResourceResult<S, R>> {
  return executeOn<S, E, R>({ kind, initial, evolve }, deps, id, decide, ctx);
}

// ---- networks -------------------------------------------------------------------------

export function executeNetworkCommand(deps: CommandDeps, id: string, cmd: NetworkCommand, ctx: CommandContext) {
  return run<NetworkState, NetworkEvent, NetworkRejection>('network', id, deps, ctx, () => initialNetworkState(id), evolveNetwork as never, (s) =>
    decideNetwork(cmd, s),
  );
}

export async function loadNetwork(store: EventStore, id: string): Promise<NetworkState> {
  return (await store.load('network', id)).reduce((s, e) => evolveNetwork(s, e as RecordedEvent<NetworkEvent>), initialNetworkState(id));
}

/**
 * Takes a subnet of `pool` for `networkId` in the pool's ledger (fenced), or
 * returns the one it holds already.
 */
export async function allocateSubnet(
  deps: CommandDeps,
  pool: string,
  networkId: string,
  ctx: CommandContext,
): Promise<{ ok: true; index: number; cidr: string; gateway: string } | { ok: false; message: string }> {
  let allocation: { index: number; cidr: string; gateway: string } | null = null;
  const res = await run<IpamState & { seq: number }, IpamEvent, { code: 'exhausted'; message: string }>(
    'ipam',
    pool,
    deps,
    ctx,
    initialIpamState,
    evolveIpam as never,
    (s) => {
      const d = decideAllocate(s, pool, networkId);
      if ('rejected' in d) return d;
      allocation = { index: d.allocation.index, cidr: d.allocation.cidr, gateway: d.allocation.gateway };
      return { events: d.events };
    },
  );
  if (!res.ok) return { ok: false, message: res.rejection.message };
  if (res.duplicate) {
    const held = res.state.byNetwork[networkId];
    if (held) return { ok: true, index: held.index, cidr: held.cidr, gateway: held.gateway };
  }
  const a = allocation as { index: number; cidr: string; gateway: string } | null;
  if (!a) throw new Error(`no subnet decided for network ${networkId}`);
  return { ok: true, ...a };
}

export async function releaseSubnet(deps: CommandDeps, pool: string, networkId: string, ctx: CommandContext): Promise<void> {
  await run<IpamState & { seq: number }, IpamEvent, never>('ipam', pool, deps, ctx, initialIpamState, evolveIpam as never, (s) => ({
    events: decideRelease(s, networkId),
  }));
}

// ---- volumes ----------------------------------------------------------------------------

export function executeVolumeCommand(deps: CommandDeps, id: string, cmd: VolumeCommand, ctx: CommandContext) {
  return run<VolumeState, VolumeEvent, VolumeRejection>('volume', id, deps, ctx, () => initialVolumeState(id), evolveVolume as never, (s) =>
    decideVolume(cmd, s),
  );
}

export async function loadVolume(store: EventStore, id: string): Promise<VolumeState> {
  return (await store.load('volume', id)).reduce((s, e) => evolveVolume(s, e as RecordedEvent<VolumeEvent>), initialVolumeState(id));
}
