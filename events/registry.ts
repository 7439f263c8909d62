/**
 * The registry catalogue (`zun.evt.registry.<uuid>`): the private image
 * registries of /v1/registries.
 *
 * The owner (project and user) is in the data, not only in the envelope: the
 * envelope says who caused an event (an admin may update another project's
 * registry), the data says whose registry it is.
 *
 * Passwords never enter the log in clear: the writer stores an opaque,
 * authenticated ciphertext (`passwordCipher`), as Zun stores them encrypted
 * in its database. Responses always show "***".
 */
import type { DomainEvent } from './envelope.js';

export interface RegistryFields {
  readonly name: string | null;
  readonly domain: string;
  readonly username: string | null;
  /** Ciphertext of the password, or null when none was given. */
  readonly passwordCipher: string | null;
}

type E<T extends string, D> = DomainEvent<T, D>;

export type RegistryCreated = E<
  'RegistryCreated',
  RegistryFields & { readonly projectId: string; readonly userId: string }
>;
/** Only the fields the request named. */
export type RegistryUpdated = E<'RegistryUpdated', { readonly changes: Partial<RegistryFields> }>;
export type RegistryDeleted = E<'RegistryDeleted', Record<string, never>>;

export type RegistryEvent = RegistryCreated | RegistryUpdated | RegistryDeleted;
export type RegistryEventType = RegistryEvent['type'];
export const RegistryEventTypes = ['RegistryCreated', 'RegistryUpdated', 'RegistryDeleted'] as const satisfies readonly RegistryEventType[];
