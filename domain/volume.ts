/**
 * The volume aggregate: state, fold and decider. Pure and total.
 *
 * A volume is used by one consumer at a time (a container or a capsule, by
 * uuid), as a Cinder volume that is not multiattach: the gateway reserves it
 * for the consumer it is about to create (fenced on the volume, so two
 * creates cannot both take it); the host actor records where it is mounted
 * (attach) and when the consumer let go (detach, which also ends the
 * reservation). A reservation whose consumer never came to life (its create
 * failed after the reserve) is passed in as `stale` by the caller, who checks
 * the consumer's own log; the aggregate cannot see other aggregates.
 *
 * local-block volumes live on one host's disk: `homeHost` is where the volume
 * was first attached, so another host can refuse it instead of silently
 * making an empty one, and the gateway can tell placement where a container
 * mounting it must run (ContainerSpec.volumeHost). Volumes whose data is not
 * on a host (cinder: VolumeAttached.hostLocal false) have no home.
 */
import type { RecordedEvent } from '../events/index.js';
import type { VolumeEvent } from '../events/volume.js';

export interface VolumeState {
  readonly id: string;
  readonly seq: number;
  readonly status: 'Available' | 'Deleted' | null;
  readonly name: string | null;
  readonly projectId: string | null;
  readonly sizeGb: number;
  readonly autoRemove: boolean;
  /** Consumer uuid -> when it was reserved (ISO). */
  readonly reservations: Readonly<Record<string, string>>;
  /** Consumer uuid -> host it is attached on. */
  readonly attachments: Readonly<Record<string, string>>;
  /** The first host the volume was attached on (its data lives there for host-local drivers). */
  readonly homeHost: string | null;
  /** The volume driver's id for it (cinder: the Cinder volume id), as the host that attached it recorded it. */
  readonly providerId: string | null;
  readonly createdAt: string | null;
}

export function initialVolumeState(id: string): VolumeState {
  return {
    id, seq: 0, status: null, name: null, projectId: null, sizeGb: 0, autoRemove: false,
    reservations: {}, attachments: {}, homeHost: null, providerId: null, createdAt: null,
  };
}

const without = <T>(o: Readonly<Record<string, T>>, k: string): Record<string, T> => {
  const { [k]: _gone, ...rest } = o;
  return rest;
};

type Meta = { seq?: number; occurredAt?: string };

export function evolveVolume(s: VolumeState, e: RecordedEvent<VolumeEvent> | (VolumeEvent & Meta)): VolumeState {
  const seq = e.seq ?? s.seq;
  switch (e.type) {
    case 'VolumeCreated':
      return {
        ...initialVolumeState(s.id),
        seq,
        status: 'Available',
        name: e.data.name,
        projectId: e.data.projectId,
        sizeGb: e.data.sizeGb,
        autoRemove: e.data.autoRemove,
        createdAt: e.occurredAt ?? null,
      };
    case 'VolumeReserved':
      return { ...s, seq, reservations: { ...s.reservations, [e.data.consumer]: e.occurredAt ?? '' } };
    case 'VolumeAttached':
      return {
        ...s,
        seq,
        attachments: { ...s.attachments, [e.data.consumer]: e.data.host },
        homeHost: e.data.hostLocal === false ? s.homeHost : (s.homeHost ?? e.data.host),
        providerId: e.data.providerId ?? s.providerId,
      };
    case 'VolumeDetached':
      return { ...s, seq, attachments: without(s.attachments, e.data.consumer), reservations: without(s.reservations, e.data.consumer) };
    case 'VolumeDeleted':
      return { ...s, seq, status: 'Deleted', reservations: {}, attachments: {} };
  }
}

export function foldVolume(id: string, events: Iterable<RecordedEvent>): VolumeState {
  let s = initialVolumeState(id);
  for (const e of events) s = evolveVolume(s, e as RecordedEvent<VolumeEvent>);
  return s;
}

export const volumeLive = (s: VolumeState): boolean => s.status === 'Available';

/** Consumers holding the volume (reserved or attached). */
export function volumeHolders(s: VolumeState): string[] {
  return [...new Set([...Object.keys(s.reservations), ...Object.keys(s.attachments)])];
}

/** Consumers attached on `host`, other than `except`. */
export function otherUsersOnHost(s: VolumeState, host: string, except: string): string[] {
  return Object.entries(s.attachments)
    .filter(([c, h]) => h === host && c !== except)
    .map(([c]) => c);
}

export type VolumeCommand =
  | { readonly type: 'CreateVolume'; readonly name: string; readonly projectId: string; readonly sizeGb: number; readonly autoRemove: boolean }
  | { readonly type: 'ReserveVolume'; readonly consumer: string; readonly stale: readonly string[] }
  | {
      readonly type: 'AttachVolume';
      readonly host: string;
      readonly consumer: string;
      readonly providerId?: string | null;
      /** The data lives on this host's disk (local-block). */
      readonly hostLocal?: boolean;
    }
  | { readonly type: 'DetachVolume'; readonly host: string; readonly consumer: string }
  | { readonly type: 'DeleteVolume' };

export type VolumeRejection = { readonly code: 'not-found' | 'conflict' | 'in-use'; readonly message: string };
export type VolumeDecision = { readonly events: readonly VolumeEvent[] } | { readonly rejected: VolumeRejection };

/**
 * Decides a volume command. Idempotent where a retry must be harmless:
 * reserving for the consumer that holds it, attaching what is attached and
 * detaching what is not held all decide no events.
 */
export function decideVolume(cmd: VolumeCommand, s: VolumeState): VolumeDecision {
  if (cmd.type === 'CreateVolume') {
    if (volumeLive(s)) return { rejected: { code: 'conflict', message: `Volume ${s.id} already exists.` } };
    return {
      events: [{ type: 'VolumeCreated', data: { name: cmd.name, projectId: cmd.projectId, sizeGb: cmd.sizeGb, autoRemove: cmd.autoRemove } }],
    };
  }
  if (!volumeLive(s)) return { rejected: { code: 'not-found', message: `Volume ${s.id} could not be found.` } };
  switch (cmd.type) {
    case 'ReserveVolume': {
      if (s.reservations[cmd.consumer] !== undefined || s.attachments[cmd.consumer] !== undefined) return { events: [] };
      const stale = new Set(cmd.stale);
      const busy = volumeHolders(s).filter((c) => !stale.has(c));
      if (busy.length > 0) {
        return { rejected: { code: 'in-use', message: `Volume ${s.name ?? s.id} is in use by ${busy.join(', ')}.` } };
      }
      const events: VolumeEvent[] = [];
      // Stale holders are let go of first, so the state says who really holds it.
      for (const c of volumeHolders(s)) {
        events.push({ type: 'VolumeDetached', data: { host: s.attachments[c] ?? '', consumer: c } });
      }
      events.push({ type: 'VolumeReserved', data: { consumer: cmd.consumer } });
      return { events };
    }
    case 'AttachVolume':
      if (s.attachments[cmd.consumer] === cmd.host) return { events: [] };
      return {
        events: [
          {
            type: 'VolumeAttached',
            data: {
              host: cmd.host,
              consumer: cmd.consumer,
              ...(cmd.providerId ? { providerId: cmd.providerId } : {}),
              ...(cmd.hostLocal !== undefined ? { hostLocal: cmd.hostLocal } : {}),
            },
          },
        ],
      };
    case 'DetachVolume':
      if (s.attachments[cmd.consumer] === undefined && s.reservations[cmd.consumer] === undefined) return { events: [] };
      return { events: [{ type: 'VolumeDetached', data: { host: cmd.host, consumer: cmd.consumer } }] };
    case 'DeleteVolume': {
      const attached = Object.keys(s.attachments);
      if (attached.length > 0) return { rejected: { code: 'in-use', message: `Volume ${s.id} is attached to ${attached.join(', ')}.` } };
      return { events: [{ type: 'VolumeDeleted', data: {} }] };
    }
  }
}
