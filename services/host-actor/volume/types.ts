/**
 * The volume driver port of the host actor. One implementation per
 * `VOLUME_DRIVER`: local-block (a sparse file on a loop device, the default
 * here) and cinder (Cinder's API, then the same mount steps).
 *
 * The life of a volume on a host: create -> attach -> mount -> (bind-mounted
 * into containers as `Binds: ["<mountpoint>:<dest>"]`) -> unmount -> detach
 * -> delete. Every step is idempotent and converges from whatever state a
 * crash left behind: attach finds an existing attachment, mount finds an
 * existing mount, unmount / detach / delete of something already gone are
 * no-ops. After a restart, call attach again before mount: it is the step
 * that rediscovers the device.
 */

export interface VolumeRef {
  /** Zun's volume uuid: it names the backing file and the mountpoint. */
  readonly id: string;
  readonly sizeGb: number;
  /** The provider's id: the Cinder volume id (from create, or a user's volumeID). local-block ignores it. */
  readonly providerId?: string | null;
}

export interface AttachContext {
  /** The container the volume is attached for: Cinder's instance_uuid and the attachment's server_id. */
  readonly containerUuid?: string | null;
}

export interface DetachContext extends AttachContext {
  /**
   * Another mapping on this host still uses the volume (Zun's
   * _volume_connection_keep): detach in Cinder without disconnecting the
   * device or terminating the connection.
   */
  readonly keepConnection?: boolean;
}

/** What is on this host for a volume, as found now (for recovery and drift checks). */
export interface VolumeObservation {
  readonly id: string;
  readonly providerId: string | null;
  /** local-block: the backing file exists. cinder: this host holds attachment state for it. */
  readonly exists: boolean;
  /** Block devices attached for it (more than one only after a leak, which detach cleans up). */
  readonly devices: readonly string[];
  readonly mountpoint: string;
  readonly mounted: boolean;
  /** The device mounted at the mountpoint, per /proc/self/mountinfo. */
  readonly mountSource: string | null;
}

export interface VolumeDriver {
  readonly kind: 'local-block' | 'cinder';
  /** Where the volume is (or will be) mounted on the host: the source of the container bind mount. */
  mountpointOf(vol: Pick<VolumeRef, 'id'>): string;
  /** Creates the backing store if missing; returns the provider id to keep with the volume. */
  create(vol: VolumeRef): Promise<{ providerId: string }>;
  /** Attaches the volume to this host; returns the block device. Idempotent. */
  attach(vol: VolumeRef, ctx?: AttachContext): Promise<{ devicePath: string }>;
  /** Mounts the attached device (ext4, created on first use only). A no-op when already mounted. */
  mount(vol: VolumeRef): Promise<{ mountpoint: string }>;
  /** Unmounts and removes the mountpoint directory. A no-op when not mounted. */
  unmount(vol: VolumeRef): Promise<void>;
  /** Unmounts if needed, then detaches from this host. Fails with BUSY if a device cannot be released. */
  detach(vol: VolumeRef, ctx?: DetachContext): Promise<void>;
  /**
   * Deletes the backing store (data is gone). local-block detaches first;
   * cinder expects the volume detached (Cinder refuses an in-use volume).
   */
  delete(vol: VolumeRef): Promise<void>;
  inspect(vol: VolumeRef): Promise<VolumeObservation>;
  /** The volumes this driver finds on this host. */
  list(): Promise<VolumeObservation[]>;
}

export const VolumeErrorCode = {
  invalid: 'INVALID',
  /** The backing file / Cinder volume does not exist. */
  notFound: 'NOT_FOUND',
  /** mount before attach. */
  notAttached: 'NOT_ATTACHED',
  /** A device or mount is in use (a container still holds it). */
  busy: 'BUSY',
  /** Something else is mounted at the volume's mountpoint. */
  mountConflict: 'MOUNT_CONFLICT',
  /** The device holds a filesystem that is not ext4: never reformatted. */
  formatMismatch: 'FORMAT_MISMATCH',
  /** A host command (losetup, blkid, mkfs.ext4, mount, umount) failed. */
  command: 'COMMAND_FAILED',
  /** Cinder answered with an error, or the volume went to an error state. */
  cinder: 'CINDER_ERROR',
  timeout: 'TIMEOUT',
  /** Cinder gave a connection of a type this host cannot connect. */
  unsupportedConnector: 'UNSUPPORTED_CONNECTOR',
} as const;
export type VolumeErrorCode = (typeof VolumeErrorCode)[keyof typeof VolumeErrorCode];

export class VolumeError extends Error {
  constructor(
    readonly code: VolumeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VolumeError';
  }
}

/** Volume ids become file names: only uuid-like tokens. */
export function assertSafeId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id) || id.includes('..')) {
    throw new VolumeError(VolumeErrorCode.invalid, `volume id ${JSON.stringify(id)} is not a safe file name`);
  }
}
