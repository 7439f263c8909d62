/**
 * The volume event catalogue: one aggregate per Zun volume
 * (`zun.evt.volume.<uuid>`), the source of truth for "the data survives the
 * container and is there when the volume is mounted again".
 *
 * Writers: the gateway creates and reserves (Cinder's create and reserve);
 * the host actor that mounts the volume records attach and detach for each
 * consumer (a container or a capsule, by uuid), and deletes auto-remove
 * volumes once their last consumer has let go.
 *
 * Pure: types and constants only.
 */
import type { DomainEvent } from './envelope.js';

type E<T extends string, D> = DomainEvent<T, D>;

export type VolumeCreated = E<
  'VolumeCreated',
  {
    readonly name: string;
    readonly projectId: string;
    readonly sizeGb: number;
    /** Deleted together with its consumer (mounts with `size`, capsule volumes with autoRemove). */
    readonly autoRemove: boolean;
  }
>;
/** The gateway claims the volume for a consumer about to be created (Cinder's reserve). */
export type VolumeReserved = E<'VolumeReserved', { readonly consumer: string }>;
/** Mounted on `host` and bound into `consumer` (a container or capsule uuid). */
export type VolumeAttached = E<
  'VolumeAttached',
  {
    readonly host: string;
    readonly consumer: string;
    /** The driver's id for it (cinder: the Cinder volume id); absent in events written before it was recorded. */
    readonly providerId?: string | null;
    /** Whether the data lives on this host's disk (local-block: true; cinder: false). Absent in older events: true. */
    readonly hostLocal?: boolean;
  }
>;
/** `consumer` let go of the volume on `host` (also ends its reservation). */
export type VolumeDetached = E<'VolumeDetached', { readonly host: string; readonly consumer: string }>;
/** The backing store is gone: the data with it. */
export type VolumeDeleted = E<'VolumeDeleted', Record<string, never>>;

export type VolumeEvent = VolumeCreated | VolumeReserved | VolumeAttached | VolumeDetached | VolumeDeleted;
export type VolumeEventType = VolumeEvent['type'];
export const VolumeEventTypes = [
  'VolumeCreated',
  'VolumeReserved',
  'VolumeAttached',
  'VolumeDetached',
  'VolumeDeleted',
] as const satisfies readonly VolumeEventType[];
