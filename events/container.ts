/**
 * The container event catalogue.
 *
 * Intents are written by the gateway and placement; observations only by the
 * host actor that owns the container (ContainerHostLost by placement, which
 * watches host liveness). Past-tense names, readonly payloads.
 */
import type { DomainEvent } from './envelope.js';
import type { NetworkAddress, NetworkRef } from './network.js';

export const ContainerStatus = {
  Creating: 'Creating',
  Created: 'Created',
  Running: 'Running',
  Paused: 'Paused',
  Stopped: 'Stopped',
  Restarting: 'Restarting',
  Rebuilding: 'Rebuilding',
  Deleting: 'Deleting',
  Deleted: 'Deleted',
  Error: 'Error',
  Unknown: 'Unknown',
  Dead: 'Dead',
} as const;
export type ContainerStatus = (typeof ContainerStatus)[keyof typeof ContainerStatus];

export const TaskState = {
  image_pulling: 'image_pulling',
  container_creating: 'container_creating',
  container_starting: 'container_starting',
  container_deleting: 'container_deleting',
  container_stopping: 'container_stopping',
  container_rebooting: 'container_rebooting',
  container_pausing: 'container_pausing',
  container_unpausing: 'container_unpausing',
  container_killing: 'container_killing',
  sg_adding: 'sg_adding',
  sg_removing: 'sg_removing',
  network_attaching: 'network_attaching',
  network_detaching: 'network_detaching',
  container_rebuilding: 'container_rebuilding',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

export const RestartPolicyName = {
  no: 'no',
  always: 'always',
  'on-failure': 'on-failure',
  'unless-stopped': 'unless-stopped',
} as const;
export type RestartPolicyName = (typeof RestartPolicyName)[keyof typeof RestartPolicyName];

export const ImagePullPolicy = { never: 'never', always: 'always', ifnotpresent: 'ifnotpresent' } as const;
export type ImagePullPolicy = (typeof ImagePullPolicy)[keyof typeof ImagePullPolicy];

export interface RestartPolicy {
  readonly name: RestartPolicyName;
  readonly maximumRetryCount: number;
}

export interface Healthcheck {
  readonly test: string;
  readonly interval: number;
  readonly retries: number;
  readonly timeout: number;
}

export interface NetRequest {
  readonly network?: string;
  readonly port?: string;
  readonly v4FixedIp?: string;
  readonly v6FixedIp?: string;
  /** The network the gateway resolved `network` (or the project default) to; absent in events written before networks. */
  readonly resolved?: NetworkRef;
}

export interface MountRequest {
  readonly type: 'volume' | 'bind';
  readonly source?: string;
  readonly size?: number;
  readonly destination: string;
  /**
   * Resolved by the gateway: the Zun volume uuid (type volume), or the id of
   * the injected file (type bind). Absent in events written before volumes.
   */
  readonly volumeId?: string;
}

/** A container as the user asked for it, normalised from any microversion. */
export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly entrypoint: readonly string[] | null;
  /** vCPUs, 0.1..16. */
  readonly cpu: number;
  /** MiB. */
  readonly memory: number;
  /** GB, or null when not requested. */
  readonly disk: number | null;
  readonly workdir: string | null;
  readonly hostname: string | null;
  readonly environment: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly imageDriver: 'docker' | 'glance';
  readonly imagePullPolicy: ImagePullPolicy;
  readonly restartPolicy: RestartPolicy;
  readonly interactive: boolean;
  readonly tty: boolean;
  readonly autoRemove: boolean;
  readonly autoHeal: boolean;
  readonly runtime: string | null;
  readonly privileged: boolean;
  readonly healthcheck: Healthcheck | null;
  readonly exposedPorts: readonly string[];
  readonly securityGroups: readonly string[];
  readonly cpuPolicy: 'shared' | 'dedicated';
  readonly registryId: string | null;
  readonly availabilityZone: string | null;
  readonly hints: Readonly<Record<string, string>>;
  /** 1.39 `host` on create (admin). */
  readonly requestedHost: string | null;
  /**
   * Set by the gateway: the host whose disk holds the host-local volumes
   * (local-block) this container mounts; placement considers only it.
   * Absent when the mounts have no home yet (or are not host-local).
   */
  readonly volumeHost?: string;
  readonly nets: readonly NetRequest[];
  readonly mounts: readonly MountRequest[];
}

/** Resources reserved on a host for one container or capsule. */
export interface Claim {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly diskGb: number;
}

type E<T extends string, D> = DomainEvent<T, D>;

// ---- intents (gateway, placement) ---------------------------------------
export type ContainerCreateRequested = E<'ContainerCreateRequested', { readonly spec: ContainerSpec; readonly run: boolean }>;
export type ContainerScheduled = E<'ContainerScheduled', { readonly host: string; readonly claim: Claim }>;
export type ContainerSchedulingFailed = E<'ContainerSchedulingFailed', { readonly reason: string }>;
export type ContainerStartRequested = E<'ContainerStartRequested', Record<string, never>>;
export type ContainerStopRequested = E<'ContainerStopRequested', { readonly timeout: number | null }>;
export type ContainerRebootRequested = E<'ContainerRebootRequested', { readonly timeout: number | null }>;
export type ContainerPauseRequested = E<'ContainerPauseRequested', Record<string, never>>;
export type ContainerUnpauseRequested = E<'ContainerUnpauseRequested', Record<string, never>>;
export type ContainerKillRequested = E<'ContainerKillRequested', { readonly signal: string | null }>;
export type ContainerRebuildRequested = E<'ContainerRebuildRequested', { readonly image: string; readonly imageDriver: 'docker' | 'glance' }>;
export type ContainerUpdated = E<
  'ContainerUpdated',
  { readonly name?: string; readonly cpu?: number; readonly memory?: number; readonly autoHeal?: boolean }
>;
export type ContainerDeleteRequested = E<'ContainerDeleteRequested', { readonly stop: boolean; readonly force: boolean }>;
/** Placement saw the host's lease expire. */
export type ContainerHostLost = E<'ContainerHostLost', { readonly host: string }>;
/** network_attach (1.8): one more network, resolved by the gateway. */
export type ContainerNetworkAttachRequested = E<'ContainerNetworkAttachRequested', { readonly net: NetRequest }>;
/** network_detach (1.6): by Zun network id. */
export type ContainerNetworkDetachRequested = E<'ContainerNetworkDetachRequested', { readonly network: string }>;
/**
 * commit: `docker commit` of the container to `repository:tag` on its host.
 * `imageUuid` is minted by the gateway (the uuid the API answers with; the
 * image carries it as a label once made), as Zun answers with the Glance
 * image it creates before the commit runs.
 */
export type ContainerCommitRequested = E<
  'ContainerCommitRequested',
  { readonly repository: string; readonly tag: string; readonly imageUuid: string }
>;

// ---- observations (host actor) --------------------------------------------
export type ContainerCreated = E<'ContainerCreated', { readonly dockerId: string }>;
/**
 * `networks`: the addresses Docker showed right after the start, for each network whose
 * recorded addresses they change: the ContainerNetworkAttached records the start would
 * otherwise be followed by, folded the same way. Absent when there was nothing to record,
 * when Docker could not be asked, and in events written before the field existed (2026-11-26).
 */
export type ContainerStarted = E<
  'ContainerStarted',
  { readonly dockerId: string; readonly networks?: readonly ContainerNetworkAttached['data'][] }
>;
export type ContainerExited = E<'ContainerExited', { readonly exitCode: number; readonly oomKilled: boolean }>;
export type ContainerPaused = E<'ContainerPaused', Record<string, never>>;
export type ContainerUnpaused = E<'ContainerUnpaused', Record<string, never>>;
/** A reboot generation was carried out (docker restart). */
export type ContainerRestarted = E<'ContainerRestarted', { readonly generation: number }>;
/** A kill generation's signal was delivered. */
export type ContainerSignalled = E<'ContainerSignalled', { readonly generation: number; readonly signal: string }>;
/** A rebuild generation was carried out: the container was recreated from the image. */
export type ContainerRebuilt = E<'ContainerRebuilt', { readonly generation: number; readonly dockerId: string }>;
/** The container is gone from Docker although the log says it should exist. */
export type ContainerMissing = E<'ContainerMissing', Record<string, never>>;
/** Docker refused an operation. */
export type ContainerOperationFailed = E<'ContainerOperationFailed', { readonly operation: string; readonly reason: string }>;
/** The container is on `network` (a Zun network id) with these addresses, as Docker shows them. */
export type ContainerNetworkAttached = E<
  'ContainerNetworkAttached',
  { readonly network: string; readonly neutronNetId: string; readonly addresses: readonly NetworkAddress[] }
>;
/** The container is no longer on `network`. */
export type ContainerNetworkDetached = E<'ContainerNetworkDetached', { readonly network: string }>;
/**
 * The host gave up joining `network` (a Zun network id), asked by
 * network_attach: its connects kept failing. The network is no longer
 * wanted (as in Zun, a failed attach leaves the container without it).
 */
export type ContainerNetworkAttachFailed = E<'ContainerNetworkAttachFailed', { readonly network: string; readonly reason: string }>;
/** A commit generation was carried out: the host has `repository:tag` as Docker image `imageId`. */
export type ContainerCommitted = E<
  'ContainerCommitted',
  { readonly generation: number; readonly repository: string; readonly tag: string; readonly imageUuid: string; readonly imageId: string }
>;
/** Docker refused a commit generation. The container itself is unaffected (its status does not change). */
export type ContainerCommitFailed = E<'ContainerCommitFailed', { readonly generation: number; readonly reason: string }>;
/** Removed from the host (or never placed on one); resources and claims are released. */
export type ContainerDeleted = E<'ContainerDeleted', Record<string, never>>;

export type ContainerIntent =
  | ContainerCreateRequested
  | ContainerScheduled
  | ContainerSchedulingFailed
  | ContainerStartRequested
  | ContainerStopRequested
  | ContainerRebootRequested
  | ContainerPauseRequested
  | ContainerUnpauseRequested
  | ContainerKillRequested
  | ContainerRebuildRequested
  | ContainerUpdated
  | ContainerDeleteRequested
  | ContainerHostLost
  | ContainerNetworkAttachRequested
  | ContainerNetworkDetachRequested
  | ContainerCommitRequested;

export type ContainerObservation =
  | ContainerCreated
  | ContainerStarted
  | ContainerExited
  | ContainerPaused
  | ContainerUnpaused
  | ContainerRestarted
  | ContainerSignalled
  | ContainerRebuilt
  | ContainerMissing
  | ContainerOperationFailed
  | ContainerDeleted
  | ContainerNetworkAttached
  | ContainerNetworkDetached
  | ContainerNetworkAttachFailed
  | ContainerCommitted
  | ContainerCommitFailed;

export type ContainerEvent = ContainerIntent | ContainerObservation;
export type ContainerEventType = ContainerEvent['type'];

/** Every container event type, for exhaustiveness checks and validation. */
export const ContainerEventTypes = [
  'ContainerCreateRequested',
  'ContainerScheduled',
  'ContainerSchedulingFailed',
  'ContainerStartRequested',
  'ContainerStopRequested',
  'ContainerRebootRequested',
  'ContainerPauseRequested',
  'ContainerUnpauseRequested',
  'ContainerKillRequested',
  'ContainerRebuildRequested',
  'ContainerUpdated',
  'ContainerDeleteRequested',
  'ContainerHostLost',
  'ContainerCreated',
  'ContainerStarted',
  'ContainerExited',
  'ContainerPaused',
  'ContainerUnpaused',
  'ContainerRestarted',
  'ContainerSignalled',
  'ContainerRebuilt',
  'ContainerMissing',
  'ContainerOperationFailed',
  'ContainerDeleted',
  'ContainerNetworkAttachRequested',
  'ContainerNetworkDetachRequested',
  'ContainerNetworkAttached',
  'ContainerNetworkDetached',
  'ContainerNetworkAttachFailed',
  'ContainerCommitRequested',
  'ContainerCommitted',
  'ContainerCommitFailed',
] as const satisfies readonly ContainerEventType[];

export const ContainerObservationTypes = [
  'ContainerCreated',
  'ContainerStarted',
  'ContainerExited',
  'ContainerPaused',
  'ContainerUnpaused',
  'ContainerRestarted',
  'ContainerSignalled',
  'ContainerRebuilt',
  'ContainerMissing',
  'ContainerOperationFailed',
  'ContainerDeleted',
  'ContainerNetworkAttached',
  'ContainerNetworkDetached',
  'ContainerNetworkAttachFailed',
  'ContainerCommitted',
  'ContainerCommitFailed',
] as const satisfies readonly ContainerObservation['type'][];
