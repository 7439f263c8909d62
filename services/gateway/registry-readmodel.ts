/**
 * The registries the gateway lists and finds by name.
 *
 * For now a fold on read: every query reads the `registry` events of the log
 * (subject filter `zun.evt.registry.*`) and folds them. Exact and always
 * current, and cheap while registries are few (they are: a handful per
 * project, changed rarely). When they are not, a projector-fed KV bucket
 * like `zun_containers` replaces this behind the same port.
 *
 * Reads of one registry by uuid do not come here: the gateway loads that
 * aggregate from the event store.
 */
import { kindSubject, type RecordedEvent } from '../../events/index.js';
import type { RegistryEvent } from '../../events/registry.js';
import { evolveRegistry, initialRegistryState, registryExists, type RegistryState } from '../../domain/registry.js';

export interface RegistryReadModel {
  /** Every registry that exists, in every project (the caller scopes). */
  listRegistries(): Promise<RegistryState[]>;
}

/** Reads events in stream order: the memory store's readAll, or JetStream's readAll bound to a connection. */
export type ReadEvents = (opts: { filter: string }) => AsyncIterable<RecordedEvent>;

export function createFoldingRegistryReadModel(readEvents: ReadEvents): RegistryReadModel {
  return {
    async listRegistries() {
      const states = new Map<string, RegistryState>();
      for await (const e of readEvents({ filter: kindSubject('registry') })) {
        const prev = states.get(e.aggregateId) ?? initialRegistryState(e.aggregateId);
        states.set(e.aggregateId, evolveRegistry(prev, e as RecordedEvent<RegistryEvent>));
      }
      return [...states.values()].filter(registryExists);
    },
  };
}
