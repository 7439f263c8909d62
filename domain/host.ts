/**
 * A compute host as registered in etcd by its host actor, under a lease.
 * Pure type and key helpers; the registry I/O lives in services/.
 */
export interface HostCapacity {
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGb: number;
}

export interface HostRecord {
  /** The host's name: its identity everywhere (events, KV keys, labels). */
  readonly hostname: string;
  /** Stable uuid of the host (for the hosts API). */
  readonly uuid: string;
  readonly capacity: HostCapacity;
  readonly labels: Readonly<Record<string, string>>;
  readonly availabilityZone: string;
  readonly runtimes: readonly string[];
  readonly version: string;
  /** Operator switch (services API); a disabled host takes no new work. */
  readonly disabled: boolean;
  readonly disabledReason: string | null;
  readonly os: string;
  readonly osType: string;
  readonly architecture: string;
  readonly kernelVersion: string;
  /** ISO time the actor registered (from the actor's clock). */
  readonly startedAt: string;
}

/** etcd key prefix of the live host registry; a key exists while its lease does. */
export const HOST_REGISTRY_PREFIX = 'zun/hosts/';
export const hostRegistryKey = (hostname: string) => `${HOST_REGISTRY_PREFIX}${hostname}`;
/** Operator settings (enable/disable) outlive the lease. */
export const HOST_SETTINGS_PREFIX = 'zun/host-settings/';
export const DEFAULT_AVAILABILITY_ZONE = 'nova';
