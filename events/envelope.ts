/**
 * The event envelope: metadata shared by every event of every aggregate.
 *
 * Pure: no I/O, no clock, no id generation. Callers pass ids and times in.
 */

export const AggregateKind = {
  container: 'container',
  capsule: 'capsule',
  placement: 'placement',
  quota: 'quota',
  quota_class: 'quota_class',
  registry: 'registry',
  network: 'network',
  ipam: 'ipam',
  volume: 'volume',
} as const;
export type AggregateKind = (typeof AggregateKind)[keyof typeof AggregateKind];

/** Who caused an event: carried from the request into every event it produces. */
export interface EventMeta {
  readonly projectId: string;
  readonly userId: string;
  /** `req-<uuid>`, as Zun's request_id middleware sets it. */
  readonly requestId: string;
  readonly correlationId: string;
  /** Id of the event that caused this one (null when a request did). */
  readonly causationId: string | null;
  /** ISO-8601 UTC. */
  readonly occurredAt: string;
}

/** A domain event before it is stored: a discriminated union member plus its data. */
export interface DomainEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
}

interface EnvelopeBase extends EventMeta {
  /** Unique event id. */
  readonly id: string;
  readonly schemaVersion: number;
  readonly aggregateKind: AggregateKind;
  readonly aggregateId: string;
}

/** An event with its metadata. Distributes over a union of events, so `type` still narrows `data`. */
export type EventEnvelope<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? EnvelopeBase & { readonly type: E['type']; readonly data: E['data'] }
  : never;

/** An envelope as read back from the stream: it knows its stream sequence. */
export type RecordedEvent<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? EventEnvelope<E> & {
      /** JetStream stream sequence. Per-aggregate ordering follows it. */
      readonly seq: number;
    }
  : never;

export function envelope<E extends DomainEvent>(
  event: E,
  ids: { id: string; aggregateKind: AggregateKind; aggregateId: string; schemaVersion?: number },
  meta: EventMeta,
): EventEnvelope<E> {
  return {
    id: ids.id,
    type: event.type,
    schemaVersion: ids.schemaVersion ?? 1,
    aggregateKind: ids.aggregateKind,
    aggregateId: ids.aggregateId,
    projectId: meta.projectId,
    userId: meta.userId,
    requestId: meta.requestId,
    correlationId: meta.correlationId,
    causationId: meta.causationId,
    occurredAt: meta.occurredAt,
    data: event.data,
  } as EventEnvelope<E>;
}
