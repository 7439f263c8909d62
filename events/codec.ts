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
  ContainerNetworkAttachFailed: ['network', 'reason'],
  ContainerCommitRequested: ['repository', 'tag', 'imageUuid'],
  ContainerCommitted: ['generation', 'repository', 'tag', 'imageUuid', 'imageId'],
  ContainerCommitFailed: ['generation', 'reason'],
  NetworkCreated: ['name', 'neutronNetId', 'projectId', 'cidr', 'gateway', 'isDefault'],
  PortCreated: ['portId', 'name', 'projectId', 'fixedIps', 'macAddress'],
  PortBound: ['portId', 'consumer'],
  PortDeleted: ['portId'],
  CidrAllocated: ['networkId', 'index', 'cidr', 'gateway'],
  CidrReleased: ['networkId'],
  VolumeCreated: ['name', 'projectId', 'sizeGb', 'autoRemove'],
  VolumeReserved: ['consumer'],
  VolumeAttached: ['host', 'consumer'],
  VolumeDetached: ['host', 'consumer'],
  PlacementsCommitted: ['placements'],
  ClaimsReleased: ['ids'],
  ClaimResized: ['id', 'claim'],
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

/**
 * The stored body: the envelope as JSON, in the envelope's key order, with
 * two fields left out where they carry nothing: `correlationId` when it
 * equals `requestId` (a request's own events) and `causationId` when it is
 * null. decodeEvent puts both back, so a decoded event equals the envelope
 * that was encoded. Bodies written before this (with both fields) decode the
 * same. Readers older than this change reject bodies without them: upgrade
 * readers before writers.
 */
export function encodeEvent(e: EventEnvelope): Uint8Array {
  const body: Record<string, unknown> = {
    id: e.id,
    type: e.type,
    schemaVersion: e.schemaVersion,
    aggregateKind: e.aggregateKind,
    aggregateId: e.aggregateId,
    projectId: e.projectId,
    userId: e.userId,
    requestId: e.requestId,
  };
  if (e.correlationId !== e.requestId) body['correlationId'] = e.correlationId;
  if (e.causationId !== null) body['causationId'] = e.causationId;
  body['occurredAt'] = e.occurredAt;
  body['data'] = e.data;
  return utf8Encoder.encode(JSON.stringify(body));
}

const utf8Encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** By aggregate kind, its event types and the keys each type's data must have. */
const KINDS: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>> = new Map(
  Object.entries(KNOWN_TYPES).map(([kind, types]) => [kind, new Map([...types].map((t) => [t, REQUIRED_DATA[t] ?? []]))]),
);

/** A field that must be a non-empty string. */
function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new MalformedEventError(`event field "${field}" must be a non-empty string`);
  return v;
}

const c0 = 48;
/** Two ASCII digits at s[i], s[i+1] as a number, or -1. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - c0;
  const b = s.charCodeAt(i + 1) - c0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Whether `s` is a timestamp Date.parse accepts. The form toISOString writes
 * (`YYYY-MM-DDTHH:MM:SS.mmmZ`, what every writer stores) is checked by hand
 * where it is unambiguous; anything else (days past 28, other forms) is left
 * to Date.parse, so the answer is Date.parse's for every string.
 */
function isTimestamp(s: string): boolean {
  if (
    s.length === 24 &&
    s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45 && s.charCodeAt(10) === 84 &&
    s.charCodeAt(13) === 58 && s.charCodeAt(16) === 58 && s.charCodeAt(19) === 46 && s.charCodeAt(23) === 90
  ) {
    const month = two(s, 5);
    const day = two(s, 8);
    const ms = two(s, 20);
    if (
      two(s, 0) >= 0 && two(s, 2) >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= 28 &&
      two(s, 11) >= 0 && two(s, 11) <= 23 && two(s, 14) >= 0 && two(s, 14) <= 59 && two(s, 17) >= 0 && two(s, 17) <= 59 &&
      ms >= 0 && two(s, 21) >= 0
    ) {
      return true;
    }
  }
  return !Number.isNaN(Date.parse(s));
}

interface RawEnvelope {
  readonly id?: unknown;
  readonly type?: unknown;
  readonly schemaVersion?: unknown;
  readonly aggregateKind?: unknown;
  readonly aggregateId?: unknown;
  readonly projectId?: unknown;
  readonly userId?: unknown;
  readonly requestId?: unknown;
  readonly correlationId?: unknown;
  readonly causationId?: unknown;
  readonly occurredAt?: unknown;
  readonly data?: unknown;
}

/**
 * Validates and upcasts a parsed envelope into a new RecordedEvent (the
 * envelope's fields only, in its key order; `raw` is not modified, `data` is
 * shared unless an upcaster replaced it). Checks run in a fixed order, so a
 * body with several faults always reports the same one.
 */
function complete(raw: unknown, seq: number, upcasters: Upcasters): RecordedEvent {
  if (!isRecord(raw)) throw new MalformedEventError('event is not a JSON object');
  const r = raw as RawEnvelope;
  const id = text(r.id, 'id');
  const type = text(r.type, 'type');
  const kind = text(r.aggregateKind, 'aggregateKind');
  const aggregateId = text(r.aggregateId, 'aggregateId');
  const projectId = text(r.projectId, 'projectId');
  const userId = text(r.userId, 'userId');
  const requestId = text(r.requestId, 'requestId');
  const correlationId = r.correlationId === undefined ? requestId : text(r.correlationId, 'correlationId');
  const occurredAt = text(r.occurredAt, 'occurredAt');
  const c = r.causationId;
  if (c !== undefined && c !== null && (typeof c !== 'string' || c.length === 0)) {
    throw new MalformedEventError('event field "causationId" must be a non-empty string');
  }
  const causationId = c === undefined ? null : c;
  const types = KINDS.get(kind);
  if (!types) throw new MalformedEventError(`unknown aggregate kind "${kind}"`);
  const required = types.get(type);
  if (!required) throw new MalformedEventError(`unknown ${kind} event type "${type}"`);
  let version = r.schemaVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw new MalformedEventError(`event "${type}" has an invalid schemaVersion`);
  }
  if (version > CURRENT_SCHEMA_VERSION) {
    throw new MalformedEventError(`event "${type}" has schemaVersion ${version}, newer than this build understands (${CURRENT_SCHEMA_VERSION})`);
  }
  if (!isTimestamp(occurredAt)) throw new MalformedEventError('event field "occurredAt" is not a timestamp');
  let data = r.data;
  while (version < CURRENT_SCHEMA_VERSION) {
    const up = upcasters[type]?.[version];
    data = up ? up(data) : data;
    version++;
  }
  if (!isRecord(data)) throw new MalformedEventError(`event "${type}" has no data object`);
  for (let i = 0; i < required.length; i++) {
    if (!(required[i]! in data)) throw new MalformedEventError(`event "${type}" is missing data.${required[i]}`);
  }
  return {
    id,
    type,
    schemaVersion: version,
    aggregateKind: kind,
    aggregateId,
    projectId,
    userId,
    requestId,
    correlationId,
    causationId,
    occurredAt,
    data,
    seq,
  } as RecordedEvent;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates and upcasts a parsed object into a RecordedEvent. Does not modify `raw`. */
export function toRecordedEvent(raw: unknown, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  return complete(raw, seq, upcasters);
}

export function decodeEvent(bytes: Uint8Array, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new MalformedEventError(`event at sequence ${seq} is not valid UTF-8 JSON`, { cause });
  }
  try {
    return complete(parsed, seq, upcasters);
  } catch (e) {
    if (e instanceof MalformedEventError) e.message = `event at sequence ${seq}: ${e.message}`;
    throw e;
  }
}
