/**
 * (De)serialisation of event envelopes, with validation and upcasting.
 *
 * Pure. `decodeEvent` never returns a half-valid envelope: it either returns a
 * well-formed RecordedEvent in the current schema or throws MalformedEventError.
 */
import { AggregateKind, type DomainEvent, type EventEnvelope, type RecordedEvent } from './envelope.js';
import { ContainerEventTypes } from './container.js';
import { CapsuleEventTypes } from './capsule.js';
import { PlacementEventTypes } from './placement.js';

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
  PlacementsCommitted: ['placements'],
  ClaimsReleased: ['ids'],
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

function str(o: Record<string, unknown>, k: string, nullable = false): void {
  const v = o[k];
  if (nullable && v === null) return;
  if (typeof v !== 'string' || v.length === 0) throw new MalformedEventError(`event field "${k}" must be a non-empty string`);
}

/** Validates and upcasts a parsed object into a RecordedEvent. */
export function toRecordedEvent(raw: unknown, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  if (!isRecord(raw)) throw new MalformedEventError('event is not a JSON object');
  for (const k of ['id', 'type', 'aggregateKind', 'aggregateId', 'projectId', 'userId', 'requestId', 'correlationId', 'occurredAt']) {
    str(raw, k);
  }
  str(raw, 'causationId', true);
  const kind = raw['aggregateKind'] as string;
  const type = raw['type'] as string;
  if (!Object.hasOwn(KNOWN_TYPES, kind)) throw new MalformedEventError(`unknown aggregate kind "${kind}"`);
  if (!KNOWN_TYPES[kind as AggregateKind].has(type)) throw new MalformedEventError(`unknown ${kind} event type "${type}"`);
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
  for (const k of REQUIRED_DATA[type] ?? []) {
    if (!(k in data)) throw new MalformedEventError(`event "${type}" is missing data.${k}`);
  }
  return { ...(raw as unknown as EventEnvelope<DomainEvent>), schemaVersion: version, data, seq };
}

export function decodeEvent(bytes: Uint8Array, seq: number, upcasters: Upcasters = defaultUpcasters): RecordedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new MalformedEventError(`event at sequence ${seq} is not valid UTF-8 JSON`, { cause });
  }
  try {
    return toRecordedEvent(parsed, seq, upcasters);
  } catch (e) {
    if (e instanceof MalformedEventError) e.message = `event at sequence ${seq}: ${e.message}`;
    throw e;
  }
}
