/**
 * The registries the gateway lists and finds by name: every `registry`
 * aggregate, folded from the log incrementally (fold-index.ts): a query
 * reads the registry events appended since the last one, so it is exact and
 * current, and costs what is new rather than the whole history.
 *
 * Reads of one registry by uuid do not come here: the gateway loads that
 * aggregate from the event store.
 */
import type { RecordedEvent } from '../../events/index.js';
import type { RegistryEvent } from '../../events/registry.js';
import { evolveRegistry, initialRegistryState, registryExists, type RegistryState } from '../../domain/registry.js';
import { createFoldIndex, type ReadEventsFrom } from './fold-index.js';

export interface RegistryReadModel {
  /** Every registry that exists, in every project (the caller scopes). */
  listRegistries(): Promise<RegistryState[]>;
}

export function createFoldingRegistryReadModel(readEvents: ReadEventsFrom): RegistryReadModel {
  const index = createFoldIndex<RegistryState>({
    readEvents,
    kind: 'registry',
    initial: initialRegistryState,
    evolve: (s, e) => evolveRegistry(s, e as RecordedEvent<RegistryEvent>),
  });
  return {
    async listRegistries() {
      return [...(await index.states()).values()].filter(registryExists);
    },
  };
}
