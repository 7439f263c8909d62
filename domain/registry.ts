/**
 * The registry aggregate: state, fold and decider. Pure.
 *
 * A registry exists from RegistryCreated until RegistryDeleted; commands on
 * a registry that does not exist are rejected (not-found), and so is a
 * second create of the same uuid (conflict). An update that changes nothing
 * decides no events.
 */
import type { RecordedEvent } from '../events/index.js';
import type { RegistryEvent, RegistryFields } from '../events/registry.js';

export interface RegistryState {
  readonly uuid: string;
  readonly seq: number;
  /** null until created. */
  readonly status: 'active' | 'deleted' | null;
  readonly projectId: string | null;
  readonly userId: string | null;
  readonly name: string | null;
  readonly domain: string | null;
  readonly username: string | null;
  readonly passwordCipher: string | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

export const initialRegistryState = (uuid: string): RegistryState => ({
  uuid,
  seq: 0,
  status: null,
  projectId: null,
  userId: null,
  name: null,
  domain: null,
  username: null,
  passwordCipher: null,
  createdAt: null,
  updatedAt: null,
});

export const registryExists = (s: RegistryState): boolean => s.status === 'active';

export function evolveRegistry(s: RegistryState, e: RecordedEvent<RegistryEvent>): RegistryState {
  switch (e.type) {
    case 'RegistryCreated':
      return {
        ...s,
        seq: e.seq,
        status: 'active',
        projectId: e.data.projectId,
        userId: e.data.userId,
        name: e.data.name,
        domain: e.data.domain,
        username: e.data.username,
        passwordCipher: e.data.passwordCipher,
        createdAt: e.occurredAt,
        updatedAt: null,
      };
    case 'RegistryUpdated':
      return { ...s, seq: e.seq, ...e.data.changes, updatedAt: e.occurredAt };
    case 'RegistryDeleted':
      return { ...s, seq: e.seq, status: 'deleted', updatedAt: e.occurredAt };
    default:
      return { ...s, seq: (e as RecordedEvent).seq };
  }
}

export type RegistryCommand =
  | { readonly type: 'CreateRegistry'; readonly fields: RegistryFields; readonly projectId: string; readonly userId: string }
  | {
      readonly type: 'UpdateRegistry';
      /** Password changes come as ciphertext; a new ciphertext always counts as a change. */
      readonly changes: Partial<RegistryFields>;
    }
  | { readonly type: 'DeleteRegistry' };

export type RegistryRejection = { readonly code: 'not-found' } | { readonly code: 'conflict'; readonly message: string };

export type RegistryDecision = { readonly events: readonly RegistryEvent[] } | { readonly rejected: RegistryRejection };

export function decideRegistry(c: RegistryCommand, s: RegistryState): RegistryDecision {
  switch (c.type) {
    case 'CreateRegistry':
      if (s.status !== null) return { rejected: { code: 'conflict', message: `A registry with UUID ${s.uuid} already exists.` } };
      return { events: [{ type: 'RegistryCreated', data: { ...c.fields, projectId: c.projectId, userId: c.userId } }] };
    case 'UpdateRegistry': {
      if (!registryExists(s)) return { rejected: { code: 'not-found' } };
      const changes: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(c.changes) as [keyof RegistryFields, string | null | undefined][]) {
        if (v !== undefined && s[k] !== v) changes[k] = v;
      }
      if (Object.keys(changes).length === 0) return { events: [] };
      return { events: [{ type: 'RegistryUpdated', data: { changes: changes as Partial<RegistryFields> } }] };
    }
    case 'DeleteRegistry':
      if (!registryExists(s)) return { rejected: { code: 'not-found' } };
      return { events: [{ type: 'RegistryDeleted', data: {} }] };
  }
}
