/**
 * (De)serialisation of event envelopes, with validation and upcasting.
 *
 * Pure. `decodeEvent` never returns a half-valid envelope: it either returns a
 * well-formed RecordedEvent in the current schema or throws MalformedEventError.
 */
import { AggregateKind, type EventEnvelope, type RecordedEvent } from './envelope.js';
import { ContainerEventTypes } from './container.js';
import { CapsuleEventTypes } from './capsule.js';
import { PlacementEventTypes } from './placement.js';
import { QuotaClassEventTypes, QuotaEventTypes } from './quota.js';
import { RegistryEventTypes } from './registry.js';
import { IpamEventTypes, NetworkEventTypes } from './network.js';
import { VolumeEventTypes } from './volume.js';

export class MalformedEventError extends Error {
  readonly code = 'MALFORMED_EVENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MalformedEventError';
  }
}

const KNOWN_TYPES: Readonly<Record<AggregateKind, ReadonlySet<string>>> = {
  container: new Set(ContainerEventTypes),
  capsule: new Set(CapsuleEventTypes),
  placement: new Set(PlacementEventTypes),
  quota: new Set(QuotaEventTypes),
  quota_class: new Set(QuotaClassEventTypes),
  registry: new Set(RegistryEventTypes),
  network: new Set(NetworkEventTypes),
  ipam: new Set(IpamEventTypes),
  volume: new Set(VolumeEventTypes),
};

/** Required keys of `data`, by event type (a shape check, not a full schema). */
const REQUIRED_DATA: Readonly<Record<string, readonly string[]>> = {
  ContainerCreateRequested: ['spec', 'run'],
  ContainerScheduled: ['host', 'claim'],
  ContainerSchedulingFailed: ['reason'],
  ContainerKillRequested: ['signal'],
  ContainerRebuildRequested: ['image'],
  ContainerDeleteRequested: ['stop', 'force'],
  ContainerHostLost: ['host'],
  ContainerCreated: ['dockerId'],
  ContainerStarted: ['dockerId'],
  ContainerExited: ['exitCode', 'oomKilled'],
  ContainerRestarted: ['generation'],
  ContainerSignalled: ['generation', 'signal'],
  ContainerRebuilt: ['generation', 'dockerId'],
  ContainerOperationFailed: ['operation', 'reason'],
  CapsuleCreateRequested: ['spec'],
  CapsuleScheduled: ['host', 'claim'],
  CapsuleSchedulingFailed: ['reason'],
  CapsuleHostLost: ['host'],
  CapsuleSandboxCreated: ['sandboxId'],
  CapsuleMemberExited: ['member', 'exitCode'],
  CapsuleFailed: ['reason'],
  CapsuleMemberStarted: ['member'],
  CapsuleNetworkAttached: ['network', 'neutronNetId', 'addresses'],
  ContainerNetworkAttachRequested: ['net'],
  ContainerNetworkDetachRequested: ['network'],
  ContainerNetworkAttached: ['network', 'neutronNetId', 'addresses'],
  ContainerNetworkDetached: ['network'],
  NetworkCreated: ['name', 'neutronNetId', 'projectId', 'cidr', 'gateway', 'isDefault'],
  CidrAllocated: ['networkId', 'index', 'cidr', 'gateway'],
  CidrReleased: ['networkId'],
  VolumeCreated: ['name', 'projectId', 'sizeGb', 'autoRemove'],
  VolumeReserved: ['consumer'],
  VolumeAttached: ['host', 'consumer'],
  VolumeDetached: ['host', 'consumer'],
  PlacementsCommitted: ['placements'],
  ClaimsReleased: ['ids'],
  QuotaLimitsSet: ['limits'],
  QuotaUsageReserved: ['containerId', 'usage', 'expiresAt'],
  QuotaClassLimitsSet: ['limits'],
  RegistryCreated: ['domain', 'projectId', 'userId'],
  RegistryUpdated: ['changes'],
};

/** The schema version every event type is written in today. */
export const CURRENT_SCHEMA_VERSION = 1;

/**
 * Upcasters turn an old shape into the next version's shape:
 * `upcasters[type][fromVersion](data) -> data of version fromVersion + 1`.
 */
export type Upcasters = Readonly<Record<string, Readonly<Record<number, (data: unknown) => unknown>>>>;

/** Shapes that changed before schema version 1 was fixed. */
export const defaultUpcasters: Upcasters = {
  // v0 of ContainerExited carried no oomKilled flag.
  ContainerExited: { 0: (d) => ({ oomKilled: false, ...(d as object) }) },
};

export function encodeEvent(e: EventEnvelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(e));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const STRING_FIELDS = ['id', 'type', 'aggregateKind', 'aggregateId', 'projectId', 'userId', 'requestId', 'correlationId', 'occurredAt'] as const;
const NO_KEYS: readonly string[] = [];
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Validates and upcasts `raw` in place. Only for objects the caller owns
 * (a fresh JSON.parse result): on the bulk-replay path a copy per event
 * costs more than the parse.
 */
function completeInPlace(raw: unknown, seq: number, upcasters: Upcasters): RecordedEvent {
  if (!isRecord(raw)) throw new MalformedEventError('event is not a JSON object');
  for (let i = 0; i < STRING_FIELDS.length; i++) {
    const k = STRING_FIELDS[i]!;
    const v = raw[k];
    if (typeof v !== 'string' || v.length === 0) throw new MalformedEventError(`event field "${k}" must be a non-empty string`);
  }
  const c = raw['causationId'];
  if (c !== null && (typeof c !== 'string' || c.length === 0)) {
    throw new MalformedEventError('event field "causationId" must be a non-empty string');
  }
  const kind = raw['aggregateKind'] as string;
  const type = raw['type'] as string;
  const known = Object.hasOwn(KNOWN_TYPES, kind) ? KNOWN_TYPES[kind as AggregateKind] : undefined;
  if (!known) throw new MalformedEventError(`unknown aggregate kind "${kind}"`);
  if (!known.has(type)) throw new MalformedEventError(`unknown ${kind} event type "${type}"`);
  let version = raw['schemaVersion'];
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw new MalformedEventError(`event "${type}" has an invalid schemaVersion`);
  }
  if (version > CURRENT_SCHEMA_VERSION) {
    throw new MalformedEventError(`event "${type}" has schemaVersion ${version}, newer than this build understands (${CURRENT_SCHEMA_VERSION})`);
  }
  if (Number.isNaN(Date.parse(raw['occurredAt'] as string))) throw new MalformedEventError('event field "occurredAt" is not a timestamp');
  let data: unknown = raw['data'];
  while (version < CURRENT_SCHEMA_VERSION) {
    const up = upcasters[type]?.[version];
    data = up ? up(data) : data;
    version++;
  }
  if (!isRecord(data)) throw new MalformedEventError(`event "${type}" has no data object`);
  const required = REQUIRED_DATA[type] ?? NO_KEYS;
  for (let i = 0; i < required.length; i++) {
    if (!(required[i]! in data)) throw new MalformedEventError(`event "${type}" is missing data.${required[i]}`);
  }
  raw['schemaVersion'] = version;
  raw['data'] = data;
  raw['seq'] = seq;
  return raw as unknown as RecordedEvent;
}

/** Validates and upcasts a parsed object into a RecordedEvent. Does not modify `raw`. */
export function toRecordedEvent(raw: unknown, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  return completeInPlace(isRecord(raw) ? { ...raw } : raw, seq, upcasters);
}

export function decodeEvent(bytes: Uint8Array, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new MalformedEventError(`event at sequence ${seq} is not valid UTF-8 JSON`, { cause });
  }
  try {
    return completeInPlace(parsed, seq, upcasters);
  } catch (e) {
    if (e instanceof MalformedEventError) e.message = `event at sequence ${seq}: ${e.message}`;
    throw e;
  }
}
