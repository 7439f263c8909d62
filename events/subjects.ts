/**
 * Subject and key naming, in one place.
 *
 * Ids that end up in NATS subjects or KV keys (host names above all) are
 * encoded to tokens that contain only `[A-Za-z0-9_-]` plus `=XX` escapes, so
 * they carry no dots, spaces or wildcards and are valid KV key tokens too.
 * The encoding is reversible and the identity on plain uuids.
 */
import type { AggregateKind } from './envelope.js';

export const STREAM_NAME = 'ZUN_EVENTS';
export const SUBJECT_PREFIX = 'zun.evt';

const SAFE = /^[A-Za-z0-9_-]$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeToken(id: string): string {
  if (id.length === 0) throw new Error('cannot encode an empty id as a subject token');
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) {
      out += ch;
    } else {
      for (const byte of encoder.encode(ch)) out += '=' + byte.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

export function decodeToken(token: string): string {
  if (!/^(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+$/.test(token)) throw new Error(`not an encoded token: ${token}`);
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i]!;
    if (c === '=') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c.charCodeAt(0));
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** `zun.evt.<kind>.<token(id)>`: one subject per aggregate instance. */
export function aggregateSubject(kind: AggregateKind, id: string): string {
  return `${SUBJECT_PREFIX}.${kind}.${encodeToken(id)}`;
}

/** Wildcard over every instance of a kind, e.g. `zun.evt.container.*`. */
export function kindSubject(kind: AggregateKind): string {
  return `${SUBJECT_PREFIX}.${kind}.*`;
}

export const ALL_EVENTS_SUBJECT = `${SUBJECT_PREFIX}.>`;

export function parseAggregateSubject(subject: string): { kind: string; id: string } {
  const parts = subject.split('.');
  if (parts.length !== 4 || `${parts[0]}.${parts[1]}` !== SUBJECT_PREFIX) {
    throw new Error(`not an aggregate subject: ${subject}`);
  }
  return { kind: parts[2]!, id: decodeToken(parts[3]!) };
}
