/**
 * The capsule event catalogue. A capsule is a group of containers sharing a
 * network namespace (a sandbox) and named volumes, placed by one claim.
 * Capsules use the container status set.
 */
import type { DomainEvent } from './envelope.js';
import type { Claim, NetRequest } from './container.js';
import type { NetworkAddress } from './network.js';

export type CapsuleRestartPolicy = 'always' | 'on-failure' | 'no';

export interface CapsuleContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly workdir: string | null;
  readonly environment: Readonly<Record<string, string>>;
  readonly imagePullPolicy: 'never' | 'always' | 'ifnotpresent';
  readonly interactive: boolean;
  readonly tty: boolean;
  readonly cpu: number | null;
  readonly memory: number | null;
  readonly exposedPorts: readonly string[];
  readonly volumeMounts: readonly { readonly name: string; readonly mountPath: string; readonly readOnly: boolean }[];
  /** The member's container uuid, given by the gateway (its Docker name is zun-<uuid>). Absent in older events. */
  readonly uuid?: string;
}

export interface CapsuleVolumeSpec {
  readonly name: string;
  readonly volumeId: string | null;
  readonly size: number | null;
  readonly autoRemove: boolean;
  /** The Zun volume (aggregate) the gateway resolved or created for it. Absent in older events. */
  readonly volumeUuid?: string;
}

export interface CapsuleSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly restartPolicy: CapsuleRestartPolicy;
  readonly availabilityZone: string | null;
  /** Sum over containers, raised to the largest init container request. */
  readonly cpu: number;
  readonly memory: number;
  readonly containers: readonly CapsuleContainerSpec[];
  readonly initContainers: readonly CapsuleContainerSpec[];
  readonly volumes: readonly CapsuleVolumeSpec[];
  /** The sandbox's networks, resolved by the gateway (the project's default network). Absent in older events. */
  readonly nets?: readonly NetRequest[];
  /** Set by the gateway: the host holding the existing local-block volumes it mounts (see ContainerSpec.volumeHost). */
  readonly volumeHost?: string;
}

type E<T extends string, D> = DomainEvent<T, D>;

// intents
export type CapsuleCreateRequested = E<'CapsuleCreateRequested', { readonly spec: CapsuleSpec }>;
export type CapsuleScheduled = E<'CapsuleScheduled', { readonly host: string; readonly claim: Claim }>;
export type CapsuleSchedulingFailed = E<'CapsuleSchedulingFailed', { readonly reason: string }>;
export type CapsuleDeleteRequested = E<'CapsuleDeleteRequested', Record<string, never>>;
export type CapsuleHostLost = E<'CapsuleHostLost', { readonly host: string }>;
// observations
export type CapsuleSandboxCreated = E<'CapsuleSandboxCreated', { readonly sandboxId: string }>;
export type CapsuleInitCompleted = E<'CapsuleInitCompleted', Record<string, never>>;
export type CapsuleStarted = E<'CapsuleStarted', Record<string, never>>;
export type CapsuleMemberExited = E<'CapsuleMemberExited', { readonly member: string; readonly exitCode: number }>;
export type CapsuleStopped = E<'CapsuleStopped', Record<string, never>>;
export type CapsuleFailed = E<'CapsuleFailed', { readonly reason: string }>;
export type CapsuleDeleted = E<'CapsuleDeleted', Record<string, never>>;
/** A member container (init or regular, by name) is running. */
export type CapsuleMemberStarted = E<'CapsuleMemberStarted', { readonly member: string }>;
/** The sandbox is on `network` (a Zun network id) with these addresses. */
export type CapsuleNetworkAttached = E<
  'CapsuleNetworkAttached',
  { readonly network: string; readonly neutronNetId: string; readonly addresses: readonly NetworkAddress[] }
>;

export type CapsuleEvent =
  | CapsuleCreateRequested
  | CapsuleScheduled
  | CapsuleSchedulingFailed
  | CapsuleDeleteRequested
  | CapsuleHostLost
  | CapsuleSandboxCreated
  | CapsuleInitCompleted
  | CapsuleStarted
  | CapsuleMemberExited
  | CapsuleStopped
  | CapsuleFailed
  | CapsuleDeleted
  | CapsuleMemberStarted
  | CapsuleNetworkAttached;
export type CapsuleEventType = CapsuleEvent['type'];

export const CapsuleEventTypes = [
  'CapsuleCreateRequested',
  'CapsuleScheduled',
  'CapsuleSchedulingFailed',
  'CapsuleDeleteRequested',
  'CapsuleHostLost',
  'CapsuleSandboxCreated',
  'CapsuleInitCompleted',
  'CapsuleStarted',
  'CapsuleMemberExited',
  'CapsuleStopped',
  'CapsuleFailed',
  'CapsuleDeleted',
  'CapsuleMemberStarted',
  'CapsuleNetworkAttached',
] as const satisfies readonly CapsuleEventType[];
